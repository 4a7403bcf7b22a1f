"""The same computations in PyTorch, for comparison in the same run (only where torch is installed)."""

from __future__ import annotations

import numpy as np


def set_tf32(torch, on):
    """Choose TF32 or strict FP32 for torch's CUDA matrix products and cuDNN, with the current API
    where torch has it (the legacy flags otherwise). Every torch-CUDA case sets it explicitly."""
    try:
        torch.backends.cuda.matmul.fp32_precision = "tf32" if on else "ieee"
        torch.backends.cudnn.conv.fp32_precision = "tf32" if on else "ieee"
        torch.backends.cudnn.rnn.fp32_precision = "tf32" if on else "ieee"
    except AttributeError:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = on


def torch_or_none():
    try:
        import torch
    except ImportError:
        return None
    return torch


def _fwd_bwd(module, x, dout, call):
    """A run of ``call()`` (the module's output for x) and its backward from ``dout``."""

    def run():
        module.zero_grad(set_to_none=True)
        x.grad = None
        call().backward(dout)

    return run


def lstm_fwd_bwd(torch, N, T, D, H, device="cpu"):
    lstm = torch.nn.LSTM(D, H, batch_first=True).to(device)
    x = torch.randn(N, T, D, device=device, requires_grad=True)
    return _fwd_bwd(lstm, x, torch.randn(N, T, H, device=device), lambda: lstm(x)[0])


def attention_fwd_bwd(torch, N, Te, Td, H, score, device="cpu"):
    K = torch.randn(N, Te, H, device=device, requires_grad=True)
    Q = torch.randn(N, Td, H, device=device, requires_grad=True)
    dc = torch.randn(N, Td, H, device=device)
    leaf = lambda *shape: (torch.randn(*shape, device=device) / shape[0] ** 0.5).requires_grad_()  # noqa: E731
    W = leaf(H, H) if score == "general" else None
    Wc = leaf(2 * H, H) if score == "concat" else None
    v = leaf(H) if score == "concat" else None

    def run():
        for t in (K, Q):
            t.grad = None
        if score == "dot":
            S = Q @ K.transpose(1, 2)
        elif score == "general":
            S = (Q @ W) @ K.transpose(1, 2)
        else:
            P = (Q @ Wc[:H])[:, :, None, :]
            R = (K @ Wc[H:])[:, None, :, :]
            S = torch.tanh(P + R) @ v
        a = torch.softmax(S, dim=-1)
        (a @ K).backward(dc)

    return run


class TorchAttentionSeq2seq:
    """The attention model (embedding, LSTM encoder, LSTM decoder from the encoder's final h,
    dot attention, [context; h] into a linear layer) with torch's default initialisation; clipping
    at 5 and Adam. ``Vt``: a target vocabulary of its own. With ``pad`` (text of many lengths) the
    encoder runs over packed sequences (its final h is each source's last real token's), padded
    keys are masked out of the attention and padded targets ignored by the loss."""

    def __init__(self, torch, V, D, H, device="cpu", Vt=None, pad=None):
        nn = torch.nn
        self.torch, self.pad = torch, pad
        Vt = Vt or V
        self.mods = nn.ModuleDict({
            "enc_emb": nn.Embedding(V, D), "enc": nn.LSTM(D, H, batch_first=True),
            "dec_emb": nn.Embedding(Vt, D), "dec": nn.LSTM(D, H, batch_first=True), "out": nn.Linear(2 * H, Vt),
        }).to(device)
        self.opt = torch.optim.Adam(self.mods.parameters(), lr=0.001)

    def step(self, xs, ts):
        torch, m, nn = self.torch, self.mods, self.torch.nn
        if self.pad is None:
            hs, (h, _) = m["enc"](m["enc_emb"](xs))
        else:
            keys = xs != self.pad
            packed = nn.utils.rnn.pack_padded_sequence(m["enc_emb"](xs), keys.sum(1).cpu(), batch_first=True, enforce_sorted=False)
            out, (h, _) = m["enc"](packed)
            hs, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=xs.shape[1])
        dec, _ = m["dec"](m["dec_emb"](ts[:, :-1]), (h, torch.zeros_like(h)))
        s = dec @ hs.transpose(1, 2)
        if self.pad is not None:
            s = s.masked_fill(~keys[:, None, :], float("-inf"))
        scores = m["out"](torch.cat((torch.softmax(s, dim=-1) @ hs, dec), dim=2))
        loss = nn.functional.cross_entropy(scores.reshape(-1, scores.shape[-1]), ts[:, 1:].reshape(-1),
                                           ignore_index=-100 if self.pad is None else self.pad)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.mods.parameters(), 5.0)
        self.opt.step()
        return loss


