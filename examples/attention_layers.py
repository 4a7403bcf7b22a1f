"""8.1 the attention layers: the book's WeightSum, AttentionWeight and Attention for one decoder
step, and the library's TimeAttention, which does every decoder step at once.

    python examples/attention_layers.py          # prints the checks, draws docs/img/attention-toy.png
    python examples/attention_layers.py --quick  # the same (nothing here is trained)

The book's layers are seqattn/layers/book.py; TimeAttention is seqattn/layers/attention.py,
whose masked softmax is Ops.masked_softmax in seqattn/ops/reference.py.
"""

import numpy as np
from common import parse

from seqattn.layers import Attention, AttentionWeight, TimeAttention, WeightSum
from seqattn.layers.book import TimeAttention as BookTimeAttention
from seqattn.plots import plot_attention


def main(argv=None):
    args = parse(__doc__, argv)
    rng = np.random.default_rng(0)
    np.set_printoptions(precision=3, suppress=True)

    # One sentence of 5 encoder states (N=1, T=5, H=4) and one decoder state close to state 2.
    hs = rng.normal(size=(1, 5, 4))
    h = hs[:, 2] + 0.1 * rng.normal(size=(1, 4))

    # AttentionWeight: a = softmax(hs . h), one weight per encoder state, summing to 1
    a = AttentionWeight().forward(hs, h)
    print("AttentionWeight: a =", a[0], " sum", round(float(a.sum()), 6))
    # WeightSum: c = sum_t a_t hs_t, the context vector
    c = WeightSum().forward(hs, a)
    print("WeightSum:       c =", c[0])
    # Attention = AttentionWeight then WeightSum
    attention = Attention()
    print("Attention:       c =", attention.forward(hs, h)[0], " (the same)")

    # The library's TimeAttention: every decoder step of a batch at once, against the book's
    # TimeAttention (one Attention object per step), in float64, forward and backward.
    N, Te, Td, H = 8, 7, 5, 16
    hs_enc, hs_dec = rng.normal(size=(N, Te, H)), rng.normal(size=(N, Td, H))
    mask = np.ones((N, Te), dtype=bool)
    mask[0, 4:] = False  # the first sentence has 4 real positions, then padding
    dc = rng.normal(size=(N, Td, H))
    book, ours = BookTimeAttention(), TimeAttention("dot")
    c_book, c_ours = book.forward(hs_enc, hs_dec, mask), ours.forward(hs_enc, hs_dec, mask)
    grads_book, grads_ours = book.backward(dc), ours.backward(dc)
    print(f"TimeAttention vs the book's, (N, Te, Td, H) = {(N, Te, Td, H)}: contexts differ by at most "
          f"{np.abs(c_book - c_ours).max():.1e}, gradients by "
          f"{max(np.abs(g1 - g2).max() for g1, g2 in zip(grads_book, grads_ours)):.1e}")
    print("attention_weights", ours.attention_weights.shape, "; weight on padding:",
          ours.attention_weights[0, :, 4:].max())

    # The three scores keep the same shapes: dot, general (W (H, H)), concat (W (2H, A), v (A,))
    for score, weights in (("dot", {}), ("general", {"W": rng.normal(size=(H, H))}),
                           ("concat", {"W": rng.normal(size=(2 * H, 10)), "v": rng.normal(size=10)})):
        layer = TimeAttention(score, **weights)
        print(f"  {score:>7}: c {layer.forward(hs_enc, hs_dec, mask).shape}, "
              f"weights {layer.attention_weights.shape}, params {[p.shape for p in layer.params]}")

    # A picture of what the dot score does: the encoder states are vectors for the letters
    # "s e q 2 s", the decoder asks for them in reverse order; each step finds its letter.
    letters = list("seq2s")
    vectors = {ch: 3 * rng.normal(size=8) for ch in set(letters)}
    enc = np.stack([vectors[ch] for ch in letters])[None]
    dec = np.stack([vectors[ch] for ch in reversed(letters)])[None]
    toy = TimeAttention("dot")
    toy.forward(enc, dec)
    print("toy weights (rows: decoder steps, columns: encoder states):")
    print(toy.attention_weights[0])
    plot_attention(toy.attention_weights, [letters], [letters[::-1]], f"{args.out}/attention-toy.png",
                   titles=["dot attention: each step finds its letter"])


if __name__ == "__main__":
    main()
