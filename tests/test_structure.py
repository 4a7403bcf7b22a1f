"""The seams the rest is built on: no import circles, models that describe and register
themselves, options resolved once with errors that name the option, and a training step with a
gradient hook over a batch plan that splits into exact shares."""

import ast
import os

import numpy as np
import pytest

import seqattn
from seqattn import cli, flags
from seqattn.data import load_pairs
from seqattn.errors import OptionError
from seqattn.models import MODELS, AttentionSeq2seq, Seq2seq, register
from seqattn.optim import SGD, Adam
from seqattn.options import resolve
from seqattn.packed import flat
from seqattn.trainer import BatchPlan, Trainer, batch_plan

ROOT = os.path.dirname(seqattn.__file__)


def _modules():
    """Every module of seqattn by dotted name -> its path."""
    found = {}
    for folder, _, files in os.walk(ROOT):
        for f in files:
            if f.endswith(".py"):
                rel = os.path.relpath(os.path.join(folder, f), os.path.dirname(ROOT))[:-3].replace(os.sep, ".")
                found[rel[: -len(".__init__")] if rel.endswith(".__init__") else rel] = os.path.join(folder, f)
    return found


def _imports(name, path, modules):
    """The seqattn modules that ``name`` imports anywhere in its file (lazy imports included)."""
    package = name if path.endswith("__init__.py") else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")
            base = base[: len(base) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else [])) if node.level else node.module
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                out.add(sub if sub in modules else target)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {m for m in out if m in modules and m != name}


def test_no_module_imports_its_way_back_to_itself():
    modules = _modules()
    graph = {m: _imports(m, p, modules) for m, p in modules.items()}
    state, cycles = {}, []

    def visit(m, path):
        state[m] = "open"
        for n in sorted(graph[m]):
            if state.get(n) == "open":
                cycles.append(path[path.index(n):] + [n])
            elif n not in state:
                visit(n, path + [n])
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not cycles, "import circles: " + "; ".join(" -> ".join(c) for c in cycles)
    # the file format knows no model, and the text files know no codec
    assert not any(m.startswith("seqattn.models") for m in graph["seqattn.checkpoint"])
    assert "seqattn.data.codec" not in graph["seqattn.data.text"]


def test_the_command_names_no_model_kind():
    """No comparison with, and no lookup by, a model's kind: what a model does, it says itself."""
    for name in ("cli.py", "runs.py", "flags.py", "options.py"):
        tree = ast.parse(open(os.path.join(ROOT, name), encoding="utf-8").read())
        named = [node for node in ast.walk(tree) if isinstance(node, (ast.Compare, ast.Subscript))
                 for c in ast.walk(node) if isinstance(c, ast.Constant) and c.value in MODELS]
        assert not named, (name, [ast.unparse(n) for n in named])


def test_a_registered_model_is_a_choice_of_the_command_and_builds_from_a_codec():
    @register
    class Tiny(Seq2seq):
        kind = "tiny-test"
        recipe = dict(hidden=12)

    try:
        help_text = cli._parser()._subparsers._group_actions[0].choices["train"].format_help()
        assert "tiny-test" in help_text
        opts, _ = resolve({"model": "tiny-test"})
        assert (opts.hidden, opts.wordvec) == (12, 16)
        (_, _), _, codec = load_pairs(["ab\tba", "abc\tcba", "b\tb"] * 4, seed=0)
        model = opts.model_class.from_codec(codec, opts.sizes(), opts.own, seed=0)
        assert isinstance(model, Tiny) and model.config["hidden_size"] == 12 and model.pad_id == codec.pad_id
    finally:
        del MODELS["tiny-test"]
    with pytest.raises(ValueError, match="already registered"):
        register(type("Again", (Seq2seq,), {"kind": "attention"}))


@pytest.mark.parametrize("given, library, command", [
    ({"hidden": 0}, "hidden_size must be at least 1, got 0", "--hidden must be at least 1, got 0"),
    ({"model": "transformer", "hidden": 30, "num_heads": 4}, "d_model 30 must split evenly into 4 heads",
     "--hidden 30 must split evenly into 4 heads"),
    ({"model": "seq2seq", "dropout": 0.1}, "dropout is an option of model attention and transformer, not of model seq2seq",
     "--dropout is an option of --model attention and transformer, not of --model seq2seq"),
    ({"dropout": 1.5}, "dropout must be at least 0 and below 1, got 1.5", "--dropout must be at least 0 and below 1, got 1.5"),
    ({"lr_floor": 2.0}, "lr_floor is a fraction of lr, from 0 to 1", "--lr-floor is a fraction of --lr, from 0 to 1"),
])
def test_an_option_error_names_the_parameter_in_the_library_and_the_flag_in_the_command(given, library, command):
    with pytest.raises(OptionError) as info:
        resolve(given)
    assert library in str(info.value)
    assert command in info.value.render(flags.FLAGS)


def test_the_library_checks_a_models_options_with_the_same_words():
    with pytest.raises(OptionError, match="dropout must be at least 0 and below 1, got 1.5"):
        AttentionSeq2seq(10, 4, 6, dropout=1.5)


