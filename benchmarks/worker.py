"""One benchmark process: its thread count is fixed by the environment before numpy is imported
(``python -m benchmarks`` starts one per thread count). Prints one JSON object."""

from __future__ import annotations

import argparse
import os
import json
import sys

import numpy as np

from seqattn import backend
from seqattn.layers import TimeAttention, TimeLSTM
from seqattn.layers import book as book_style

from . import peers
from .index import named_shape, shape_text
from .timing import measure

LSTM_SHAPES = [(128, 29, 16, 256), (512, 64, 256, 512)]  # (N, T, D, H)
ATTN_SHAPES = [(128, 29, 11, 256), (512, 64, 64, 512)]  # (N, Te, Td, H)
# Above this many elements of the concat score's (N, Td, Te, A) tanh tensor, only seqattn (which
# makes it in cache-sized chunks) is timed: torch would hold it and its gradient whole (4 GiB each
# at the large shape), and the per-step version redoes the encoder projection for all 64 steps.
CONCAT_LIMIT = 2**28


def rand(xp, rng, *shape, scale=1.0):
    return xp.asarray((rng.standard_normal(shape) * scale).astype("float32"))


def lstm_case(xp, N, T, D, H):
    """ours, and the same matrix products alone (the GEMM floor)."""
    rng = np.random.default_rng(0)
    Wx, Wh, b = rand(xp, rng, D, 4 * H, scale=D**-0.5), rand(xp, rng, H, 4 * H, scale=H**-0.5), xp.zeros(4 * H, "float32")
    xs, dhs = rand(xp, rng, N, T, D), rand(xp, rng, N, T, H)
    layer = TimeLSTM(Wx, Wh, b)

    def ours():
        layer.forward(xs)
        layer.backward(dhs)

    X = rand(xp, rng, T * N, D)
    A, Hs = xp.empty((T * N, 4 * H), "float32"), rand(xp, rng, T * N, H)
    h, tmp, dh = xp.zeros((N, H), "float32"), xp.empty((N, 4 * H), "float32"), xp.empty((N, H), "float32")
    dWx, dWh, dX = xp.empty_like(Wx), xp.empty_like(Wh), xp.empty((T * N, D), "float32")

    def floor():
        xp.matmul(X, Wx, out=A)
        for _ in range(T):
            xp.matmul(h, Wh, out=tmp)
        for t in range(T):
            xp.matmul(A[t * N : (t + 1) * N], Wh.T, out=dh)
        xp.matmul(X.T, A, out=dWx)
        xp.matmul(Hs.T, A, out=dWh)
        xp.matmul(A, Wx.T, out=dX)

    impls = {"seqattn": ours, "gemm-floor": floor}
    if xp is np:
        book = book_style.TimeLSTM(Wx, Wh, b)

        def book_run():
            book.forward(xs)
            book.backward(dhs)

        impls["book-per-step"] = book_run
    return impls


def attention_case(xp, N, Te, Td, H, score):
    rng = np.random.default_rng(1)
    K, Q, dc = rand(xp, rng, N, Te, H), rand(xp, rng, N, Td, H), rand(xp, rng, N, Td, H)
    kw = {}
    if score == "general":
        kw = {"W": rand(xp, rng, H, H, scale=H**-0.5)}
    elif score == "concat":
        kw = {"W": rand(xp, rng, 2 * H, H, scale=(2 * H) ** -0.5), "v": rand(xp, rng, H, scale=H**-0.5)}
    layer = TimeAttention(score, **kw)

    def ours():
        layer.forward(K, Q)
        layer.backward(dc)

    def per_step():
        """One layer object per decoder step (the book's Attention for the dot score)."""
        steps = []
        for t in range(Td):
            s = book_style.Attention() if (score == "dot" and xp is np) else TimeAttention(score, **kw)
            steps.append((s, s.forward(K, Q[:, t]) if isinstance(s, book_style.Attention) else s.forward(K, Q[:, t : t + 1])))
        for t, (s, _) in enumerate(steps):
            s.backward(dc[:, t] if isinstance(s, book_style.Attention) else dc[:, t : t + 1])

    return {"seqattn": ours, "per-step": per_step}


