"""8.2 the date task: the attention model of chapter 8 turns dates written many ways into
YYYY-MM-DD, and its attention map shows which characters it read for each one it wrote.

    python examples/dates.py          # 3 epochs (about 3 minutes on one core)
    python examples/dates.py --quick  # a few seconds

The command line: ``seqattn train --task date --model attention --reverse --epochs 3 --plot date.png``
(its default rate decays along a cosine; here it is the book's fixed 0.001).
"""

from common import parse, show_answers

from seqattn.data import load_dataset
from seqattn.models import AttentionSeq2seq
from seqattn.optim import Adam
from seqattn.plots import attention_figure, plot_history
from seqattn.trainer import Trainer


def main(argv=None):
    args = parse(__doc__, argv)
    n, hidden, epochs = (1000, 16, 1) if args.quick else (50000, 256, 3)

    data = load_dataset("date", n=n, reverse=True)  # the book reverses the questions here too
    codec = data.codec
    print(f"{len(data.train)} training and {len(data.valid)} test dates, vocabulary {len(codec.vocab)}; for example")
    for q, a in zip(data.valid.sources[:3], data.valid.targets[:3]):
        print(f"  {q!r} -> {a!r}")

    # the book's chapter 8 settings: word vectors 16, hidden 256, Adam at 0.001, batch 128, clip 5
    model = AttentionSeq2seq(len(codec.vocab), wordvec_size=16, hidden_size=hidden, seed=0)
    trainer = Trainer(model, Adam(lr=0.001), batch_size=128, max_grad=5.0, progress=False)
    history = trainer.fit(data.train.x, data.train.t, epochs, data.valid.x, data.valid.t, codec.start_id)

    print(f"test accuracy after {epochs} epochs: {history[-1]['accuracy'] * 100:.2f}%")
    show_answers(model, data.valid, codec)
    plot_history(history, f"{args.out}/dates-attention.png", title="attention on dates")
    # the attention map of three dates: rows are the characters written, columns those read
    texts = ["september 27, 1994", "TUESDAY, SEPTEMBER 25, 1984", "2/10/93"]
    attention_figure(model, codec, texts, f"{args.out}/dates-attention-map.png")


if __name__ == "__main__":
    main()
