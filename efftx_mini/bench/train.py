"""Training throughput (tokens/s, forward + backward + Adam step) of our Transformer vs torch.nn.Transformer.

Both models share the configuration (post-LN, d, h, N, d_ff, dropout), the embeddings scaled by √d, the
sinusoidal positions and the tied generator; only the encoder/decoder stacks differ. The two training steps run
in rounds in a shuffled order, and torch.nn's step is timed twice per round (the A/A control). ``speed_vs_torch``
is torch.nn's time / ours per round (above 1: ours is faster): the JSON holds its median with the 95% bootstrap
interval, min–max, quartiles and n (``speed_vs_torch_*``), the A/A ratio (``speed_vs_torch_aa_*``) and the verdict
of ``efftx_mini.timing.verdict`` (faster or slower only where the interval excludes 1.0 and the A/A interval
contains 1.0). ``python -m efftx_mini.bench train [--json] [--preset cpu]``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

import torch
from torch import Tensor, nn

from .. import device as default_device
from .. import pick
from ..data import PAD, make_batch
from ..positional import SinusoidalPositionalEncoding
from ..timing import git_commit, hardware, print_table, spread, time_interleaved
from ..train import LabelSmoothingLoss, autocast_settings, make_optimizer
from ..transformer import Transformer
from ._ratios import aa_spread, fmt_ratio, speed_fields

REF = "torch.nn"  #: the reference, timed twice per round (A/A control)


class TorchTransformer(nn.Module):
    """The same model as :class:`efftx_mini.transformer.Transformer`, with ``torch.nn.Transformer`` stacks."""

    def __init__(self, src_vocab: int, tgt_vocab: int, d_model: int, n_heads: int, n_layers: int, d_ff: int,
                 dropout: float, pad_id: int = PAD) -> None:
        super().__init__()
        self.d_model, self.pad_id = d_model, pad_id
        self.src_embed, self.tgt_embed = nn.Embedding(src_vocab, d_model), nn.Embedding(tgt_vocab, d_model)
        self.src_pos = SinusoidalPositionalEncoding(d_model, 512, dropout)
        self.tgt_pos = SinusoidalPositionalEncoding(d_model, 512, dropout)
        enc = nn.TransformerEncoderLayer(d_model, n_heads, d_ff, dropout, batch_first=True, norm_first=False)
        dec = nn.TransformerDecoderLayer(d_model, n_heads, d_ff, dropout, batch_first=True, norm_first=False)
        # post-LN stacks without the extra final LayerNorm that nn.Transformer adds by default
        self.core = nn.Transformer(d_model, n_heads, custom_encoder=nn.TransformerEncoder(enc, n_layers,
                                   enable_nested_tensor=False), custom_decoder=nn.TransformerDecoder(dec, n_layers),
                                   batch_first=True)
        self.generator = nn.Linear(d_model, tgt_vocab)
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
        self.generator.weight = self.tgt_embed.weight

    def forward(self, src: Tensor, tgt: Tensor) -> Tensor:
        causal = nn.Transformer.generate_square_subsequent_mask(tgt.shape[1], device=tgt.device, dtype=torch.bool)
        s = self.src_pos(self.src_embed(src) * math.sqrt(self.d_model))
        t = self.tgt_pos(self.tgt_embed(tgt) * math.sqrt(self.d_model))
        src_pad, tgt_pad = src == self.pad_id, tgt == self.pad_id  # True = ignore (torch's convention)
        h = self.core(s, t, tgt_mask=causal, src_key_padding_mask=src_pad, tgt_key_padding_mask=tgt_pad,
                      memory_key_padding_mask=src_pad, tgt_is_causal=True)
        return self.generator(h)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m efftx_mini.bench train", description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true")
    p.add_argument("--preset", choices=["smoke", "cpu", "gpu"], default=None)
    p.add_argument("--repeats", type=int, default=None)
    args = p.parse_args(argv)
    cfg = pick(
        smoke=dict(d_model=64, n_heads=4, n_layers=1, d_ff=128, batch=16, src_len=12, tgt_len=12, repeats=3),
        cpu=dict(d_model=256, n_heads=4, n_layers=2, d_ff=1024, batch=32, src_len=24, tgt_len=24, repeats=10),
        gpu=dict(d_model=512, n_heads=8, n_layers=6, d_ff=2048, batch=64, src_len=128, tgt_len=128, repeats=20),
        preset=args.preset,
    )
    repeats = cfg["repeats"] = args.repeats or cfg["repeats"]
    dev = default_device()
    V, dropout = 1000, 0.1
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    src = torch.randint(4, V, (cfg["batch"], cfg["src_len"]), generator=g)
    tgt = torch.randint(4, V, (cfg["batch"], cfg["tgt_len"] + 1), generator=g)
    for i in range(cfg["batch"]):  # ragged lengths, so that the padding masks matter
        src[i, cfg["src_len"] - i % 5 :] = PAD
        tgt[i, cfg["tgt_len"] + 1 - i % 4 :] = PAD
    batch = make_batch(src, tgt).to(dev)
    amp, amp_dtype, _ = autocast_settings(dev)
    dims = (cfg["d_model"], cfg["n_heads"], cfg["n_layers"], cfg["d_ff"], dropout)
    ours = Transformer(V, V, *dims, pad_id=PAD, max_len=512).to(dev)
    theirs = TorchTransformer(V, V, *dims).to(dev)
    crit = LabelSmoothingLoss(V, PAD, 0.1)

    def trainer(model: nn.Module, call):  # noqa: ANN001
        opt = make_optimizer(model, lr=1e-4)
        model.train()

        def step() -> None:
            with torch.autocast(dev.type, dtype=amp_dtype, enabled=amp):
                logits = call(model)
            loss = crit(logits, batch.tgt_out) / batch.n_tokens
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

        return step

    fns = {
        "efftx_mini": trainer(ours, lambda m: m(batch.src, batch.tgt_in, batch.src_mask, batch.tgt_mask)),
        "torch.nn": trainer(theirs, lambda m: m(batch.src, batch.tgt_in)),
    }
    samples = time_interleaved(fns, repeats=repeats, warmup=2, device=dev, aa_control=REF)
    times = {k: spread(v).median for k, v in samples.items()}
    tokens = batch.n_tokens
    rows = []
    for k, t in times.items():
        row = {"model": k, "ms/step": 1e3 * t, "tokens/s": tokens / t}
        if k == "efftx_mini":  # per-round speed ratios t_torch / t_ours: paired, so load drifts cancel
            row.update(speed_fields(samples, REF, k, "speed_vs_torch"))
        elif k == REF:
            row["speed_vs_torch_verdict"] = "reference"
        else:  # the A/A control: torch.nn's time / its second copy's, per round
            row.update(aa_spread(samples, REF).as_dict("speed_vs_torch_"))
            row["speed_vs_torch_verdict"] = "A/A control"
        rows.append(row)
    meta = {"benchmark": "train", "config": cfg, "tokens_per_step": tokens, "amp": str(amp_dtype) if amp else "off",
            "device": str(dev), "hardware": hardware(), "commit": git_commit(), "repeats": repeats, "aa_control": REF,
            "command": " ".join(["python -m efftx_mini.bench train", *(sys.argv[1:] if argv is None else argv)])}
    if args.json:
        print(json.dumps({**meta, "rows": rows}, indent=2))
    else:
        print(f"# training step (fwd+bwd+Adam), {meta['hardware']}, config {cfg}, {tokens} target tokens/step, "
              f"{repeats} shuffled rounds; speed vs torch: median [95% CI] of the per-round ratios")
        print_table([{**r, "speed vs torch": fmt_ratio(r, "speed_vs_torch", 3),
                      "verdict": r["speed_vs_torch_verdict"]} for r in rows],
                    ["model", "ms/step", "tokens/s", "speed vs torch", "verdict"])
    return 0
