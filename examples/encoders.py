"""8.4 better encoders for attention: a bidirectional encoder, and deeper LSTMs with skip
connections, on the addition task (where a one-way encoder learns slowly).

    python examples/encoders.py          # 5 epochs for each of three models (about 3 minutes on one core)
    python examples/encoders.py --quick  # a few seconds

The command line: ``seqattn train --task addition --model attention --reverse --bidirectional``
(``--layers 2 --skip`` for the deep one; ``--epochs 5 --schedule constant --lr 0.001`` for the run
here, the book's fixed rate).
"""

from common import parse, show_answers

from seqattn.data import load_dataset
from seqattn.models import AttentionSeq2seq
from seqattn.optim import Adam
from seqattn.plots import attention_figure, plot_history
from seqattn.trainer import Trainer

MODELS = {
    "one-way": dict(),
    "bidirectional": dict(bidirectional=True),
    "bidirectional, 2 layers, skip": dict(bidirectional=True, num_layers=2, skip=True),
}


def main(argv=None):
    args = parse(__doc__, argv)
    n, hidden, epochs = (1000, 16, 1) if args.quick else (50000, 128, 5)

    data = load_dataset("addition", n=n, reverse=True)
    codec = data.codec
    results = {}
    for name, options in MODELS.items():
        model = AttentionSeq2seq(len(codec.vocab), wordvec_size=16, hidden_size=hidden, seed=0, **options)
        weights = sum(p.size for p in model.params)
        print(f"--- attention, {name}: {weights:,} weights ---")
        trainer = Trainer(model, Adam(lr=0.001), batch_size=128, max_grad=5.0, progress=False)
        results[name] = history = trainer.fit(data.train.x, data.train.t, epochs, data.valid.x, data.valid.t,
                                              codec.start_id)
        if name == "bidirectional":
            show_answers(model, data.valid, codec)
            plot_history(history, f"{args.out}/encoders-bidirectional.png", title="bidirectional attention on addition")
            attention_figure(model, codec, ["582+67", "99+901"], f"{args.out}/encoders-bidirectional-map.png")

    for name, history in results.items():
        curve = ", ".join(f"{h['accuracy'] * 100:.1f}" for h in history)
        print(f"{name:>30}: {curve} (% after each epoch), {sum(h['seconds'] for h in history):.0f} s")


if __name__ == "__main__":
    main()
