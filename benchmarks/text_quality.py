"""Translation quality on real text: the ``seqattn`` command against the same models in torch, on
one fixed split of a corpus.

    python -m benchmarks.text_quality data/eng-fra-5k.tsv                      # the defaults against torch
    python -m benchmarks.text_quality data/eng-fra-5k.tsv --only torch-attention seqattn-attention
    python -m benchmarks.text_quality data/eng-fra-5k.tsv --run my-try="--reverse --batch-size 32"
    python -m benchmarks.text_quality data/eng-fra-5k.tsv --seeds 0 1 2       # each run with three seeds

The split is written once, to ``runs/text-quality/<corpus>/{train,test}.tsv``: a seeded tenth of
the corpus's distinct source sentences, with every pair of theirs, is the test split, so that no
test source (and no test pair) is ever seen in training, nor by a vocabulary or sentencepiece
model. Both sides train on exactly the pairs of train.tsv and are scored on every pair of
test.tsv with sacrebleu's chrF and BLEU of the detokenised greedy output against the one
reference of the pair, by the same function (``seqattn.metrics.text_scores``).

- seqattn runs go through the command, so that its defaults are what is measured:
  ``seqattn train --data train.tsv --test test.tsv --tokens subword ARGS --epochs E`` (``--tokens
  subword`` unless ARGS name their tokens: the "-words" and "-chars" runs), then
  ``seqattn eval`` of the checkpoint on test.tsv (chrF, BLEU and the attention's alignment figures).
- torch runs use seqattn's own codec (``Codec.fit`` on train.tsv with the run's number of
  sentencepiece pieces, so the tokenisation is identical), seqattn's length-bucketed batch plan
  and rate schedule, and greedy decoding in batches; alignment figures from the same
  ``seqattn.metrics.alignment_rows``. The chapter-8 model is embedding, LSTM encoder (over packed
  sequences), LSTM decoder started from the encoder's final h, dot attention with padded keys
  masked, and [context; h] into a linear layer, with torch's default initialisation. The
  Transformer is ``nn.Transformer`` (pre-LN, ReLU) with embeddings times sqrt(E), sinusoidal
  positions, dropout and Xavier-uniform weights, as in torch's own translation tutorial.

Seconds per epoch are the training loop's (not the scoring after it), at ``--threads`` BLAS and
torch threads. Results: benchmarks/results/text-quality-<corpus>.json (every run and seed, with
histories) and a Markdown table beside it. Runs already in the JSON are kept; ``--only`` reruns
the named ones.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")

# The torch references. "torch-attention" is the chapter-8 recipe measured at the start of issue
# 25 (embedding 128, hidden 256, dot score, reversed source, Adam 1e-3 constant, clip 5, batch 64,
# 2,000 pieces a side); "torch-transformer" is seqattn's default size trained the way seqattn
# trained it before text pairs had a recipe of their own (warm-up 200, cosine to a tenth, clip 1),
# at batch 64. The "-b32" runs are trained as seqattn's text recipe now trains its models.
_ATT = dict(model="attention", wordvec=128, hidden=256, batch_size=64, pieces=2000, reverse=True, lr=1e-3,
            schedule="constant", warmup=0, max_grad=5.0, feed=False)
_TF = dict(model="transformer", hidden=128, heads=4, layers=2, ffn=512, dropout=0.1, batch_size=64, pieces=2000,
           reverse=False, lr=1e-3, schedule="cosine", warmup=200, max_grad=1.0)
TORCH = {
    "torch-attention": _ATT,
    "torch-attention-forward": dict(_ATT, reverse=False),
    "torch-attention-feed": dict(_ATT, feed=True),
    "torch-attention-forward-feed": dict(_ATT, reverse=False, feed=True),
    "torch-attention-c2": dict(_ATT, lr=2e-3),
    "torch-attention-b32-c2": dict(_ATT, lr=2e-3, batch_size=32),
    "torch-transformer": _TF,
    "torch-transformer-lr2": dict(_TF, lr=2e-3),
    "torch-transformer-b32-lr2": dict(_TF, lr=2e-3, batch_size=32),
}
# seqattn runs: the arguments after `seqattn train --data train.tsv --test test.tsv --tokens subword`
# ({test} stands for the test file). "seqattn-attention" and "seqattn-transformer" are the
# defaults; every other run names each option that the text recipe sets, so that it measures the
# same thing whatever the defaults are.
_TR = ["--model", "attention", "--wordvec", "128", "--hidden", "256", "--batch-size", "64", "--vocab-size", "2000",
       "--lr", "0.001", "--schedule", "constant"]  # the torch reference's recipe
_LSTM = ["--model", "attention", "--wordvec", "128", "--hidden", "256", "--reverse", "--schedule", "constant"]
_T64 = ["--model", "transformer", "--batch-size", "64"]
SEQATTN = {
    "seqattn-attention": ["--model", "attention"],
    "seqattn-transformer": ["--model", "transformer"],
    # the defaults before text pairs had a recipe of their own (the book's file recipe)
    "seqattn-attention-old-defaults": ["--model", "attention", "--wordvec", "16", "--batch-size", "128", "--lr", "0.001",
                                       "--schedule", "cosine", "--no-reverse"],
    "seqattn-transformer-old-defaults": ["--model", "transformer", "--batch-size", "128", "--lr", "0.001"],
    # the text recipe on the tokens it may read: words and punctuation (the default since 0.4.0, so
    # these are the command with no flag but --model), and characters (the default before)
    "seqattn-attention-words": ["--model", "attention", "--tokens", "word"],
    "seqattn-transformer-words": ["--model", "transformer", "--tokens", "word"],
    "seqattn-attention-chars": ["--model", "attention", "--tokens", "char"],
    "seqattn-transformer-chars": ["--model", "transformer", "--tokens", "char"],
    # the attention model at the torch reference's recipe, and one change each
    "seqattn-attention-torch-recipe": _TR + ["--reverse"],
    "sa-fwd": _TR + ["--no-reverse"],
    "sa-fwd-feed": _TR + ["--no-reverse", "--input-feeding"],
    "sa-rev-feed": _TR + ["--reverse", "--input-feeding"],
    "sa-fwd-bi": _TR + ["--no-reverse", "--bidirectional"],
    "sa-rev-bi": _TR + ["--reverse", "--bidirectional"],
    "sa-fwd-general": _TR + ["--no-reverse", "--score", "general"],
    "sa-fwd-concat": _TR + ["--no-reverse", "--score", "concat"],
    "sa-rev-cosine": _TR + ["--reverse", "--schedule", "cosine"],
    "sa-rev-valid": _TR + ["--reverse", "--valid", "{test}"],  # trains on all of train.tsv
    "sa-rev-drop2": _TR + ["--reverse", "--dropout", "0.2"],
    "sa-rev-ls": _TR + ["--reverse", "--label-smoothing", "0.1"],
    "sa-rev-b32": _TR + ["--reverse", "--batch-size", "32"],
    "sa-rev-v500": _TR + ["--reverse", "--vocab-size", "500"],
    "sa-rev-v1000": _TR + ["--reverse", "--vocab-size", "1000"],
    "sa-rev-v8000": _TR + ["--reverse", "--vocab-size", "8000"],
    "sa-rev-c2": _TR + ["--reverse", "--lr", "0.002"],
    "sa-rev-cos2": _TR + ["--reverse", "--lr", "0.002", "--schedule", "cosine"],
    "sa-rev-drop3-cos": _TR + ["--reverse", "--dropout", "0.3", "--schedule", "cosine", "--vocab-size", "8000"],
    # rates and batches at the default pieces
    "cand-lstm": _LSTM + ["--batch-size", "64", "--lr", "0.002"],
    "lstm-c3": _LSTM + ["--batch-size", "64", "--lr", "0.003"],
    "lstm-b32-c2": _LSTM + ["--batch-size", "32", "--lr", "0.002"],  # the text recipe
    "lstm-b32-c2-forward": ["--model", "attention", "--wordvec", "128", "--hidden", "256", "--schedule", "constant",
                            "--batch-size", "32", "--lr", "0.002", "--no-reverse"],  # the text recipe, not reversed
    # the Transformer
    "tf-b64": _T64 + ["--lr", "0.001", "--vocab-size", "2000"],
    "tf-b64-valid": _T64 + ["--lr", "0.001", "--valid", "{test}"],
    "tf-b32": ["--model", "transformer", "--batch-size", "32", "--lr", "0.001"],
    "tf-b64-c": _T64 + ["--lr", "0.001", "--vocab-size", "2000", "--schedule", "constant"],
    "tf-b64-lr2": _T64 + ["--lr", "0.002", "--vocab-size", "2000"],
    "cand-tf": _T64 + ["--lr", "0.002"],
    "tf-b64-c2": _T64 + ["--lr", "0.002", "--schedule", "constant"],
    "tf-b32-lr2": ["--model", "transformer", "--batch-size", "32", "--lr", "0.002"],  # the Transformer's text recipe
}


# What a run without --only measures: the defaults against torch (the README's table).
HEADLINE = ["torch-attention", "torch-attention-b32-c2", "torch-transformer", "torch-transformer-b32-lr2",
            "seqattn-attention", "seqattn-transformer", "seqattn-attention-old-defaults", "seqattn-transformer-old-defaults"]


def corpus_name(path):
    return os.path.splitext(os.path.basename(path))[0]


# ------------------------------------------------------------------------------------ split
def write_split(corpus, work, seed=2025, test_ratio=0.1):
    """train.tsv and test.tsv in ``work`` (written once; later calls check them): a seeded
    ``test_ratio`` of the distinct sources, with all their pairs, is the test split."""
    import numpy as np

    from seqattn.data import read_lines

    lines = read_lines(corpus)
    sources = sorted({ln.split("\t")[0].strip() for ln in lines})
    order = np.random.default_rng(seed).permutation(len(sources))
    test_sources = {sources[i] for i in order[: int(round(len(sources) * test_ratio))]}
    train = [ln for ln in lines if ln.split("\t")[0].strip() not in test_sources]
    test = [ln for ln in lines if ln.split("\t")[0].strip() in test_sources]
    os.makedirs(work, exist_ok=True)
    paths = {}
    for name, part in (("train", train), ("test", test)):
        path = paths[name] = os.path.join(work, f"{name}.tsv")
        text = "\n".join(part) + "\n"
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                if f.read() != text:
                    raise SystemExit(f"{path} differs from the split of {corpus} with seed {seed}; remove {work} to rewrite it")
        else:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
    info = {"seed": seed, "test_ratio": test_ratio, "by": "distinct source sentence", "train_pairs": len(train),
            "test_pairs": len(test), "test_sources": len(test_sources), "sources": len(sources)}
    return paths, info


# --------------------------------------------------------------------------------- seqattn
def run_seqattn(name, args, paths, work, epochs, seed):
    save = os.path.join(work, f"{name}-seed{seed}.npz")
    args = [a.replace("{test}", paths["test"]) for a in args]
    tokens = [] if "--tokens" in args else ["--tokens", "subword"]
    cmd = ["seqattn", "train", "--data", paths["train"], "--test", paths["test"], *tokens, *args,
           "--epochs", str(epochs), "--seed", str(seed), "--quiet", "--json", "--force", "--save", save]
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", *cmd], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stderr}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    ev = subprocess.run([sys.executable, "-m", "seqattn", "eval", "--model", save, "--data", paths["test"], "--json"],
                        capture_output=True, text=True, check=True)
    scores = json.loads(ev.stdout.strip().splitlines()[-1])
    log = [ln for ln in out.stderr.splitlines() if " on " in ln and "training" in ln]
    h = result["history"]
    shown = [os.path.basename(c) if c in paths.values() else c for c in cmd[: cmd.index("--seed")]]  # the seed is recorded beside it
    return {"command": " ".join(shlex.quote(c) for c in shown), "chrf": scores["chrf"], "bleu": scores["bleu"],
            "seconds_per_epoch": sum(e["seconds"] for e in h) / len(h), "wall_seconds": time.perf_counter() - start,
            "alignment": scores.get("alignment"), "history": h, "train_log": log[:1]}


# ----------------------------------------------------------------------------------- torch
def torch_models(torch):
    nn = torch.nn

    class Attention(nn.Module):
        """The chapter-8 model; ``feed``: Luong's input feeding (the previous step's context goes
        into the decoder LSTM beside the next embedding), run one step at a time."""

        def __init__(self, Vs, Vt, D, H, pad, feed=False):
            super().__init__()
            self.pad, self.feed, self.H = pad, feed, H
            self.enc_emb, self.dec_emb = nn.Embedding(Vs, D), nn.Embedding(Vt, D)
            self.enc = nn.LSTM(D, H, batch_first=True)
            self.dec = nn.LSTM(D + (H if feed else 0), H, batch_first=True)
            self.out = nn.Linear(2 * H, Vt)

        def encode(self, xs):
            keys = xs != self.pad
            packed = nn.utils.rnn.pack_padded_sequence(self.enc_emb(xs), keys.sum(1).cpu(), batch_first=True, enforce_sorted=False)
            out, (h, _) = self.enc(packed)
            hs, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=xs.shape[1])
            state = (h, torch.zeros_like(h))
            ctx = hs.new_zeros(xs.shape[0], 1, self.H)
            return hs, keys, state, ctx

        def steps(self, enc, tin):
            """Decoder over ``tin`` (N, T) from ``enc`` -> scores (N, T, Vt), weights (N, T, Ts), new enc."""
            hs, keys, state, ctx = enc
            emb = self.dec_emb(tin)
            if not self.feed:
                dec, state = self.dec(emb, state)
                a = torch.softmax((dec @ hs.transpose(1, 2)).masked_fill(~keys[:, None, :], float("-inf")), dim=-1)
                c = a @ hs
            else:
                decs, cs, As = [], [], []
                for t in range(tin.shape[1]):
                    d, state = self.dec(torch.cat((emb[:, t : t + 1], ctx), dim=2), state)
                    a_t = torch.softmax((d @ hs.transpose(1, 2)).masked_fill(~keys[:, None, :], float("-inf")), dim=-1)
                    ctx = a_t @ hs
                    decs.append(d), cs.append(ctx), As.append(a_t)
                dec, c, a = torch.cat(decs, 1), torch.cat(cs, 1), torch.cat(As, 1)
            return self.out(torch.cat((c, dec), dim=2)), a, (hs, keys, state, ctx)

        def forward(self, xs, tin):
            return self.steps(self.encode(xs), tin)[:2]

        def generate(self, xs, start, n, stop, fill):
            enc = self.encode(xs)
            ids = torch.full((xs.shape[0], 1), start, dtype=torch.long)
            out, done = [], torch.zeros(xs.shape[0], dtype=torch.bool)
            for _ in range(n):
                scores, _, enc = self.steps(enc, ids)
                ids = torch.where(done[:, None], fill, scores[:, -1:].argmax(-1))
                done |= ids[:, 0] == stop
                out.append(ids)
            return torch.cat(out, 1)

    def causal_mask(T):  # bool, like the padding masks (True: not attended)
        return torch.triu(torch.ones(T, T, dtype=torch.bool), 1)

    class Transformer(nn.Module):
        def __init__(self, Vs, Vt, E, heads, layers, ffn, dropout, pad, max_len=256):
            super().__init__()
            self.pad, self.scale = pad, E**0.5
            self.src, self.tgt, self.out = nn.Embedding(Vs, E), nn.Embedding(Vt, E), nn.Linear(E, Vt)
            self.tf = nn.Transformer(E, heads, layers, layers, ffn, dropout=dropout, batch_first=True, norm_first=True)
            self.drop = nn.Dropout(dropout)
            pos = torch.arange(max_len)[:, None] * torch.exp(-torch.arange(0, E, 2) * (9.210340371976184 / E))[None]
            pe = torch.zeros(max_len, E)
            pe[:, 0::2], pe[:, 1::2] = torch.sin(pos), torch.cos(pos)
            self.register_buffer("pe", pe)
            for p in self.parameters():
                if p.dim() > 1:
                    nn.init.xavier_uniform_(p)

        def embed(self, emb, ids):
            return self.drop(emb(ids) * self.scale + self.pe[: ids.shape[1]])

        def forward(self, xs, tin):
            causal = causal_mask(tin.shape[1])
            y = self.tf(self.embed(self.src, xs), self.embed(self.tgt, tin), tgt_mask=causal, tgt_is_causal=True,
                        src_key_padding_mask=xs == self.pad, memory_key_padding_mask=xs == self.pad,
                        tgt_key_padding_mask=tin == self.pad)
            return self.out(y), None

        def generate(self, xs, start, n, stop, fill):
            memory = self.tf.encoder(self.embed(self.src, xs), src_key_padding_mask=xs == self.pad)
            ys = torch.full((xs.shape[0], 1), start, dtype=torch.long)
            done = torch.zeros(xs.shape[0], dtype=torch.bool)
            for _ in range(n):
                causal = causal_mask(ys.shape[1])
                y = self.tf.decoder(self.embed(self.tgt, ys), memory, tgt_mask=causal, tgt_is_causal=True,
                                    memory_key_padding_mask=xs == self.pad)
                ids = torch.where(done[:, None], fill, self.out(y[:, -1:]).argmax(-1))
                done |= ids[:, 0] == stop
                ys = torch.cat((ys, ids), 1)
            return ys[:, 1:]

    return Attention, Transformer


def run_torch(name, spec, paths, epochs, seed):
    import warnings

    import numpy as np
    import torch

    from seqattn.data import Codec, load_dataset, read_lines
    from seqattn.metrics import alignment_rows, alignment_summary, output_lengths, text_scores
    from seqattn.optim import Schedule
    from seqattn.trainer import batch_plan

    warnings.filterwarnings("ignore", message=".*enable_nested_tensor.*")
    torch.manual_seed(seed)
    data = load_dataset(path=paths["train"], test_ratio=0.0, reverse=spec["reverse"], tokens="subword",
                        vocab_size=spec["pieces"], test=paths["test"])
    codec, train, test = data.codec, data.train, data.test
    assert isinstance(codec, Codec) and len(train) == len(read_lines(paths["train"]))
    pad = codec.pad_id
    Attention, Transformer = torch_models(torch)
    Vs, Vt = len(codec.vocab), len(codec.target_vocab)
    if spec["model"] == "attention":
        model = Attention(Vs, Vt, spec["wordvec"], spec["hidden"], pad, feed=spec.get("feed", False))
    else:
        model = Transformer(Vs, Vt, spec["hidden"], spec["heads"], spec["layers"], spec["ffn"], spec["dropout"], pad)
    opt = torch.optim.Adam(model.parameters(), lr=spec["lr"])
    B = spec["batch_size"]
    n_batches = -(-len(train) // B)
    schedule = Schedule(spec["schedule"], spec["warmup"], total=epochs * n_batches, floor=0.1)
    xs_all, ts_all = torch.as_tensor(train.x), torch.as_tensor(train.t)
    history, step = [], 0
    for epoch in range(1, epochs + 1):
        model.train()
        plan = batch_plan(train.x, train.t, B, np.random.default_rng([seed, epoch]), pad)
        total, start = 0.0, time.perf_counter()
        for idx, sw, tw in plan:
            idx = torch.as_tensor(idx)
            xs, ts = xs_all[idx, :sw], ts_all[idx, :tw]
            scores, _ = model(xs, ts[:, :-1])
            loss = torch.nn.functional.cross_entropy(scores.reshape(-1, Vt), ts[:, 1:].reshape(-1), ignore_index=pad)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), spec["max_grad"])
            step += 1
            for g in opt.param_groups:
                g["lr"] = spec["lr"] * schedule(step)
            opt.step()
            total += float(loss)
        history.append({"epoch": epoch, "loss": total / len(plan), "seconds": time.perf_counter() - start})
        print(f"  {name} epoch {epoch}: loss {total / len(plan):.4f}, {history[-1]['seconds']:.1f} s", file=sys.stderr, flush=True)
    model.eval()
    pred = np.zeros((len(test), codec.sample_size), dtype=np.int64)
    lengths = (test.x != pad).sum(1)
    order = np.argsort(lengths, kind="stable")
    rows_list = []
    with torch.no_grad():
        for i in range(0, len(test), 256):
            rows = order[i : i + 256]
            xs = torch.as_tensor(test.x[rows, : int(lengths[rows].max())])
            pred[rows] = model.generate(xs, codec.start_id, codec.sample_size, codec.stop_id, pad).numpy()
            if spec["model"] == "attention":
                lo = output_lengths(pred[rows], codec.stop_id)
                ys = torch.as_tensor(pred[rows, : max(1, int(lo.max()))])
                tin = torch.cat((torch.full((len(rows), 1), codec.start_id, dtype=torch.long), ys), 1)[:, :-1]
                _, a = model(xs, tin)
                rows_list.append(alignment_rows(a.numpy(), lengths[rows], lo, codec.reverse))
    scores = text_scores(codec.decode(pred), test.targets, lowercase=codec.target_tokens.lower)
    result = {"recipe": spec, "chrf": scores["chrf"], "bleu": scores["bleu"],
              "seconds_per_epoch": sum(e["seconds"] for e in history) / len(history), "history": history,
              "vocabulary": [Vs, Vt]}
    if rows_list:
        S = max(r["final"].shape[1] for r in rows_list)
        final = np.concatenate([np.pad(r["final"], ((0, 0), (0, S - r["final"].shape[1])), constant_values=np.nan) for r in rows_list])
        result["alignment"] = alignment_summary(dict({k: np.concatenate([r[k] for r in rows_list]) for k in rows_list[0] if k != "final"},
                                                     final=final))
    return result


# ---------------------------------------------------------------------------------- results
def summarise(seeds):
    """Runs of several seeds -> their means (and each seed's chrF)."""
    runs = list(seeds.values())
    mean = lambda key: sum(r[key] for r in runs) / len(runs)  # noqa: E731
    out = {"chrf": mean("chrf"), "bleu": mean("bleu"), "seconds_per_epoch": mean("seconds_per_epoch"),
           "chrf_by_seed": {s: r["chrf"] for s, r in seeds.items()}}
    al = [r["alignment"] for r in runs if r.get("alignment")]
    if al:
        out["alignment"] = {k: sum(a[k] for a in al) / len(al) for k in ("final_early", "final_late", "monotone", "kendall_tau", "coverage")
                            if all(a.get(k) is not None for a in al)}
    return out


def table(results):
    lines = ["| run | chrF (per seed) | BLEU | s/epoch | weight on last-read source token, steps 1-3 / 4+ | monotone | Kendall tau | coverage |",
             "|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        s = r["summary"]
        a = s.get("alignment") or {}
        f = lambda k: f"{a[k]:.2f}" if k in a else "-"  # noqa: E731
        seeds = ", ".join(f"{v:.1f}" for v in s["chrf_by_seed"].values())
        lines.append(f"| {name} | **{s['chrf']:.1f}** ({seeds}) | {s['bleu']:.1f} | {s['seconds_per_epoch']:.1f} | "
                     f"{f('final_early')} / {f('final_late')} | {f('monotone')} | {f('kendall_tau')} | {f('coverage')} |")
    lines.append("")
    lines.append("Commands and recipes:")
    lines.append("")
    for name, r in results.items():
        lines.append(f"- {name}: " + (f"`{r['command']}`" if "command" in r else f"torch, {json.dumps(r['recipe'])}"))
    return "\n".join(lines)


def picture(work, sentence, runs, path, seed=0):
    """One attention map per seqattn run (its seed's checkpoint) of ``sentence`` -> PNG at ``path``."""
    from seqattn.backend import to_device, to_numpy
    from seqattn.models import attention_weights_of, load
    from seqattn.plots import plot_attention

    maps, srcs, outs, titles = [], [], [], []
    for name in runs:
        ck = load(os.path.join(work, f"{name}-seed{seed}.npz"))
        model, codec = ck.model, ck.codec
        x = to_device(codec.encode_sources([sentence]))
        ys = model.generate(x, codec.start_id, codec.sample_size, stop_id=codec.stop_id)
        w = to_numpy(attention_weights_of(model, x, ys, codec.start_id))[0]
        out = codec.decode_chars(to_numpy(ys)[0])
        maps.append(codec.reading_order(w[: len(out)], sentence))
        srcs.append(codec.source_chars(sentence))
        outs.append(out)
        titles.append(f"{name}: {codec.decode(to_numpy(ys))[0]}")
    plot_attention(maps, srcs, outs, path, titles=titles)


def time_feeding(paths, rounds=21):
    """A training step and a greedy decoding of one batch of the corpus, for the attention model at
    the text recipe's sizes with and without input feeding, alternately -> medians in seconds."""
    import statistics

    import numpy as np

    from seqattn.data import load_dataset
    from seqattn.models import AttentionSeq2seq
    from seqattn.optim import Adam, clip_grads
    from seqattn.options import RECIPES

    r = RECIPES["text"]
    batch_size = r["batch_size"]

    data = load_dataset(path=paths["train"], test_ratio=0.0, reverse=True, tokens="subword")
    c, d = data.codec, data.train
    rows = np.argsort((d.t != c.pad_id).sum(1))[len(d.t) // 2 :][:batch_size]  # a batch of middle to long pairs
    ls, lt = int((d.x[rows] != c.pad_id).sum(1).max()), int((d.t[rows] != c.pad_id).sum(1).max())
    xs, ts = d.x[rows, :ls], d.t[rows, :lt]
    models = {f: AttentionSeq2seq(len(c.vocab), r["wordvec"], r["hidden"], input_feeding=f, pad_id=c.pad_id, seed=0,
                                  target_vocab_size=len(c.target_vocab)) for f in (False, True)}
    opts = {f: Adam(r["lr"]) for f in models}

    def step(f):
        m = models[f]
        m.forward(xs, ts)
        m.backward()
        clip_grads(m.grads, r["max_grad"])
        opts[f].update(m.params, m.grads)

    def generate(f):
        models[f].generate(xs, c.start_id, c.sample_size, stop_id=c.stop_id)

    out = {"shape": {"N": len(rows), "Ts": ls, "Tt": lt - 1, "V": len(c.target_vocab)}}
    for name, fn in (("step", step), ("generate", generate)):
        for f in models:
            fn(f)
        times = {f: [] for f in models}
        for _ in range(rounds):
            for f in models:
                start = time.perf_counter()
                fn(f)
                times[f].append(time.perf_counter() - start)
        out[name] = {"plain": statistics.median(times[False]), "input_feeding": statistics.median(times[True])}
    return out


def main():
    p = argparse.ArgumentParser(prog="python -m benchmarks.text_quality", description=__doc__.split("\n\n")[0])
    p.add_argument("corpus", help="tab-separated pairs (source, target, anything else)")
    p.add_argument("--only", nargs="*", help=f"runs to (re)do (default: {', '.join(HEADLINE)}): any of {', '.join([*TORCH, *SEQATTN])}, "
                   "the names of --run and --torch, or 'all'")
    p.add_argument("--run", nargs="*", default=[], metavar="NAME=ARGS", help="a seqattn run of your own: its train arguments")
    p.add_argument("--torch", nargs="*", default=[], metavar="NAME=BASE,KEY=VALUE,...",
                   help="a torch run of your own: one of the torch runs above with some of its recipe changed")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seeds", type=int, nargs="*", default=[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--work", default=os.path.join("runs", "text-quality"), help="where the split and checkpoints go")
    p.add_argument("--results", default=os.path.join(HERE, "results"), help="where the JSON and the table go")
    p.add_argument("--time-feeding", action="store_true",
                   help="instead of training: time a training step and a decoding with and without input feeding")
    p.add_argument("--picture", nargs="+", metavar=("PNG", "SENTENCE RUN"),
                   help="instead of training: draw the attention of the runs named (their seed-0 checkpoints) on a sentence")
    args = p.parse_args()
    os.environ.update({v: str(args.threads) for v in THREAD_VARS})
    import torch

    torch.set_num_threads(args.threads)
    from .__main__ import machine

    custom = {}
    for item in args.run:
        name, _, rest = item.partition("=")
        custom[name] = shlex.split(rest)
    seqattn_runs = {**SEQATTN, **custom}
    torch_runs = dict(TORCH)
    for item in args.torch:
        name, _, rest = item.partition("=")
        base, *changes = rest.split(",")
        spec = dict(TORCH[base])
        for change in changes:
            key, _, value = change.partition("=")
            spec[key] = json.loads(value) if key not in ("model", "schedule") else value
        torch_runs[name] = spec
    names = [*torch_runs, *seqattn_runs] if args.only == ["all"] else args.only or HEADLINE
    unknown = [n for n in names if n not in torch_runs and n not in seqattn_runs]
    if unknown:
        raise SystemExit(f"unknown runs: {', '.join(unknown)}")
    corpus = corpus_name(args.corpus)
    work = os.path.join(args.work, corpus)
    if args.picture:
        png, sentence, *runs = args.picture
        picture(work, sentence, runs, png)
        print(png)
        return
    paths, split = write_split(args.corpus, work)
    out = os.path.join(args.results, f"text-quality-{corpus}.json")
    results, feeding = {}, None
    if os.path.exists(out):
        with open(out) as f:
            kept = json.load(f)
        results, feeding = kept["runs"], kept.get("feeding")

    def save():
        with open(out, "w") as f:
            json.dump({"date": datetime.date.today().isoformat(), "kind": "text-quality", "what": describe(args.corpus, split),
                       "corpus": args.corpus, "split": split, "machine": machine(), "runs": results, "feeding": feeding},
                      f, indent=1)

    if args.time_feeding:
        feeding = dict(time_feeding(paths), threads=args.threads, date=datetime.date.today().isoformat())
        print(feeding_text(feeding))
        names = []  # nothing to train
    for name in names:
        seeds = {}
        for seed in args.seeds:
            print(f"{name}, seed {seed} ...", file=sys.stderr, flush=True)
            if name in torch_runs:
                seeds[str(seed)] = run_torch(name, torch_runs[name], paths, args.epochs, seed)
            else:
                seeds[str(seed)] = run_seqattn(name, seqattn_runs[name], paths, work, args.epochs, seed)
            print(f"  chrF {seeds[str(seed)]['chrf']:.2f}, BLEU {seeds[str(seed)]['bleu']:.2f}, "
                  f"{seeds[str(seed)]['seconds_per_epoch']:.1f} s/epoch", file=sys.stderr, flush=True)
        first = next(iter(seeds.values()))
        entry = {k: first[k] for k in ("command", "recipe") if k in first}
        before = results.get(name, {})
        if all(before.get(k) == v for k, v in entry.items()) and before.get("epochs") == args.epochs:
            seeds = {**before.get("seeds", {}), **seeds}  # the same run with more seeds: keep the earlier ones
        results[name] = dict(entry, epochs=args.epochs, threads=args.threads, seeds=dict(sorted(seeds.items())),
                             summary=summarise(seeds))
        save()  # after every run: a long sweep keeps what it has done
    save()
    if os.path.abspath(args.results) == os.path.join(HERE, "results"):
        from . import index

        index.main()  # the results' README shows the table
    print(table(results))


def feeding_text(t):
    """The input-feeding timing in one sentence."""
    shape = ", ".join(f"{k} {v:,}" for k, v in t["shape"].items())
    return (f"Input feeding at the text recipe's sizes ({shape}), {t['threads']} thread, alternating medians: a training step "
            f"{t['step']['plain'] * 1e3:.1f} ms without, {t['step']['input_feeding'] * 1e3:.1f} ms with "
            f"({t['step']['input_feeding'] / t['step']['plain']:.2f}x); greedy decoding of the batch "
            f"{t['generate']['plain'] * 1e3:.1f} ms and {t['generate']['input_feeding'] * 1e3:.1f} ms "
            f"({t['generate']['input_feeding'] / t['generate']['plain']:.2f}x).")


def describe(corpus, split):
    """What a results file holds, in one paragraph."""
    inside = os.path.abspath(corpus).startswith(ROOT + os.sep)
    corpus = os.path.relpath(os.path.abspath(corpus), ROOT) if inside else os.path.basename(corpus)
    return (f"`python -m benchmarks.text_quality {corpus}`: translation quality, {split['train_pairs']:,} "
            f"training pairs and {split['test_pairs']:,} test pairs ({split['test_sources']:,} source sentences never seen "
            "in training), greedy decoding, sacrebleu chrF and BLEU of each run (the mean over its seeds, each seed's "
            "chrF in brackets), seconds per training epoch, and the attention's alignment on the test pairs.")


if __name__ == "__main__":
    main()