def test_a_resumed_checkpoints_options_are_kept_and_a_different_one_refused():
    meta = {"config": {"model": "attention", "hidden_size": 64, "wordvec_size": 8, "init": "default", "score": "general",
                       "bidirectional": False, "num_layers": 1, "skip": False, "dropout": 0.0},
            "trainer": {"batch_size": 32, "seed": 3, "max_grad": 5.0, "base_lr": 0.01, "label_smoothing": 0.0,
                        "schedule": {"name": "constant", "warmup": 0, "floor": 0.1}},
            "optimizer": {"name": "Adam", "lr": 0.01, "beta1": 0.9, "beta2": 0.999}, "codec": {"reverse": True}}
    opts, taken = resolve({}, resumed=meta)
    assert (opts.hidden, opts.wordvec, opts.own["score"], opts.batch_size, opts.lr, opts.reverse) == (64, 8, "general", 32, 0.01, True)
    assert {"hidden", "score", "lr", "reverse"} <= set(taken)
    with pytest.raises(OptionError, match="hidden 128 differs from the checkpoint's 64"):
        resolve({"hidden": 128}, resumed=meta)


def _pairs(n=37, seed=0):
    rng = np.random.default_rng(seed)
    words = ["".join(rng.choice(list("abcdef"), rng.integers(1, 7))) for _ in range(n)]
    (x, t), _, codec = load_pairs([f"{w}\t{w[::-1]}" for w in words], seed=0, test_ratio=0.0, tokens="char")
    return x, t, codec


def test_the_shares_of_a_plan_are_its_batches_and_every_rank_takes_as_many_steps():
    x, t, codec = _pairs()
    plan = batch_plan(x, t, 8, np.random.default_rng(1), codec.pad_id)
    assert isinstance(plan, BatchPlan)
    for size in (1, 2, 3, 16):
        shares = [plan.share(r, size) for r in range(size)]
        assert all(len(s) == len(plan) for s in shares)
        for k, (b, sw, tw) in enumerate(plan):
            np.testing.assert_array_equal(np.concatenate([s[k][0] for s in shares]), b)
            assert all((s[k][1], s[k][2]) == (sw, tw) for s in shares)
    assert any(len(s[0][0]) == 0 for s in (plan.share(r, 16) for r in range(16)))  # more ranks than examples: empty shares


def test_token_weighted_shares_sum_to_the_gradient_of_the_whole_batch():
    """The seam data-parallel training plugs into: weight each share's loss by its share of the
    batch's target tokens, and the gradients add up to the whole batch's, padding and all."""
    x, t, codec = _pairs()
    pad = codec.pad_id

    def grad_of(idx, weight):
        model = AttentionSeq2seq(len(codec.vocab), 6, 8, target_vocab_size=len(codec.target_vocab), pad_id=pad, seed=0,
                                 dtype="float64")
        seen = []
        trainer = Trainer(model, SGD(lr=0.0), progress=False, grad_hook=lambda g: seen.append(flat(g)[0].copy()))
        trainer.step(x[idx], t[idx], weight)
        return seen[0]

    whole = np.arange(len(x))
    tokens = lambda idx: int((t[idx, 1:] != pad).sum())  # noqa: E731
    parts = np.array_split(whole, 3)
    summed = sum(grad_of(p, tokens(p) / tokens(whole)) for p in parts)
    np.testing.assert_allclose(summed, grad_of(whole, 1.0), rtol=1e-9, atol=1e-12)
    per_rank_means = sum(grad_of(p, 1 / 3) for p in parts)
    assert not np.allclose(per_rank_means, grad_of(whole, 1.0), rtol=1e-6)  # what a per-rank mean would give


def test_the_gradient_hook_runs_between_backward_and_clipping():
    x, t, codec = _pairs()
    model = AttentionSeq2seq(len(codec.vocab), 6, 8, target_vocab_size=len(codec.target_vocab), pad_id=codec.pad_id, seed=0)
    before = flat(model.params)[0].copy()
    norms = []
    trainer = Trainer(model, Adam(0.1), max_grad=1e-3, progress=False,
                      grad_hook=lambda g: norms.append(float(np.sqrt((flat(g)[0].astype(np.float64) ** 2).sum()))))
    trainer.step(x, t)
    assert norms[0] > 1e-3  # the hook saw the gradient before clipping
    assert not np.array_equal(before, flat(model.params)[0])
    silenced = AttentionSeq2seq(len(codec.vocab), 6, 8, target_vocab_size=len(codec.target_vocab), pad_id=codec.pad_id, seed=0)
    start = flat(silenced.params)[0].copy()

    def zero(g):
        for a in flat(g):
            a[...] = 0

    Trainer(silenced, SGD(lr=1.0), progress=False, grad_hook=zero).step(x, t)
    np.testing.assert_array_equal(start, flat(silenced.params)[0])  # the update used what the hook left


def test_an_empty_share_takes_part_in_the_step_with_a_zero_gradient():
    x, t, codec = _pairs()
    model = AttentionSeq2seq(len(codec.vocab), 6, 8, target_vocab_size=len(codec.target_vocab), pad_id=codec.pad_id, seed=0)
    seen = []
    loss = Trainer(model, SGD(lr=0.1), progress=False, grad_hook=lambda g: seen.append(flat(g)[0].copy())).step(x[:0], t[:0])
    assert float(loss) == 0.0 and len(seen) == 1 and not seen[0].any()
