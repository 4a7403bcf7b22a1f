"""Training options: the recipes, one record, and one resolution of what was given, what a resumed
checkpoint holds and the defaults.

A default comes from, lowest first: ``TRAINING`` (every run), the data's recipe (``RECIPES``: the
book's hyperparameters for its tasks and for files in its format, and those of text pairs), the
model's own ``recipe`` (and ``task_recipe`` on the generated tasks, ``text_recipe`` on text
pairs), and the model's own options' defaults. A resumed run
keeps its checkpoint's options: one that is left out is taken from it, one that is given and
differs is refused.

Errors are ``OptionError``: one line that names the option as the caller calls it. In the
library that is the parameter's name (``hidden must be at least 1, got 0``); the command passes
its flags to ``OptionError.render`` once (``--hidden must be at least 1, got 0``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from .errors import OptionError, positive_int
from .models import MODELS

# Every run's defaults.
TRAINING = dict(model="attention", init="default", reverse=False, seed=0, optimizer="adam", schedule="cosine",
                warmup=0, lr_floor=0.1, beta1=0.9, beta2=0.999, label_smoothing=0.0)

# The book's hyperparameters (chapter 7 for addition, chapter 8 for dates), and those of a data
# file in the book's format (None). Rates decay along a cosine to a tenth by the last epoch. On
# addition the cosine starts at twice the book's fixed rate of 0.001, so that its mean rate is
# about the book's (25 epochs of reversed peeky: 99.6% at the last epoch, against 99.1% from
# 0.001); --schedule constant --lr 0.001 is the book's own recipe.
#
# Text pairs ("text"; benchmarks/text_quality.py: 10 epochs on a few thousand Tatoeba pairs,
# English-French and English-Spanish, 2-3 seeds; chrF): word vectors of 16 are far too narrow for
# words (17.9 and 11.8 with the book's file recipe); reversal keeps the attention moving along the
# source (without it, on the short French pairs, 0.90 of the weight from the 4th output step on is
# on the last source token) at no cost in chrF on average (33.4 and 28.0 reversed, 32.4 and 28.9
# not); a cosine decay leaves the model short of training after 10 epochs
# (26.1 against 31.7 at a constant 0.001); a constant 0.002 trains it further (33.0 and 25.8 at
# batch 64), and batches of 32 further still (33.4 and 28.0; torch's chapter-8 model 27.4 and 23.0).
# The Transformer's own text recipe is beside it.
RECIPES = {
    "addition": dict(wordvec=16, hidden=128, batch_size=128, epochs=25, max_grad=5.0, lr=0.002),
    "date": dict(wordvec=16, hidden=256, batch_size=128, epochs=10, max_grad=5.0, lr=0.001),
    None: dict(wordvec=16, hidden=256, batch_size=128, epochs=10, max_grad=5.0, lr=0.001),
    "text": dict(wordvec=128, hidden=256, batch_size=32, epochs=10, max_grad=5.0, lr=0.002, schedule="constant", reverse=True),
}

# How text is read (data files only), with the defaults Codec.fit applies when left out.
DATA = ("tokens", "lower", "vocab_size", "subword_type", "min_count", "max_vocab")


@dataclass
class Options:
    """Every option of a training run, resolved. ``own``: the model's own options (its
    ``options``, such as score or num_heads), by name."""

    model: str
    hidden: int
    wordvec: int | None
    init: str
    reverse: bool
    batch_size: int
    seed: int
    max_grad: float
    optimizer: str
    lr: float
    beta1: float
    beta2: float
    schedule: str
    warmup: int
    lr_floor: float
    label_smoothing: float
    epochs: int
    own: dict = field(default_factory=dict)

    @property
    def model_class(self):
        return MODELS[self.model]

    def sizes(self):
        return {"hidden": self.hidden, "wordvec": self.wordvec}

    def optimizer_options(self):
        """The optimizer's hyperparameters besides the rate."""
        return {"beta1": self.beta1, "beta2": self.beta2} if self.optimizer == "adam" else {}

    def make_model(self, codec, longest=0):
        """The untrained model these options describe, for the data ``codec`` reads (``longest``:
        the longest sequence of the data, for models whose size depends on it)."""
        return self.model_class.from_codec(codec, self.sizes(), self.own, seed=self.seed, init=self.init, longest=longest)

    def make_optimizer(self):
        from .optim import make_optimizer

        return make_optimizer(self.optimizer, self.lr, **self.optimizer_options())

    def trainer_options(self):
        """The Trainer's arguments that these options set: batch size, clipping, seed, schedule and
        label smoothing (``Trainer(model, opts.make_optimizer(), **opts.trainer_options())``
        trains as ``seqattn train`` does)."""
        from .optim import Schedule

        return dict(batch_size=self.batch_size, max_grad=self.max_grad or None, seed=self.seed,
                    schedule=Schedule(self.schedule, self.warmup, floor=self.lr_floor), label_smoothing=self.label_smoothing)