def date_data(n=50000):
    from seqattn.data import date_lines, load_qa

    (x, t), (xt, tt), vocab = load_qa(date_lines(n, 0), seed=1984, reverse=True)
    return x, t, xt, tt, vocab


def epoch_case(xp, x, t, vocab, batches=None):
    from seqattn.models import AttentionSeq2seq
    from seqattn.optim import Adam, clip_grads

    model = AttentionSeq2seq(len(vocab), 16, 256, seed=0)
    opt = Adam()
    xd, td = backend.to_device(x), backend.to_device(t)
    order = backend.to_device(np.random.default_rng(0).permutation(len(x)))
    n = len(x) // 128 if batches is None else batches

    def run():
        for i in range(n):
            idx = order[i * 128 : (i + 1) * 128]
            model.forward(xd[idx], td[idx])
            model.backward()
            clip_grads(model.grads, 5.0)
            opt.update(model.params, model.grads)

    return model, run


TEXT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "eng-fra-5k.tsv")
TEXT_SIZE = (128, 256)  # (wordvec, hidden) of the README's English-French attention row


def text_case(quick):
    """An epoch of the attention model on the English-French pairs in word tokens, in seqattn's
    length-bucketed batches -> (data, the batch plan, our run)."""
    from seqattn.data import load_dataset
    from seqattn.models import AttentionSeq2seq
    from seqattn.optim import Adam, clip_grads
    from seqattn.trainer import batch_plan

    d = load_dataset(path=TEXT, tokens="word", lower=True)
    c, x, t = d.codec, d.train.x, d.train.t
    if quick:
        x, t = x[:640], t[:640]
    plan = batch_plan(x, t, 128, np.random.default_rng(0), c.pad_id)
    model = AttentionSeq2seq(len(c.vocab), *TEXT_SIZE, target_vocab_size=len(c.target_vocab), pad_id=c.pad_id, seed=0)
    opt = Adam()
    xd, td = backend.to_device(x), backend.to_device(t)
    batches = [(backend.to_device(b), sw, tw) for b, sw, tw in plan]

    def run():
        for idx, sw, tw in batches:
            model.forward(xd[idx, :sw], td[idx, :tw])
            model.backward()
            clip_grads(model.grads, 5.0)
            opt.update(model.params, model.grads)

    tokens = int(sum((t[b, 1:tw] != c.pad_id).sum() for b, _, tw in plan))
    return (x, t, len(c.vocab), len(c.target_vocab)), plan, run, tokens


def transformer_cases(xp, x, t, xt, tt, vocab, quick):
    """A training step of the default TransformerSeq2seq (d_model 128, 4 heads, 2 + 2 blocks, FFN
    512) on one date batch, and decoding of the test dates: incremental against recomputing the
    decoder over the whole prefix at every step."""
    from seqattn.metrics import predict
    from seqattn.models import TransformerSeq2seq
    from seqattn.models.transformer import greedy_by_recomputation
    from seqattn.optim import Adam, clip_grads

    model = TransformerSeq2seq(len(vocab), seed=0, max_len=64)
    opt = Adam()
    xb, tb = backend.to_device(x[:128]), backend.to_device(t[:128])

    def step():
        model.set_train(True)
        model.forward(xb, tb)
        model.backward()
        clip_grads(model.grads, 1.0)
        opt.update(model.params, model.grads)

    n = 512 if quick else len(xt)
    S = tt.shape[1] - 1

    def incremental():
        predict(model, xt[:n], vocab.start_id, S)

    def recomputed():
        for i in range(0, n, 256):
            greedy_by_recomputation(model, backend.to_device(xt[i : i + 256]), vocab.start_id, S)

    def encoder_alone():  # the part both ways of decoding share
        model.set_train(False)
        for i in range(0, n, 256):
            model.encoder.forward(backend.to_device(xt[i : i + 256]))

    return {"step": step, "decode": incremental, "decode-recompute": recomputed, "encode": encoder_alone}, n


