"""The outlook: the Transformer on the date task, built from the same kind of layers
(MultiHeadAttention, LayerNorm, FeedForward, PositionalEncoding) and trained by the same Trainer.

    python examples/transformer.py          # 1 epoch (about 2 minutes on one core)
    python examples/transformer.py --quick  # a few seconds

The command line: ``seqattn train --task date --model transformer --epochs 1``.
"""

from common import parse, show_answers

from seqattn.data import load_dataset
from seqattn.models import TransformerSeq2seq
from seqattn.optim import Adam, Schedule
from seqattn.plots import attention_figure
from seqattn.trainer import Trainer


def main(argv=None):
    args = parse(__doc__, argv)
    n, d_model, ffn, epochs = (1000, 32, 64, 1) if args.quick else (50000, 128, 512, 1)

    data = load_dataset("date", n=n)  # no reversal: every position attends to every other
    codec = data.codec
    # d_model 128, 4 heads, 2 encoder and 2 decoder blocks, pre-LN; no dropout on a task without noise
    model = TransformerSeq2seq(len(codec.vocab), d_model=d_model, num_heads=4, num_layers=2, ffn_size=ffn,
                               dropout=0.0, seed=0)
    print(f"{sum(p.size for p in model.params):,} weights in {len(model.params)} arrays")
    # as the command trains it: warm-up over 200 updates, then a cosine decay to a tenth; clip at 1
    schedule = Schedule("cosine", warmup=200, floor=0.1)
    trainer = Trainer(model, Adam(lr=0.001), batch_size=128, max_grad=1.0, schedule=schedule, progress=False)
    history = trainer.fit(data.train.x, data.train.t, epochs, data.valid.x, data.valid.t, codec.start_id)

    print(f"test accuracy after epoch {history[-1]['epoch']}: {history[-1]['accuracy'] * 100:.2f}%")
    show_answers(model, data.valid, codec)
    # one panel per head of the last decoder block's attention over the source
    attention_figure(model, codec, ["sep 25, 1984"], f"{args.out}/transformer-dates-heads.png")


if __name__ == "__main__":
    main()
