"""A tiny encoder-only classifier/tagger for the toy tasks of chapters 2–3, and a minimal ``fit`` loop.

Built from the package's pieces: :class:`~efftx_mini.transformer.EncoderLayer` (Vaswani et al. 2017,
§3.1) whose self-attention is a :class:`TinyAttention` — multi-head attention (§3.2.2) with two
switches: rotary positions on queries and keys (Su et al. 2021, §3.4.2) and tied W^Q = W^K.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Literal

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn
from tqdm.auto import tqdm

from ._checks import check_token_ids, check_tokens, shape_str
from .attention import MultiHeadAttention
from .positional import LearnedPositionalEmbedding, RotaryEmbedding, SinusoidalPositionalEncoding
from .toytasks import IGNORE
from .transformer import EncoderLayer

__all__ = ["TinyAttention", "TinyEncoder", "fit", "accuracy", "POSITIONAL"]

Positional = Literal["none", "sinusoidal", "learned", "rope"]
POSITIONAL: tuple[str, ...] = ("none", "sinusoidal", "learned", "rope")


class TinyAttention(MultiHeadAttention):
    """Multi-head self-attention with optional RoPE on q, k (RoFormer Eq. 34) and optional W^Q = W^K.

    With ``tie_qk`` the key projection reuses the query rows of ``in_proj_weight`` (and bias), so
    each head's scores (x_i W^Q)(x_j W^Q)ᵀ are symmetric in i and j; the key rows are unused.
    """

    def __init__(
        self, d_model: int, n_heads: int, dropout: float = 0.0, *, rope: bool = False, tie_qk: bool = False
    ) -> None:
        super().__init__(d_model, n_heads, dropout)
        self.tie_qk = tie_qk
        self.rotary = RotaryEmbedding(self.d_head) if rope else None

    def head_projections(self, query: Tensor, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """x (B, T, d) → q, k, v each (B, H, T, d_h), with RoPE already applied to q and k."""
        if not (query is key and key is value):
            raise ValueError("TinyAttention is self-attention only: pass the same tensor as query, key and value")
        x = query
        w, b, d = self.in_proj_weight, self.in_proj_bias, self.d_model
        wq, wk, wv = w.split(d)
        bq, bk, bv = (None, None, None) if b is None else b.split(d)
        if self.tie_qk:
            wk, bk = wq, bq
        q, k, v = (
            rearrange(F.linear(x, wt, bt), "b t (h d) -> b h t d", h=self.n_heads)
            for wt, bt in ((wq, bq), (wk, bk), (wv, bv))
        )
        if self.rotary is not None:
            q, k = self.rotary(q), self.rotary(k)
        return q, k, v


class TinyEncoder(nn.Module):
    """tokens (B, T) → logits: (B, n_out) for ``readout`` "last"/"mean", (B, T, n_out) for "all".

    ``positional`` is "none", "sinusoidal" (§3.5), "learned" (Gehring et al. 2017) or "rope"
    (rotary, applied inside every attention layer). Learned tables have ``max_len`` rows; rows
    beyond the lengths seen in training stay at their random initialisation.
    """

    def __init__(
        self,
        vocab: int,
        n_out: int,
        d_model: int = 32,
        n_heads: int = 2,
        n_layers: int = 1,
        d_ff: int = 64,
        *,
        positional: Positional = "none",
        max_len: int = 64,
        tie_qk: bool = False,
        readout: Literal["last", "mean", "all"] = "all",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if positional not in POSITIONAL:
            raise ValueError(f"positional must be one of {POSITIONAL}, got {positional!r}")
        if readout not in ("last", "mean", "all"):
            raise ValueError(f"readout must be 'last', 'mean' or 'all', got {readout!r}")
        self.vocab, self.positional, self.readout, self.max_len = vocab, positional, readout, max_len
        self.embed = nn.Embedding(vocab, d_model)
        self.pos: nn.Module
        if positional == "sinusoidal":
            self.pos = SinusoidalPositionalEncoding(d_model, max_len)
        elif positional == "learned":
            self.pos = LearnedPositionalEmbedding(d_model, max_len)
        else:
            self.pos = nn.Identity()
        self.layers = nn.ModuleList()
        for _ in range(n_layers):
            layer = EncoderLayer(d_model, n_heads, d_ff, dropout)
            layer.self_attn = TinyAttention(d_model, n_heads, dropout, rope=positional == "rope", tie_qk=tie_qk)
            self.layers.append(layer)
        self.head = nn.Linear(d_model, n_out)

    def hidden(self, tokens: Tensor) -> Tensor:
        """tokens (B, T) → hidden states (B, T, d) after the last layer."""
        check_tokens(tokens, "tokens")
        check_token_ids(tokens, self.vocab, "tokens", "vocab")
        if self.positional in ("sinusoidal", "learned") and tokens.shape[1] > self.max_len:
            raise ValueError(
                f"sequence length {tokens.shape[1]} exceeds max_len={self.max_len}: expected tokens of shape "
                f"(B, T <= {self.max_len}), got {shape_str(tokens.shape)}"
            )
        x = self.pos(self.embed(tokens))
        for layer in self.layers:
            x = layer(x)
        return x

    def forward(self, tokens: Tensor) -> Tensor:
        h = self.hidden(tokens)
        if self.readout == "last":
            h = h[:, -1]
        elif self.readout == "mean":
            h = h.mean(dim=1)
        return self.head(h)


Batch = tuple[Tensor, Tensor]


def fit(
    model: nn.Module,
    batches: Callable[[int], Batch] | Iterable[Batch],
    steps: int,
    lr: float = 3e-3,
    *,
    weight_decay: float = 0.0,
    progress: bool = True,
    desc: str | None = None,
) -> list[float]:
    """Train with AdamW (Kingma & Ba 2015) and cross-entropy (targets == IGNORE skipped); return the losses.

    ``batches`` is either a function ``step -> (tokens, targets)`` or an iterable of such pairs.
    Logits (B, C) pair with targets (B,); logits (B, T, C) with targets (B, T).
    """
    if steps <= 0:
        raise ValueError(f"steps must be positive, got {steps}")
    it: Iterator[Batch] | None = None if callable(batches) else iter(batches)
    dev = next(model.parameters()).device
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    model.train()
    losses: list[float] = []
    for step in tqdm(range(steps), desc=desc, disable=not progress, leave=False):
        x, y = batches(step) if it is None else next(it)
        x, y = x.to(dev), y.to(dev)
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), ignore_index=IGNORE)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    model.eval()
    return losses


@torch.no_grad()
def accuracy(model: nn.Module, tokens: Tensor, targets: Tensor) -> float:
    """Fraction of arg-max predictions equal to ``targets`` (positions with IGNORE are skipped)."""
    dev = next(model.parameters()).device
    was_training = model.training
    model.eval()
    pred = model(tokens.to(dev)).argmax(-1).cpu()
    model.train(was_training)
    if pred.shape != targets.shape:
        raise ValueError(f"predictions {shape_str(pred.shape)} and targets {shape_str(targets.shape)} differ")
    keep = targets != IGNORE
    return float((pred[keep] == targets[keep]).float().mean())