COMMON = tuple(f.name for f in fields(Options) if f.name not in ("epochs", "own"))


def model_option_takers(key):
    """The kinds of model that take their own option ``key``."""
    return [kind for kind, cls in MODELS.items() if key in cls.options]


def defaults(model, task=None, text=False):
    """Every default of a run of ``model`` on ``task`` (None: a data file; ``text``: of
    tab-separated pairs, else in the book's format)."""
    cls = MODELS[model]
    d = {**TRAINING, **RECIPES[task or ("text" if text else None)], **cls.recipe, **(cls.task_recipe if task else {}),
         **(cls.text_recipe if text and not task else {})}
    d.update({k: d.get(k, v) for k, v in cls.options.items() if k not in cls.derived})
    d["model"] = model
    return d


def checkpoint_options(meta):
    """The options a checkpoint's meta records, by option name (absent ones left out); ``epochs``
    is the epoch its run trains up to."""
    from .checkpoint import run_epochs

    config, trainer, optim, codec = (meta.get(k) or {} for k in ("config", "trainer", "optimizer", "codec"))
    schedule = trainer.get("schedule") or {}
    found = {"model": config.get("model"), "init": config.get("init"), "reverse": codec.get("reverse"),
             "batch_size": trainer.get("batch_size"), "seed": trainer.get("seed"),
             "max_grad": (trainer.get("max_grad") or 0.0) if trainer else None,
             "optimizer": str(optim.get("name", "")).lower() or None, "lr": trainer.get("base_lr", optim.get("lr")),
             "beta1": optim.get("beta1"), "beta2": optim.get("beta2"), "schedule": schedule.get("name"),
             "warmup": schedule.get("warmup"), "lr_floor": schedule.get("floor"),
             "label_smoothing": trainer.get("label_smoothing"), "epochs": run_epochs(meta)}
    cls = MODELS.get(config.get("model"))
    if cls is not None:
        found.update({k: config.get(arg) for k, arg in cls.sizes.items()})
        found.update({k: config.get(k) for k in cls.options if k not in cls.derived})
    return {k: v for k, v in found.items() if v is not None}


# The kinds of data a default may differ by: (task, text pairs or not) -> their name in the help.
TASK_NAMES = {("addition", False): "addition", ("date", False): "date", (None, False): "files in the book's format",
              (None, True): "text pairs"}


def describe_default(key):
    """The default of option ``key`` in words, from the recipes and the models themselves, for
    every model that takes it and every kind of data: "128 on addition, 256 on date and files in the
    book's format and text pairs; transformer: 128"."""
    described = {}  # per model: its defaults on the tasks in words
    for kind, cls in MODELS.items():
        takes = key in cls.options or key in cls.sizes or (key in COMMON + ("epochs",) and key not in ("hidden", "wordvec"))
        if not takes or key in cls.derived:
            continue
        by_value = {}
        for (task, text), name in TASK_NAMES.items():
            by_value.setdefault(_shown(defaults(kind, task, text)[key]), []).append(name)
        described[kind] = "; ".join(by_value) if len(by_value) == 1 else ", ".join(
            f"{value} on {' and '.join(names)}" for value, names in by_value.items())
    groups = {}
    for kind, words in described.items():
        groups.setdefault(words, []).append(kind)
    if len(groups) == 1:
        return next(iter(groups))
    return "; ".join(f"{', '.join(kinds)}: {words}" for words, kinds in groups.items())


def data_default(key):
    """The default of a DATA option (how text is read): what ``Codec.fit`` takes when it is left out."""
    import inspect

    from .data.codec import Codec

    return _shown(inspect.signature(Codec.fit).parameters[key].default)


def _shown(value):
    if value is None:
        return "none"
    return "on" if value is True else "off" if value is False else f"{value:g}" if isinstance(value, float) else str(value)


