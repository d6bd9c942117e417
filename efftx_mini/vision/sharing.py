"""Weight multiplexing (MiniViT, Zhang et al. 2022, §3.2): weight sharing + weight transformation + weight
distillation, as the authors' code does it (microsoft/Cream, MiniViT: Mini-DeiT and Mini-Swin).

- *Sharing.* ``repeated_times`` = r consecutive layers use one block's matrices (W^QKV, W^P, W_1, W_2); a
  depth-L model stores L/r blocks (Mini-DeiT: ``RepeatedMiniBlock``, r = 2). LayerNorms stay per layer.
- *Transformation.* Per layer, two H×H maps across the heads, on the attention logits before the softmax
  and on the attention weights after it (Mini-DeiT's ``conv_l`` and ``conv_w``, 1×1 convolutions over the
  head axis without bias), and before the MLP a LayerNorm followed by a residual depthwise k×k convolution
  over the token grid (Mini-Swin's ``local_norm`` / ``local_conv``).
- *Distillation* (:class:`WeightDistillationLoss`): the student learns the unshared teacher's soft logits,
  the relations Softmax(X_i X_jᵀ/√d) for X_i, X_j ∈ {Q, K, V} of chosen layers, and the cosine relations of
  their outputs (Mini-Swin ``main.py``: ``cal_relation_loss``, ``cal_hidden_relation_loss``).

With identity head maps, no MLP transformation and r = 1 the model computes exactly a Pre-LN :class:`ViT`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from .._checks import shape_str
from .patches import grid_tokens, tokens_grid
from .vit import ViT

__all__ = ["SharedWeights", "MultiplexedBlock", "SharedViT", "head_mixed_attention", "layer_qkv",
           "WeightDistillationLoss"]


class SharedWeights(nn.Module):
    """The one copy of a Pre-LN block's matrices: qkv (d → 3d), proj (d → d), fc1 (d → d_ff), fc2 (d_ff → d)."""

    def __init__(self, d_model: int, d_ff: int) -> None:
        super().__init__()
        self.qkv, self.proj = nn.Linear(d_model, 3 * d_model), nn.Linear(d_model, d_model)
        self.fc1, self.fc2 = nn.Linear(d_model, d_ff), nn.Linear(d_ff, d_model)
        nn.init.xavier_uniform_(self.qkv.weight)
        nn.init.zeros_(self.qkv.bias)
        nn.init.zeros_(self.proj.bias)


