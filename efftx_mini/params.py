"""Parameter counts of the encoder–decoder transformer (Vaswani et al. 2017, §3.1–§3.4, Table 3).

:func:`count_parameters` counts what a module really holds (shared tensors once);
:func:`transformer_param_formula` gives the same numbers in closed form for
:class:`efftx_mini.transformer.Transformer`, so the two can check each other.
"""

from __future__ import annotations

from torch import nn

__all__ = ["count_parameters", "transformer_param_formula", "layer_param_formulas"]

_COMPONENTS = ("src_embed", "tgt_embed", "encoder", "decoder", "generator")


def count_parameters(module: nn.Module, depth: int = 1) -> dict[str, int]:
    """Number of scalar parameters of ``module`` grouped by the first ``depth`` parts of their names.

    A tensor shared by several submodules (tied embeddings) is counted once, under the name it
    was registered with first; a group whose tensors were all counted elsewhere shows 0.
    Works on the ``meta`` device (nothing needs to be allocated).
    Returns ``{group: count, ..., "total": count}``.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise ValueError(f"depth must be a positive int, got {depth!r}")
    # every group that holds a parameter appears, even if all of its tensors were counted elsewhere
    counts = {".".join(n.split(".")[:depth]): 0 for n, _ in module.named_parameters(remove_duplicate=False)}
    for name, p in module.named_parameters(remove_duplicate=True):
        group = ".".join(name.split(".")[:depth])
        counts[group] = counts.get(group, 0) + p.numel()
    counts["total"] = sum(counts.values())
    return counts


def layer_param_formulas(d_model: int, d_ff: int, bias: bool = True) -> dict[str, int]:
    """Closed-form sizes of the pieces of one layer (§3.2.2, §3.3, LayerNorm of Ba et al. 2016).

    - ``attention``: W^Q, W^K, W^V, W^O (4·d²) and their biases (4·d);
    - ``ffn``: W_1 (d·d_ff), b_1 (d_ff), W_2 (d_ff·d), b_2 (d) — Eq. (2);
    - ``layer_norm``: gain and bias (2·d);
    - ``encoder_layer`` = attention + ffn + 2 LayerNorms; ``decoder_layer`` = 2 attentions + ffn + 3 LayerNorms.
    """
    _check_positive(d_model=d_model, d_ff=d_ff)
    d = d_model
    attention = 4 * d * d + (4 * d if bias else 0)
    ffn = 2 * d * d_ff + d_ff + d
    layer_norm = 2 * d
    return {
        "attention": attention,
        "ffn": ffn,
        "layer_norm": layer_norm,
        "encoder_layer": attention + ffn + 2 * layer_norm,
        "decoder_layer": 2 * attention + ffn + 3 * layer_norm,
    }


def transformer_param_formula(
    src_vocab: int,
    tgt_vocab: int,
    d_model: int = 512,
    n_layers: int = 6,
    d_ff: int = 2048,
    norm_first: bool = False,
    *,
    tie_embeddings: bool = True,
    share_src_embed: bool = False,
) -> dict[str, int]:
    """Closed-form parameter count of :class:`~efftx_mini.transformer.Transformer`, by component.

    Keys match ``count_parameters(model)``: ``src_embed``, ``tgt_embed``, ``encoder``, ``decoder``,
    ``generator``, ``total``. Pre-LN stacks (``norm_first``) add one final LayerNorm each.
    ``tie_embeddings`` shares the output matrix with the target embedding (§3.4); its bias stays.
    ``share_src_embed`` also shares the source embedding with the target one (the paper's
    three-way tying with a joint vocabulary, §3.4); it needs ``src_vocab == tgt_vocab`` and, in
    :func:`count_parameters`, the shared tensor appears under ``src_embed``. The number of heads
    does not change the count (the heads split d_model).
    """
    _check_positive(src_vocab=src_vocab, tgt_vocab=tgt_vocab, d_model=d_model, n_layers=n_layers, d_ff=d_ff)
    if share_src_embed and src_vocab != tgt_vocab:
        raise ValueError(
            f"share_src_embed needs one joint vocabulary: expected src_vocab == tgt_vocab, "
            f"got src_vocab={src_vocab}, tgt_vocab={tgt_vocab}"
        )
    d = d_model
    layer = layer_param_formulas(d_model, d_ff)
    final_norm = layer["layer_norm"] if norm_first else 0
    counts = {
        "src_embed": src_vocab * d,
        "tgt_embed": 0 if share_src_embed else tgt_vocab * d,
        "encoder": n_layers * layer["encoder_layer"] + final_norm,
        "decoder": n_layers * layer["decoder_layer"] + final_norm,
        "generator": tgt_vocab + (0 if tie_embeddings else tgt_vocab * d),
    }
    counts["total"] = sum(counts[k] for k in _COMPONENTS)
    return counts


def _check_positive(**values: int) -> None:
    for name, v in values.items():
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"{name} must be an int, got {type(v).__name__}")
        if v <= 0:
            raise ValueError(f"{name} must be positive, got {v}")