def resolve(given, task=None, resumed=None, text=False):
    """``given``: option -> value, None where not given -> (Options, the options taken from the
    resumed checkpoint's ``meta``). ``text``: the data are tab-separated pairs (their recipe).
    Refuses, as OptionError, an option the model does not take, a resumed run's option that
    differs (but ``epochs``, which lengthens or shortens the run), and a value out of range."""
    resumed = resumed or {}
    theirs = checkpoint_options(resumed) if resumed else {}
    model = given.get("model") or theirs.get("model") or TRAINING["model"]
    if model not in MODELS:
        raise OptionError(f"<model> {model!r} is not a model; choose one of {', '.join(MODELS)}")
    cls = MODELS[model]
    for key, value in given.items():
        if value is not None and key not in COMMON and key not in ("epochs",) and key not in cls.options:
            takers = " and ".join(model_option_takers(key))
            raise OptionError(f"<{key}> is an option of <model> {takers}, not of <model> {model}")
    for key in ("hidden", "wordvec"):
        if given.get(key) is not None and key not in cls.sizes:
            raise OptionError(f"<{key}> is not an option of <model> {model}: its embeddings are <hidden> wide")
    d = defaults(model, task, text)
    keys = [k for k in COMMON if k in cls.sizes or k not in ("hidden", "wordvec")]
    keys += [k for k in cls.options if k not in cls.derived]
    chosen, taken = {}, []
    for key in keys:
        value, recorded = given.get(key), theirs.get(key)
        if value is not None and recorded is not None and value != recorded:
            raise OptionError(f"<{key}> {value} differs from the checkpoint's {recorded}: a resumed run keeps its "
                              f"options (leave <{key}> out), or start a new run with <force>")
        if value is None and recorded is not None:
            taken.append(key)
        chosen[key] = value if value is not None else recorded if recorded is not None else d[key]
    if given.get("epochs") is None and theirs.get("epochs") is not None:  # a resumed run goes on to its own last epoch
        taken.append("epochs")
    chosen["epochs"] = next(e for e in (given.get("epochs"), theirs.get("epochs"), d["epochs"]) if e is not None)
    _check(chosen, given)
    cls.check_options({**{arg: chosen[k] for k, arg in cls.sizes.items()}, **{k: chosen[k] for k in cls.options if k in chosen}})
    return Options(**{k: chosen.get(k) for k in COMMON + ("epochs",)}, own={k: chosen[k] for k in cls.options if k in chosen}), taken


def recipe(model=TRAINING["model"], task=None, text=False, **given):
    """The options ``seqattn train --model MODEL`` runs with on ``task`` (None: a data file of
    text pairs with ``text``, else in the book's format), with ``given`` options (by name: lr,
    epochs, dropout, ...) over the defaults -> Options."""
    return resolve({"model": model, **given}, task, text=text)[0]


def _check(o, given):
    """The training options' ranges (each model checks its own options and sizes)."""
    for k in ("epochs", "batch_size"):
        positive_int(k, o[k])
    checks = [
        (o["lr"] >= 0, f"<lr> must be positive, got {o['lr']} (a negative rate climbs the loss)"),
        (o["max_grad"] >= 0, f"<max_grad> must be 0 (no clipping) or positive, got {o['max_grad']}"),
        (0 <= o["label_smoothing"] < 1, f"<label_smoothing> must be at least 0 and below 1, got {o['label_smoothing']}"),
        (0 <= o["lr_floor"] <= 1, f"<lr_floor> is a fraction of <lr>, from 0 to 1, got {o['lr_floor']}"),
        (o["warmup"] >= 0, f"<warmup> must be 0 or more updates, got {o['warmup']}"),
        (0 <= o["beta1"] < 1 and 0 <= o["beta2"] < 1, "<beta1> and <beta2> must be at least 0 and below 1"),
        (o["optimizer"] == "adam" or (given.get("beta1") is None and given.get("beta2") is None), "<beta1> and <beta2> are Adam's"),
    ]
    for ok, message in checks:
        if not ok:
            raise OptionError(message)


def check_count(key, value, least=1, unit=""):
    """A count option (``patience``, ``examples``, ...) of at least ``least``."""
    if value is not None and value < least:
        raise OptionError(f"<{key}> must be at least {least}{unit}, got {value}")


def resolve_data(given, task=None, resumed=None, columns=None, max_length=None, files=()):
    """How text is read: ``given`` (DATA option -> value or None), ``columns`` (0-based, or None),
    ``max_length``; ``files`` the names of the valid/test options given -> the options for
    ``load_dataset``. Checked before any file is read. A resumed run reads with the checkpoint's
    codec, so only ``columns`` (if it agrees) and ``max_length`` apply."""
    given = {k: v for k, v in given.items() if v is not None}
    if task and (given or columns is not None or max_length is not None or files):
        raise OptionError("<valid>, <test>, <columns>, <tokens> and the vocabulary options are for <data> files; "
                          "the built-in tasks are generated character by character")
    if resumed and given:
        raise OptionError(f"{', '.join(f'<{k}>' for k in given)}: a resumed run keeps the checkpoint's tokens and "
                          "vocabularies; leave them out, or start a new run with <force>")
    for key in ("vocab_size", "min_count", "max_vocab"):
        check_count(key, given.get(key))
    check_count("max_length", max_length)
    from .data.tokens import TEXT_TOKENS

    kind = given.get("tokens", TEXT_TOKENS)
    if kind == "char" and given.get("lower"):
        raise OptionError("<lower> is for <tokens> word or subword; characters keep their case")
    if kind != "subword" and ("vocab_size" in given or "subword_type" in given):
        raise OptionError("<vocab_size> and <subword_type> are options of <tokens> subword")
    options = dict(given)
    if columns is not None:
        theirs = tuple((resumed or {}).get("codec", {}).get("columns", (0, 1)))
        if resumed and tuple(columns) != theirs:
            raise OptionError(f"<columns> {columns[0] + 1},{columns[1] + 1} differs from the checkpoint's "
                              f"{theirs[0] + 1},{theirs[1] + 1}")
        options["columns"] = tuple(columns)
    return options