def torch_epoch(torch, x, t, V, batch_size=128, device="cpu", batches=None):
    model = TorchAttentionSeq2seq(torch, V, 16, 256, device)
    xs, ts = torch.as_tensor(x, device=device), torch.as_tensor(t, device=device)
    order = torch.as_tensor(np.random.default_rng(0).permutation(len(x)), device=device)  # on the device once
    n = len(x) // batch_size if batches is None else batches

    def run():
        for i in range(n):
            idx = order[i * batch_size : (i + 1) * batch_size]
            model.step(xs[idx], ts[idx])

    return run


def torch_text_epoch(torch, x, t, Vs, Vt, plan, D, H, device="cpu"):
    """One epoch over ``plan`` (seqattn's bucketed batches: indices and widths), the same batches
    as seqattn's."""
    model = TorchAttentionSeq2seq(torch, Vs, D, H, device, Vt=Vt, pad=0)
    xs, ts = torch.as_tensor(x, device=device), torch.as_tensor(t, device=device)
    batches = [(torch.as_tensor(b, device=device), sw, tw) for b, sw, tw in plan]

    def run():
        for idx, sw, tw in batches:
            model.step(xs[idx, :sw], ts[idx, :tw])

    return run


def mha_fwd_bwd(torch, N, T, E, heads, device="cpu"):
    mha = torch.nn.MultiheadAttention(E, heads, batch_first=True).to(device)
    x = torch.randn(N, T, E, device=device, requires_grad=True)
    return _fwd_bwd(mha, x, torch.randn(N, T, E, device=device), lambda: mha(x, x, x, need_weights=False)[0])


class TorchTransformerSeq2seq:
    """nn.Transformer of seqattn's default size (pre-LN, ReLU, dropout 0.1) with embeddings,
    sinusoidal positions, an output layer, cross-entropy, clipping at 1 and Adam."""

    def __init__(self, torch, V, E=128, heads=4, layers=2, ffn=512, device="cpu", max_len=64):
        nn = torch.nn
        self.torch = torch
        self.mods = nn.ModuleDict({
            "src": nn.Embedding(V, E), "tgt": nn.Embedding(V, E), "out": nn.Linear(E, V),
            "tf": nn.Transformer(E, heads, layers, layers, ffn, dropout=0.1, batch_first=True, norm_first=True),
        }).to(device)
        pos = torch.arange(max_len)[:, None] * torch.exp(-torch.arange(0, E, 2) * (9.210340371976184 / E))[None]
        self.pe = torch.zeros(max_len, E, device=device)
        self.pe[:, 0::2], self.pe[:, 1::2] = torch.sin(pos), torch.cos(pos)
        self.scale = E**0.5
        self.opt = torch.optim.Adam(self.mods.parameters(), lr=0.001)

    def step(self, xs, ts):
        torch, m = self.torch, self.mods
        tin = ts[:, :-1]
        src = m["src"](xs) * self.scale + self.pe[: xs.shape[1]]
        tgt = m["tgt"](tin) * self.scale + self.pe[: tin.shape[1]]
        causal = torch.nn.Transformer.generate_square_subsequent_mask(tin.shape[1], device=xs.device)
        scores = m["out"](m["tf"](src, tgt, tgt_mask=causal, tgt_is_causal=True))
        loss = torch.nn.functional.cross_entropy(scores.reshape(-1, scores.shape[-1]), ts[:, 1:].reshape(-1))
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.mods.parameters(), 1.0)
        self.opt.step()
        return loss


def torch_transformer_step(torch, x, t, V, device="cpu"):
    model = TorchTransformerSeq2seq(torch, V, device=device)
    model.mods.train()
    xs, ts = torch.as_tensor(x, device=device), torch.as_tensor(t, device=device)
    return lambda: model.step(xs, ts)