def mha_case(xp, N, T, E, heads):
    from seqattn.layers import MultiHeadAttention

    rng = np.random.default_rng(2)
    ws = []
    for _ in range(4):
        ws += [rand(xp, rng, E, E, scale=E**-0.5), xp.zeros(E, "float32")]
    layer = MultiHeadAttention(*ws, num_heads=heads)
    x, dout = rand(xp, rng, N, T, E), rand(xp, rng, N, T, E)

    def run():
        layer.forward(x, x)
        layer.backward(dout)

    return run


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--quick", action="store_true", help="small shapes and few repeats (a smoke test)")
    p.add_argument("--only", nargs="*", default=["lstm", "attention", "epoch", "eval", "transformer", "text"])
    p.add_argument("--gpu", action="store_true", help="also time cupy and torch-CUDA (given to one worker only)")
    p.add_argument("--tf32", action="store_true", help="time only cupy and torch-CUDA, both with TF32 (run with CUPY_TF32=1): "
                                                       "rows cupy-tf32 and torch*-tf32")
    args = p.parse_args()
    torch = peers.torch_or_none()
    if torch is not None:
        torch.set_num_threads(args.threads)
    backends = ["numpy"] + (["cupy"] if args.gpu and backend.gpu_available() else [])
    if args.tf32:
        backends = [b for b in backends if b == "cupy"]
        if torch is not None and torch.cuda.is_available():
            peers.set_tf32(torch, True)
    tf32 = "-tf32" if args.tf32 else ""
    results = []
    repeat = 2 if args.quick else 5

    def record(case, shape, impl, name, stats, **extra):
        name += tf32 if name == "cupy" else ""
        impl += tf32 if name == "torch-cuda" else ""
        row = {"case": case, "shape": named_shape(case, shape), "impl": impl, "backend": name, "threads": args.threads, **stats, **extra}
        results.append(row)
        print(f"  {case:10s} {shape_text(case, shape):32s} {impl:14s} {name:6s} {stats['median'] * 1e3:10.2f} ms", file=sys.stderr, flush=True)

    lstm_shapes = [(32, 8, 16, 64)] if args.quick else LSTM_SHAPES
    attn_shapes = [(32, 8, 5, 64)] if args.quick else ATTN_SHAPES
    for name in backends:
        with backend.use_backend(name) as xp:
            sync = backend.synchronize
            if "lstm" in args.only:
                for shape in lstm_shapes:
                    big = shape[0] * shape[3] > 100_000
                    for impl, fn in lstm_case(xp, *shape).items():
                        record("lstm", shape, impl, name, measure(fn, 3 if big else repeat, 1 if big else 2, sync))
                    if torch is not None and name == "numpy":
                        record("lstm", shape, "torch", "torch-cpu", measure(peers.lstm_fwd_bwd(torch, *shape), 3 if big else repeat, 1 if big else 2))
                    if torch is not None and name == "cupy" and torch.cuda.is_available() and not args.tf32:
                        for on in (False, True):  # strict FP32 like cupy's default, then TF32 as its own row
                            peers.set_tf32(torch, on)
                            record("lstm", shape, "torch-cudnn" + ("-tf32" if on else ""), "torch-cuda",
                                   measure(peers.lstm_fwd_bwd(torch, *shape, device="cuda"), repeat, 2, torch.cuda.synchronize))
                        peers.set_tf32(torch, False)
            if "attention" in args.only:
                for shape in attn_shapes:
                    N, Te, Td, H = shape
                    for score in ("dot", "general", "concat"):
                        huge = score == "concat" and N * Td * Te * H > CONCAT_LIMIT
                        for impl, fn in attention_case(xp, *shape, score).items():
                            if not (huge and impl != "seqattn"):
                                record("attention-" + score, shape, impl, name, measure(fn, 3 if huge else repeat, 1 if huge else 2, sync))
                        if huge:
                            continue
                        if torch is not None and name == "numpy":
                            record("attention-" + score, shape, "torch", "torch-cpu", measure(peers.attention_fwd_bwd(torch, *shape, score), repeat, 2))
                        if torch is not None and name == "cupy" and torch.cuda.is_available():
                            record("attention-" + score, shape, "torch", "torch-cuda",
                                   measure(peers.attention_fwd_bwd(torch, *shape, score, device="cuda"), repeat, 2, torch.cuda.synchronize))
            if "transformer" in args.only:
                shape = (32, 8, 64, 4) if args.quick else (128, 29, 128, 4)
                record("mha", shape, "seqattn", name, measure(mha_case(xp, *shape), repeat, 2, sync))
                if torch is not None and name == "numpy":
                    record("mha", shape, "torch", "torch-cpu", measure(peers.mha_fwd_bwd(torch, *shape), repeat, 2))
                x, t, xt, tt, vocab = date_data(5000 if args.quick else 50000)
                cases, n = transformer_cases(xp, x, t, xt, tt, vocab, args.quick)
                record("transformer-step", [128, 29, 11], "seqattn", name, measure(cases["step"], repeat, 2, sync))
                if torch is not None and name == "numpy":
                    record("transformer-step", [128, 29, 11], "torch", "torch-cpu",
                           measure(peers.torch_transformer_step(torch, x[:128], t[:128], len(vocab)), repeat, 2))
                record("transformer-decode", [n], "seqattn", name, measure(cases["decode"], 1, 1, sync))
                record("transformer-decode", [n], "recompute", name, measure(cases["decode-recompute"], 1, 1, sync))
                record("transformer-encode", [n], "seqattn", name, measure(cases["encode"], 1, 1, sync),
                       note="the encoder alone, which both ways of decoding run once")
            if "text" in args.only:
                (x, t, Vs, Vt), plan, run, tokens = text_case(args.quick)
                shape = [len(x), 128, *TEXT_SIZE]
                record("text-epoch", shape, "seqattn", name, measure(run, 1, 1, sync), tokens=tokens, batches=len(plan))
                if torch is not None and name == "numpy":
                    record("text-epoch", shape, "torch", "torch-cpu", measure(peers.torch_text_epoch(torch, x, t, Vs, Vt, plan, *TEXT_SIZE), 1, 1),
                           tokens=tokens, batches=len(plan))
                if torch is not None and name == "cupy" and torch.cuda.is_available():
                    record("text-epoch", shape, "torch", "torch-cuda",
                           measure(peers.torch_text_epoch(torch, x, t, Vs, Vt, plan, *TEXT_SIZE, device="cuda"), 1, 1, torch.cuda.synchronize),
                           tokens=tokens, batches=len(plan))
            if "epoch" in args.only or "eval" in args.only:
                x, t, xt, tt, vocab = date_data(5000 if args.quick else 50000)
                batches = 5 if args.quick else None
                model, run = epoch_case(xp, x, t, vocab, batches)
                if "epoch" in args.only:
                    record("epoch", [len(x), 128, 256], "seqattn", name, measure(run, 1, 1, sync), batches=batches or len(x) // 128)
                    if torch is not None and name == "numpy":
                        record("epoch", [len(x), 128, 256], "torch", "torch-cpu", measure(peers.torch_epoch(torch, x, t, len(vocab), batches=batches), 1, 1),
                               batches=batches or len(x) // 128)
                    if torch is not None and name == "cupy" and torch.cuda.is_available():
                        record("epoch", [len(x), 128, 256], "torch", "torch-cuda",
                               measure(peers.torch_epoch(torch, x, t, len(vocab), device="cuda", batches=batches), 1, 1, torch.cuda.synchronize))
                if "eval" in args.only:
                    from seqattn.metrics import exact_match

                    n_single = 50 if args.quick else 500
                    start = vocab.start_id
                    record("eval", [len(xt)], "batched", name, measure(lambda: exact_match(model, xt, tt, start), repeat, 1, sync))
                    one = measure(lambda: [model.generate(backend.to_device(xt[i : i + 1]), start, tt.shape[1] - 1) for i in range(n_single)], 1, 1, sync)
                    scale = len(xt) / n_single
                    record("eval", [len(xt)], "one-at-a-time", name, {k: (v * scale if k != "repeat" else v) for k, v in one.items()},
                           note=f"timed on {n_single} examples, scaled to {len(xt)}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
