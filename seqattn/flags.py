"""How the options are spelt on the command line: one table, so that every error the library
raises about an option (``errors.OptionError``) is shown with the flag a user types."""

from __future__ import annotations

from .layers import SCORES

# How the models' own options are spelt on the command line: option -> (flag, choices, help).
# Which model takes which option, and its default, is the models' ``options``.
MODEL_FLAGS = {
    "score": ("--score", SCORES, "attention score"),
    "bidirectional": ("--bidirectional", None, "bidirectional encoder"),
    "num_layers": ("--layers", None, "stacked layers (LSTM layers; Transformer blocks on each side)"),
    "skip": ("--skip", None, "residual connections between stacked LSTM layers"),
    "dropout": ("--dropout", None, "dropout between layers"),
    "input_feeding": ("--input-feeding", None, "each decoder step also reads the previous step's attention context "
                      "(Luong's input feeding; dot or general score, one layer)"),
    "num_heads": ("--heads", None, "attention heads"),
    "ffn_size": ("--ffn", None, "width of the feed-forward layers"),
    "activation": ("--activation", ("relu", "gelu"), "the feed-forward activation"),
    "norm": ("--norm", ("pre", "post"), "layer norm before each sublayer (pre) or after the residual sum (post)"),
    "positions": ("--positions", ("sinusoid", "learned"), "position vectors"),
}


class Flags(dict):
    """Option name -> its flag: ``--`` and the name with dashes, unless spelt otherwise here."""

    def __missing__(self, key):
        return "--" + key.replace("_", "-")


FLAGS = Flags({k: v[0] for k, v in MODEL_FLAGS.items()}, hidden_size="--hidden", d_model="--hidden", wordvec_size="--wordvec",
              beam_width="--beam")