def head_mixed_attention(q: Tensor, k: Tensor, v: Tensor, mix_logits: Tensor | None = None,
                         mix_weights: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """MiniViT §3.2's attention transformation: A = F_w · softmax(F_l · QKᵀ/√e), out = A V.

    q, k, v (B, H, T, e); F_l, F_w (H, H) act on the head axis (out head g = Σ_h F[g, h] · head h), as the
    authors' 1×1 convolutions over heads do. Returns (out (B, H, T, e), A (B, H, T, T)); None = identity."""
    if q.dim() != 4 or k.shape != q.shape or v.shape != q.shape:
        raise ValueError(f"q, k, v must share one shape (B, H, T, e), got {shape_str(q.shape)}, "
                         f"{shape_str(k.shape)}, {shape_str(v.shape)}")
    H = q.shape[1]
    for name, m in (("mix_logits", mix_logits), ("mix_weights", mix_weights)):
        if m is not None and m.shape != (H, H):
            raise ValueError(f"{name} must have shape ({H}, {H}) for {H} heads, got {shape_str(m.shape)}")
    logits = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if mix_logits is not None:
        logits = torch.einsum("gh,bhij->bgij", mix_logits, logits)
    a = logits.softmax(dim=-1)
    if mix_weights is not None:
        a = torch.einsum("gh,bhij->bgij", mix_weights, a)
    return a @ v, a


class MultiplexedBlock(nn.Module):
    """One layer: a Pre-LN block on (possibly shared) matrices, with its own LayerNorms and transformations.

    ``transform`` adds the two head maps (initialised to the identity); ``mlp_transform`` (default: same as
    ``transform``) adds LN then x + DWConv_k×k(x) on the patch tokens before the MLP (conv initialised to 0)."""

    def __init__(self, shared: SharedWeights, d_model: int, n_heads: int, d_ff: int, grid: tuple[int, int],
                 n_extra: int, *, transform: bool = True, mlp_transform: bool | None = None,
                 kernel: int = 3) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"n_heads must divide d_model, got d_model={d_model}, n_heads={n_heads}")
        if kernel < 1 or kernel % 2 == 0:
            raise ValueError(f"kernel must be a positive odd int (same-size convolution), got {kernel}")
        self.shared = shared  # the same module object in every layer of a group: one storage
        self.n_heads, self.grid, self.n_extra, self.transform = n_heads, grid, n_extra, transform
        self.mlp_transform = transform if mlp_transform is None else mlp_transform
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        if transform:
            self.mix_logits = nn.Parameter(torch.eye(n_heads))
            self.mix_weights = nn.Parameter(torch.eye(n_heads))
        if self.mlp_transform:
            self.mlp_norm = nn.LayerNorm(d_model)
            self.mlp_conv = nn.Conv2d(d_model, d_model, kernel, padding=kernel // 2, groups=d_model)
            nn.init.zeros_(self.mlp_conv.weight)
            nn.init.zeros_(self.mlp_conv.bias)

    def own_parameters(self) -> int:
        """Entries that belong to this layer alone (norms and transformations)."""
        return sum(p.numel() for n, p in self.named_parameters() if not n.startswith("shared."))

    def _mixes(self) -> tuple[Tensor | None, Tensor | None]:
        return (self.mix_logits, self.mix_weights) if self.transform else (None, None)

    def qkv(self, x: Tensor) -> Tensor:
        """(B, T, d) block input → [Q K V] (B, T, 3d) before the heads are split (what weight distillation reads)."""
        return self.shared.qkv(self.norm1(x))

    def attention_probs(self, x: Tensor) -> Tensor:
        """(B, T, d) → the attention matrices (B, H, T, T) this layer applies (after both head maps)."""
        q, k, v = (rearrange(t, "b t (h e) -> b h t e", h=self.n_heads) for t in self.qkv(x).chunk(3, dim=-1))
        return head_mixed_attention(q, k, v, *self._mixes())[1]

    def forward(self, x: Tensor) -> Tensor:
        q, k, v = (rearrange(t, "b t (h e) -> b h t e", h=self.n_heads) for t in self.qkv(x).chunk(3, dim=-1))
        out, _ = head_mixed_attention(q, k, v, *self._mixes())
        x = x + self.shared.proj(rearrange(out, "b h t e -> b t (h e)"))
        if self.mlp_transform:  # Mini-Swin: x = LN(x); x = x + DWConv(x), here on the patch tokens' grid
            x = self.mlp_norm(x)
            extra, patches = x[:, : self.n_extra], x[:, self.n_extra:]
            patches = patches + tokens_grid(self.mlp_conv(grid_tokens(patches, self.grid)))
            x = torch.cat([extra, patches], dim=1)
        return x + self.shared.fc2(F.gelu(self.shared.fc1(self.norm2(x))))


class SharedViT(ViT):
    """MiniViT: a ViT whose ``depth`` layers are :class:`MultiplexedBlock` s, every ``repeated_times``
    consecutive layers on one :class:`SharedWeights` (default: all layers on one)."""

    def __init__(self, image_size: int = 28, patch: int = 7, in_channels: int = 1, n_classes: int = 10,
                 d_model: int = 64, depth: int = 4, n_heads: int = 4, d_ff: int = 128, *, pool: str = "cls",
                 positions: str = "learned", transform: bool = True, repeated_times: int | None = None,
                 mlp_transform: bool | None = None, kernel: int = 3) -> None:
        super().__init__(image_size, patch, in_channels, n_classes, d_model, 1, n_heads, d_ff, pool=pool,
                         positions=positions)
        r = depth if repeated_times is None else repeated_times
        if isinstance(r, bool) or not isinstance(r, int) or r < 1 or depth % r:
            raise ValueError(f"repeated_times must be a positive divisor of depth={depth}, got {repeated_times!r}")
        self.depth, self.repeated_times = depth, r
        self.shared = nn.ModuleList(SharedWeights(d_model, d_ff) for _ in range(depth // r))
        self.blocks = nn.ModuleList(
            MultiplexedBlock(self.shared[i // r], d_model, n_heads, d_ff, self.grid, self.n_extra,
                             transform=transform, mlp_transform=mlp_transform, kernel=kernel)
            for i in range(depth))
        self.norm = nn.LayerNorm(d_model)


def layer_qkv(block: nn.Module, x: Tensor) -> Tensor:
    """[Q K V] (B, T, 3d) that ``block`` computes from its input x (B, T, d): multiplexed or Pre-LN blocks."""
    if isinstance(block, MultiplexedBlock):
        return block.qkv(x)
    if hasattr(block, "qkv") and hasattr(block, "norm1") and getattr(block, "norm_first", False):
        return block.qkv(block.norm1(x))
    raise TypeError(f"layer_qkv reads Pre-LN and multiplexed blocks, got {type(block).__name__}")


def _soft_ce(student: Tensor, teacher: Tensor) -> Tensor:
    """Mean over rows of −Σ softmax(teacher) · log_softmax(student) (Mini-Swin's ``soft_cross_entropy``)."""
    return -(teacher.softmax(-1) * student.log_softmax(-1)).sum(-1).mean()


def _run_capturing(model: ViT, images: Tensor, layers: Sequence[int]) -> tuple[Tensor, dict[int, Tensor],
                                                                               dict[int, Tensor]]:
    """logits, and the inputs and outputs of ``model.blocks[l]`` for l in ``layers``."""
    ins: dict[int, Tensor] = {}
    outs: dict[int, Tensor] = {}
    hooks = []
    for layer in layers:
        blk = model.blocks[layer]
        hooks.append(blk.register_forward_pre_hook(lambda m, a, i=layer: ins.__setitem__(i, a[0])))
        hooks.append(blk.register_forward_hook(lambda m, a, o, i=layer: outs.__setitem__(i, o)))
    try:
        logits = model(images)
    finally:
        for h in hooks:
            h.remove()
    return logits, ins, outs


class WeightDistillationLoss:
    """MiniViT's weight distillation as a training loss ``loss(student, images, labels)``.

    L = α·CE(z_s, y) + (1 − α)·CE_soft(z_s/τ, z_t/τ) + β·L_attn + γ·L_hidden, with the teacher run (no
    gradient, eval mode) on the same images. L_attn averages, over the chosen layers and the 9 pairs
    (i, j) ∈ {Q, K, V}², the soft cross-entropy between the rows of Softmax(X_i X_jᵀ/√(d/A_r)) of teacher and
    student (A_r relation heads); L_hidden is the mean squared difference of the cosine-similarity matrices of
    the layers' outputs, times T (Mini-Swin multiplies by its window's 49 tokens). Defaults are the authors'
    training commands: α = 0, τ = 1, β = 1, γ = 0.1, A_r = 1.
    """

    def __init__(self, teacher: ViT, layers: Sequence[int], teacher_layers: Sequence[int] | None = None, *,
                 alpha: float = 0.0, tau: float = 1.0, attn_weight: float = 1.0, hidden_weight: float = 0.1,
                 relation_heads: int = 1) -> None:
        teacher_layers = list(layers) if teacher_layers is None else list(teacher_layers)
        if len(teacher_layers) != len(layers):
            raise ValueError(f"layers and teacher_layers must pair up, got {list(layers)} and {teacher_layers}")
        if not 0.0 <= alpha <= 1.0 or tau <= 0:
            raise ValueError(f"need 0 <= alpha <= 1 and tau > 0, got alpha={alpha}, tau={tau}")
        self.teacher, self.layers, self.teacher_layers = teacher.eval(), list(layers), teacher_layers
        self.alpha, self.tau, self.attn_weight, self.hidden_weight = alpha, tau, attn_weight, hidden_weight
        self.relation_heads = relation_heads
        for p in teacher.parameters():
            p.requires_grad_(False)

    def relations(self, qkv: Tensor) -> Tensor:
        """(B, T, 3d) → the 9 relation logits X_i X_jᵀ/√(d/A_r), (B, 3, 3, A_r, T, T) for (i, j) ∈ {Q, K, V}²."""
        x = rearrange(qkv, "b t (i a e) -> b i a t e", i=3, a=self.relation_heads)
        return torch.einsum("biase,bjate->bijast", x, x) / math.sqrt(x.shape[-1])

    @staticmethod
    def hidden_relation(h: Tensor) -> Tensor:
        """(B, T, d) → cosine similarities (B, T, T) of the tokens."""
        h = F.normalize(h, dim=-1)
        return h @ h.transpose(-1, -2)

    def parts(self, student: ViT, images: Tensor, labels: Tensor) -> dict[str, Tensor]:
        """The loss terms: ce, pred, attn, hidden and the weighted total ``loss``."""
        self.teacher.eval()
        z_s, ins_s, outs_s = _run_capturing(student, images, self.layers)
        with torch.no_grad():
            z_t, ins_t, outs_t = _run_capturing(self.teacher, images, self.teacher_layers)
        zero = z_s.new_zeros(())
        ce = F.cross_entropy(z_s, labels) if self.alpha > 0 else zero
        pred = _soft_ce(z_s / self.tau, z_t / self.tau)
        attn, hidden = zero, zero
        for ls, lt in zip(self.layers, self.teacher_layers, strict=True):
            if self.attn_weight:
                rs = self.relations(layer_qkv(student.blocks[ls], ins_s[ls]))
                with torch.no_grad():
                    rt = self.relations(layer_qkv(self.teacher.blocks[lt], ins_t[lt]))
                attn = attn + _soft_ce(rs, rt)  # the mean over rows is also the mean over the 9 pairs
            if self.hidden_weight:
                hs, ht = self.hidden_relation(outs_s[ls]), self.hidden_relation(outs_t[lt])
                hidden = hidden + (hs - ht).square().mean() * hs.shape[-1]
        n = len(self.layers) or 1
        attn, hidden = attn / n, hidden / n
        loss = self.alpha * ce + (1 - self.alpha) * pred + self.attn_weight * attn + self.hidden_weight * hidden
        return {"loss": loss, "ce": ce, "pred": pred, "attn": attn, "hidden": hidden}

    def __call__(self, student: ViT, images: Tensor, labels: Tensor) -> Tensor:
        return self.parts(student, images, labels)["loss"]
