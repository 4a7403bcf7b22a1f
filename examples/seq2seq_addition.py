"""7.2 seq2seq on addition: the encoder's last state is all the decoder knows of the question.

    python examples/seq2seq_addition.py          # the book's 25 epochs (about 4 minutes on one core)
    python examples/seq2seq_addition.py --quick  # a few seconds

The command line does the same with
``seqattn train --task addition --model seq2seq --schedule constant --lr 0.001``.
"""

from common import parse, show_answers

from seqattn.data import load_dataset
from seqattn.models import Seq2seq
from seqattn.optim import Adam
from seqattn.plots import plot_history
from seqattn.trainer import Trainer


def main(argv=None):
    args = parse(__doc__, argv)
    n, hidden, epochs = (1000, 16, 1) if args.quick else (50000, 128, 25)

    # "16+75  _91  " lines, generated and seeded as the book's file; 10% held out for testing
    data = load_dataset("addition", n=n)
    codec = data.codec
    print(f"{len(data.train)} training and {len(data.valid)} test questions, vocabulary {len(codec.vocab)}: "
          f"{''.join(codec.vocab.tokens)!r}")
    x, t = data.train.x[0], data.train.t[0]
    print(f"the first question as ids: {x.tolist()} -> {t.tolist()} "
          f"({codec.vocab.decode(x)!r} -> {codec.vocab.decode(t)!r})")

    # the book's chapter 7 settings: word vectors 16, hidden 128, Adam at 0.001, batch 128, clip 5
    model = Seq2seq(len(codec.vocab), wordvec_size=16, hidden_size=hidden, seed=0)
    trainer = Trainer(model, Adam(lr=0.001), batch_size=128, max_grad=5.0, progress=False)
    history = trainer.fit(data.train.x, data.train.t, epochs, data.valid.x, data.valid.t, codec.start_id)

    print(f"test accuracy after {epochs} epochs: {history[-1]['accuracy'] * 100:.2f}%")
    show_answers(model, data.valid, codec)
    plot_history(history, f"{args.out}/seq2seq-addition.png", title="seq2seq on addition")


if __name__ == "__main__":
    main()
