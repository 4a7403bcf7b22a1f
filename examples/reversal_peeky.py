"""7.3 reversal and peeky: two small changes that take the addition task from a quarter right to
nearly all right.

    python examples/reversal_peeky.py          # 10 epochs each (the book trains 25; 3-4 minutes on one core)
    python examples/reversal_peeky.py --quick  # a few seconds

Reversal: the question is read backwards, so the first digits the decoder writes sit close to the
digits they depend on (``load_dataset(..., reverse=True)``; the codec remembers it, so a saved
model reverses new questions too). Peeky: the decoder sees the encoder's last state at every
step, beside its own input and output (``PeekySeq2seq``). The command line:
``seqattn train --task addition --model seq2seq --reverse`` and ``--model peeky --reverse``
(with ``--epochs 10 --schedule constant --lr 0.001`` for the run here, the book's fixed rate).
"""

from common import parse, show_answers

from seqattn.data import load_dataset
from seqattn.models import PeekySeq2seq, Seq2seq
from seqattn.optim import Adam
from seqattn.plots import plot_history
from seqattn.trainer import Trainer


def main(argv=None):
    args = parse(__doc__, argv)
    n, hidden, epochs = (1000, 16, 1) if args.quick else (50000, 128, 10)

    data = load_dataset("addition", n=n, reverse=True)  # the same questions as 7.2, read backwards
    codec = data.codec
    print(f"{data.valid.sources[0]!r} is fed to the encoder as {codec.vocab.decode(data.valid.x[0])!r}")

    results = {}
    for name, cls in (("reversed", Seq2seq), ("reversed-peeky", PeekySeq2seq)):
        print(f"--- {name} ({cls.__name__}) ---")
        model = cls(len(codec.vocab), wordvec_size=16, hidden_size=hidden, seed=0)
        trainer = Trainer(model, Adam(lr=0.001), batch_size=128, max_grad=5.0, progress=False)
        history = trainer.fit(data.train.x, data.train.t, epochs, data.valid.x, data.valid.t, codec.start_id)
        show_answers(model, data.valid, codec)
        plot_history(history, f"{args.out}/addition-{name}.png", title=f"{name} on addition")
        results[name] = history

    for name, history in results.items():
        best = max(history, key=lambda h: h["accuracy"])
        print(f"{name:>15}: last epoch {history[-1]['accuracy'] * 100:.2f}%, "
              f"best {best['accuracy'] * 100:.2f}% (epoch {best['epoch']})")


if __name__ == "__main__":
    main()
