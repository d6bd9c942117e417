"""Performer attention with FAVOR+ — Choromanski et al. 2021, §2.3 (Lemma 1), orthogonal features §2.4 (Theorem 2, §3).

softmax kernel  exp(q·k/√d) = E_ω[φ(q)·φ(k)],  φ(x) = exp(ωᵀx' − ‖x'‖²/2) / √m,  x' = x / d^{1/4},  ω ~ N(0, I_d)

(positive random features, Lemma 1). With these m features attention is linear attention again: the right product
φ(Q)(φ(K)ᵀV) and, causally, the same prefix sums (here chunked, as :func:`~efftx_mini.efficient.linear.
kernel_attention`). The m rows of ω are drawn in blocks of d exactly orthogonal directions (QR of a Gaussian
matrix), each row rescaled to the length of a Gaussian vector (χ_d), so every row is still N(0, I_d) and the
estimate stays unbiased (§2.4), with lower variance (Theorem 2, §3). As in the authors' code, the features are
stabilised by subtracting a maximum inside the exponential: per query row (it cancels in the row's
normalisation) and over all keys of a sequence (a common factor of every key) — neither changes the result.

:func:`performer_attention` has the family's call signature and draws fresh features at every call unless
``projection=`` is given; :class:`Performer` is the module for models: it keeps its projection (a buffer, saved
with the model), redraws it on :meth:`Performer.redraw` and, in training, every ``redraw_every`` calls.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .._checks import shape_str
from ._common import check_linear_inputs, key_padding
from .linear import kernel_attention

__all__ = ["default_n_features", "orthogonal_gaussian", "performer_features", "performer_attention",
           "performer_weights", "Performer"]


def default_n_features(d: int) -> int:
    """m = d · ⌈ln d⌉ (at least d), in whole orthogonal blocks: a common default; the paper's Theorem 4 asks for
    Θ(d log(·)/δ²) features for uniform convergence."""
    return d * max(1, math.ceil(math.log(d)))


def orthogonal_gaussian(m: int, d: int, *, generator: torch.Generator | None = None, orthogonal: bool = True,
                        dtype: torch.dtype = torch.float32, device: torch.device | str | None = None) -> Tensor:
    """(m, d) random projection: rows ω_i ~ N(0, I_d), exactly orthogonal within each block of d rows (§2.4).

    Each block is Qᵀ from the QR decomposition of a d × d Gaussian matrix (sign-corrected, so Haar-distributed),
    and each row is scaled to the norm of an independent Gaussian d-vector, so that its length is χ_d-distributed
    as that of an i.i.d. Gaussian row. ``orthogonal=False`` returns i.i.d. Gaussian rows.
    """
    if m <= 0 or d <= 0:
        raise ValueError(f"need a positive number of features m and width d, got m={m}, d={d}")
    if not orthogonal:
        return torch.randn(m, d, generator=generator, dtype=torch.float64).to(dtype=dtype, device=device)
    g = torch.randn(-(-m // d), d, d, generator=generator, dtype=torch.float64)  # one Gaussian matrix per block
    q, r = torch.linalg.qr(g)
    q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1)).unsqueeze(-2)  # unique QR: Q is Haar-distributed
    w = q.transpose(-2, -1).reshape(-1, d)[:m]  # the rows of each Qᵀ are orthonormal
    norms = torch.randn(m, d, generator=generator, dtype=torch.float64).norm(dim=-1, keepdim=True)
    return (w * norms).to(dtype=dtype, device=device)


def performer_features(x: Tensor, projection: Tensor, *, is_query: bool, stabilize: bool = True,
                       keep: Tensor | None = None) -> Tensor:
    """(..., T, d) → (..., T, m): φ(x) = exp(ωᵀx' − ‖x'‖²/2) / √m with x' = x / d^{1/4} (§2.3, Lemma 1).

    ``stabilize`` subtracts max_i ωᵢᵀx' inside the exponential: per row for queries, over all rows (and features)
    for keys (``keep`` (..., T, 1) excludes padded keys from that maximum); the factors cancel in attention.
    """
    if projection.dim() < 2 or projection.shape[-1] != x.shape[-1]:
        raise ValueError(f"projection must have shape (m, d) (or (..., m, d), broadcast against x) with d = "
                         f"{x.shape[-1]} (the head width), got {shape_str(projection.shape)}")
    m, d = projection.shape[-2:]
    xs = x * d ** -0.25
    proj = xs @ projection.to(x.dtype).transpose(-2, -1)  # (..., T, m)
    sq = 0.5 * (xs * xs).sum(dim=-1, keepdim=True)
    if stabilize:
        if is_query:
            proj = proj - proj.amax(dim=-1, keepdim=True).detach()
        else:
            p = proj if keep is None else proj.masked_fill(keep == 0, float("-inf"))
            top = p.amax(dim=(-2, -1), keepdim=True).detach()
            proj = proj - torch.where(torch.isfinite(top), top, torch.zeros_like(top))
    return torch.exp(proj - sq) / math.sqrt(m)


def performer_attention(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None, *, causal: bool = False,
    dropout_p: float = 0.0, need_weights: bool = False, projection: Tensor | None = None,
    n_features: int | None = None, chunk: int = 64, eps: float = 1e-6,
) -> tuple[Tensor, Tensor | None]:
    """FAVOR+ (Choromanski et al. 2021, §2.2–§2.4); same call as the softmax attention.

    ``projection`` (m, d) fixes the random features; without it, m = ``n_features`` (default
    :func:`default_n_features`) orthogonal features are drawn from torch's global generator at this call.
    ``mask`` may only mask keys (broadcast to (..., 1, T_k)); ``need_weights=True`` also returns the
    (..., T_q, T_k) weights applied implicitly (quadratic; for small T only). Causal: the prefix sums of
    linear attention, in chunks of ``chunk``.
    """
    check_linear_inputs(q, k, v, causal, dropout_p, "Performer attention")
    keep = key_padding(mask, q, k, "Performer attention")
    if projection is None:
        m = n_features if n_features is not None else default_n_features(q.shape[-1])
        projection = orthogonal_gaussian(m, q.shape[-1], dtype=q.dtype, device=q.device)
    fq = performer_features(q, projection, is_query=True)
    fk = performer_features(k, projection, is_query=False, keep=keep)
    if keep is not None:
        fk = fk * keep
    out = kernel_attention(fq, fk, v, causal=causal, chunk=chunk, eps=eps)
    weights = None
    if need_weights:
        a = fq @ fk.transpose(-2, -1)
        if causal:
            a = a.tril()
        weights = a / (a.sum(dim=-1, keepdim=True) + eps)
    return out, weights


def performer_weights(q: Tensor, k: Tensor, projection: Tensor, *, causal: bool = False,
                      eps: float = 1e-6) -> Tensor:
    """The (..., T_q, T_k) matrix that FAVOR+ applies implicitly with this projection (for plots)."""
    return performer_attention(q, k, k[..., :1], causal=causal, need_weights=True, projection=projection, eps=eps)[1]


class Performer(nn.Module):
    """FAVOR+ attention that keeps its random features: ``Performer(d)(q, k, v, mask, causal=...)``.

    Same call as every attention of the family. The projection (m, d) is a buffer; :meth:`redraw` draws a new
    one, and in training mode it is redrawn every ``redraw_every`` forward calls (None: only by hand), as the
    paper's experiments redraw the features periodically. Draw number n uses a generator seeded with
    (``seed``, n), so a model is reproducible and resumes exactly from its state dict; without ``seed`` one is
    taken from torch's global generator without advancing it.
    """

    def __init__(self, d: int, n_features: int | None = None, *, redraw_every: int | None = None,
                 orthogonal: bool = True, seed: int | None = None, chunk: int = 64, eps: float = 1e-6) -> None:
        super().__init__()
        if redraw_every is not None and redraw_every <= 0:
            raise ValueError(f"redraw_every must be a positive number of calls or None, got {redraw_every}")
        self.d, self.m = d, n_features if n_features is not None else default_n_features(d)
        self.redraw_every, self.orthogonal, self.chunk, self.eps = redraw_every, orthogonal, chunk, eps
        if seed is None:
            with torch.random.fork_rng(devices=[]):
                seed = int(torch.randint(0, 2**31 - 1, (1,)))
        self.seed = seed
        self.register_buffer("draws", torch.zeros((), dtype=torch.long))
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))
        self.register_buffer("projection", self._draw(0))

    def _draw(self, n: int) -> Tensor:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + n)
        return orthogonal_gaussian(self.m, self.d, generator=g, orthogonal=self.orthogonal)

    @torch.no_grad()
    def redraw(self) -> None:
        """Draw new random features (the next draw of this module's seeded sequence)."""
        self.draws += 1
        self.projection.copy_(self._draw(int(self.draws)))

    def forward(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None, *, causal: bool = False,
                dropout_p: float = 0.0, need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
        if self.training and self.redraw_every is not None:
            if int(self.calls) > 0 and int(self.calls) % self.redraw_every == 0:
                self.redraw()
            self.calls += 1
        return performer_attention(q, k, v, mask, causal=causal, dropout_p=dropout_p, need_weights=need_weights,
                                   projection=self.projection, chunk=self.chunk, eps=self.eps)

    def extra_repr(self) -> str:
        return f"d={self.d}, n_features={self.m}, redraw_every={self.redraw_every}, orthogonal={self.orthogonal}"
