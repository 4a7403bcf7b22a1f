"""A stack of LSTM layers: one or more, one or two directions, with optional residual (skip)
connections and dropout between layers. Encoders and decoders are built on it."""

from __future__ import annotations

from ..layers import Composite, TimeBiLSTM, TimeDropout, TimeLSTM


class LSTMStack(Composite):
    """forward(xs (N,T,D), mask=None) -> hs (N,T,H).

    ``bidirectional``: each layer runs H/2 units each way, concatenated to H, so the stack's width
    does not depend on it. ``skip``: layers after the first add their input to their output.
    ``dropout``: applied to the output of every layer (between layers, and before what follows).
    ``finals()`` gives each layer's final h (N,H) (both directions concatenated when bidirectional);
    ``backward(dhs, dfinals)`` takes gradients for those as well. Layer k's weights are named
    ``lstm<k>`` (``lstm<k>.forward`` and ``lstm<k>.backward`` when bidirectional).
    """

    def __init__(self, ini, D, H, num_layers=1, bidirectional=False, skip=False, dropout=0.0, stateful=False):
        # the models check their options (Seq2seqBase.check_options) before they build a stack
        self.H, self.skip, self.bidirectional = H, skip, bidirectional
        self.lstms, self.drops = [], []
        for k in range(num_layers):
            d_in = D if k == 0 else H
            if bidirectional:
                self.lstms.append(TimeBiLSTM(*ini.lstm(d_in, H // 2), *ini.lstm(d_in, H // 2)))
            else:
                self.lstms.append(TimeLSTM(*ini.lstm(d_in, H), stateful=stateful))
            self.drops.append(TimeDropout(dropout) if dropout > 0 else None)
        self.adopt([(f"lstm{k}", layer) for k, layer in enumerate(self.lstms)])

    @staticmethod
    def count(D, H, num_layers=1, bidirectional=False, **_):
        """The weights of a stack built with these arguments, without building it."""
        def layer(d_in):  # Wx (d_in, 4h), Wh (h, 4h) and b (4h) of an LSTM of h units, per direction
            h = H // 2 if bidirectional else H
            return (2 if bidirectional else 1) * 4 * h * (d_in + h + 1)

        return layer(D) + (num_layers - 1) * layer(H)

    def _residual(self, k):
        return self.skip and k > 0

    def forward(self, xs, mask=None):
        hs = xs
        for k, (lstm, drop) in enumerate(zip(self.lstms, self.drops)):
            out = lstm.forward(hs, mask)
            if self._residual(k):
                out = out + hs
            hs = drop.forward(out) if drop is not None else out
        return hs

    def backward(self, dhs, dfinals=None):
        for k in range(len(self.lstms) - 1, -1, -1):
            lstm, drop = self.lstms[k], self.drops[k]
            if drop is not None:
                dhs = drop.backward(dhs)
            d_last = None if dfinals is None else dfinals[k]
            dx = lstm.backward(dhs, d_last) if self.bidirectional else lstm.backward(dhs, (d_last, None))
            if self._residual(k):
                dx += dhs
            dhs = dx
        return dhs

    def finals(self):
        return [lstm.h for lstm in self.lstms]

    def dfinals(self):
        """Gradients of the initial states (h per layer) after backward."""
        return [lstm.dh for lstm in self.lstms]

    def set_states(self, hs, cs=None):
        for k, lstm in enumerate(self.lstms):
            lstm.set_state(hs[k], None if cs is None else cs[k])

    def reorder(self, idx):
        """Keep rows ``idx`` of every state (beam search)."""
        for lstm in self.lstms:
            lstm.set_state(*(None if s is None else s[idx] for s in (lstm.h, lstm.c)))
