"""Generation with and without the KV cache, and the cache's size and decoding speed of MHA, GQA and MQA.

    python -m efftx_mini.bench generate [--json] [--d 256 --heads 8 --layers 4 --new 128,512,2048]

One run on the current device, fp32, a Pre-LN decoder-only LM with untrained weights (speed does not
depend on the values), batch 1, greedy decoding. Timing follows :mod:`efftx_mini.timing`: contenders in an order
shuffled per round, every ratio paired per round and reported as its median with a 95% bootstrap interval
(``*_ci_lo``, ``*_ci_hi``) plus min–max, quartiles and n; each group has an A/A control (the same work timed twice)
and every ratio gets the :func:`efftx_mini.timing.verdict` ("faster" only where its interval clears 1.0 and the
A/A interval contains 1.0).

- per position: seconds to produce the token at position P without the cache (a forward over P + 1
  positions) and with it (one position against P cached keys and values), ``--position-repeats`` rounds; the
  ratio uncached/cached, and the cached step's growth against the first position (same round);
- per generation: tokens/s for ``--new`` new tokens after a 16-token prompt with and without the cache
  (without it only up to ``--max-uncached``), ``--repeats`` rounds, the speed-up of the cache;
- per key/value head count (MHA, GQA, MQA, same d and n_heads): bytes per token per layer and MiB of the
  allocated cache (both from the cache tensors), and the cached generation speed relative to MHA.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import torch

from ..generate import KVCache, generate
from ..lm import DecoderOnlyLM
from ..timing import (
    Spread,
    aa_name,
    git_commit,
    hardware,
    print_table,
    ratio_spread,
    spread,
    time_interleaved,
    verdict,
)

__all__ = ["main", "run"]

PROMPT = 16


def _model(d: int, heads: int, layers: int, max_len: int, n_kv: int | None, dev: torch.device) -> DecoderOnlyLM:
    torch.manual_seed(0)
    return DecoderOnlyLM("pre-ln", 259, d, heads, layers, 4 * d, max_len, n_kv_heads=n_kv).to(dev).eval()


def _ratio(prefix: str, r: Spread, aa: Spread) -> dict[str, Any]:
    """A ratio's median, CI, min–max, quartiles and n under ``prefix``, and its verdict against the A/A control."""
    return {**{k: round(v, 4) if isinstance(v, float) else v for k, v in r.as_dict(prefix).items()},
            f"{prefix}verdict": verdict(r, aa)}


def _aa(t: dict[str, list[float]], name: str) -> dict[str, Any]:
    s = ratio_spread(t[name], t[aa_name(name)])
    return {"aa_control": name, **{k: round(v, 4) if isinstance(v, float) else v for k, v in s.as_dict("aa_").items()}}


def _per_position(m: DecoderOnlyLM, positions: list[int], repeats: int, dev: torch.device,
                  seed: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    cache = KVCache(m, 1, max(positions) + 1)
    tokens = torch.randint(0, 259, (1, max(positions) + 1), generator=torch.Generator().manual_seed(0)).to(dev)
    with torch.no_grad():
        m(tokens[:, : max(positions)], cache=cache)  # fill the cache once; each timed step rewinds to P

    def uncached(P: int):
        return lambda: m(tokens[:, : P + 1])[:, -1]

    def cached(P: int):
        def step() -> torch.Tensor:
            cache.length = P
            cache.n_valid.fill_(P)
            return m(tokens[:, P: P + 1], cache=cache)[:, -1]
        return step

    fns = {}
    for P in positions:
        fns[f"nocache/{P}"], fns[f"cache/{P}"] = uncached(P), cached(P)
    aa_on = f"cache/{positions[len(positions) // 2]}"
    with torch.no_grad():
        t = time_interleaved(fns, repeats=repeats, warmup=1, device=dev, seed=seed, aa_control=aa_on)
    aa = ratio_spread(t[aa_on], t[aa_name(aa_on)])
    rows = []
    first = positions[0]
    for P in positions:
        a, b = spread(t[f"nocache/{P}"]), spread(t[f"cache/{P}"])
        rows.append({"position": P, "nocache_ms": round(a.median * 1e3, 3), "nocache_ms_lo": round(a.lo * 1e3, 3),
                     "nocache_ms_hi": round(a.hi * 1e3, 3), "cache_ms": round(b.median * 1e3, 3),
                     "cache_ms_lo": round(b.lo * 1e3, 3), "cache_ms_hi": round(b.hi * 1e3, 3),
                     **_ratio("speedup_", ratio_spread(t[f"nocache/{P}"], t[f"cache/{P}"]), aa),
                     **_ratio("cache_growth_", ratio_spread(t[f"cache/{P}"], t[f"cache/{first}"]), aa)})
    return rows, _aa(t, aa_on)


def _gen(m: DecoderOnlyLM, n: int, use_cache: bool):
    prompt = [list(range(1, PROMPT + 1))]
    return lambda: generate(m, prompt, n, greedy=True, use_cache=use_cache)


def run(d: int = 256, heads: int = 8, layers: int = 4, new: tuple[int, ...] = (128, 512, 2048),
        max_uncached: int = 512, positions: tuple[int, ...] = (16, 64, 256, 1024, 2048), repeats: int = 10,
        kv_heads: tuple[int, ...] | None = None, device: torch.device | None = None,
        command: str | None = None, position_repeats: int = 20, seed: int = 0) -> dict[str, Any]:
    """Measure; returns {"per_position": [...], "generation": [...], "kv_heads": [...], "aa": {...}, "meta": {...}}."""
    from .. import device as _device
    dev = device or _device()
    commit = git_commit()  # the code that runs now, not whatever HEAD is when the run ends
    kv_heads = kv_heads or tuple(sorted({heads, max(1, heads // 4), 1}, reverse=True))
    max_len = max(max(new) + PROMPT, max(positions) + 1)
    mha = _model(d, heads, layers, max_len, None, dev)
    per_position, aa_pos = _per_position(mha, list(positions), position_repeats, dev, seed)
    generation, aa_gen = [], {}
    for n in new:
        fns = {"cache": _gen(mha, n, True)}
        if n <= max_uncached:
            fns["nocache"] = _gen(mha, n, False)
        t = time_interleaved(fns, repeats=repeats, warmup=1 if n <= 512 else 0, device=dev, seed=seed,
                             aa_control="cache")
        aa = ratio_spread(t["cache"], t[aa_name("cache")])
        aa_gen[str(n)] = _aa(t, "cache")
        c = spread(t["cache"])
        row: dict[str, Any] = {"new_tokens": n, "cache_tok_s": round(n / c.median, 1),
                               "cache_tok_s_lo": round(n / c.hi, 1), "cache_tok_s_hi": round(n / c.lo, 1),
                               "nocache_tok_s": None, "nocache_tok_s_lo": None, "nocache_tok_s_hi": None,
                               "aa_ci_lo": aa_gen[str(n)]["aa_ci_lo"], "aa_ci_hi": aa_gen[str(n)]["aa_ci_hi"]}
        if "nocache" in t:
            u = spread(t["nocache"])
            row.update(nocache_tok_s=round(n / u.median, 1), nocache_tok_s_lo=round(n / u.hi, 1),
                       nocache_tok_s_hi=round(n / u.lo, 1), **_ratio("speedup_", ratio_spread(t["nocache"], t["cache"]),
                                                                     aa))
        generation.append(row)
    n_mid = 512 if 512 in new else min(new)
    models = {h: (mha if h == heads else _model(d, heads, layers, max_len, h, dev)) for h in kv_heads}
    names = {h: "MHA" if h == heads else ("MQA" if h == 1 else f"GQA-{h}") for h in kv_heads}
    t = time_interleaved({names[h]: _gen(m, n_mid, True) for h, m in models.items()}, repeats=repeats, warmup=1,
                         device=dev, seed=seed, aa_control=names[heads])
    aa = ratio_spread(t[names[heads]], t[aa_name(names[heads])])
    aa_kv = _aa(t, names[heads])
    kv_rows = []
    for h, m in models.items():
        cache = KVCache(m, 1, PROMPT + n_mid)
        s = spread(t[names[h]])
        kv_rows.append({"attention": names[h].split("-")[0], "n_kv_heads": h,
                        "bytes_per_token_per_layer": cache.bytes_per_token_per_layer,
                        "cache_mib": round(cache.nbytes / 2**20, 4), "cache_vs_mha": h / heads,
                        "params": sum(p.numel() for p in m.parameters()),
                        f"cache_tok_s_{n_mid}": round(n_mid / s.median, 1),
                        **_ratio("speed_vs_mha_", ratio_spread(t[names[heads]], t[names[h]]), aa)})
    if command is None:
        command = f"efftx_mini.bench.generate.run(d={d}, heads={heads}, layers={layers}, new={new})"
    meta = {"command": command, "commit": commit, "hardware": hardware(), "device": str(dev), "dtype": "float32",
            "d_model": d, "n_heads": heads, "layers": layers, "d_ff": 4 * d, "block": "pre-ln", "batch": 1,
            "prompt_tokens": PROMPT, "repeats": repeats, "position_repeats": position_repeats,
            "max_uncached": max_uncached, "shuffle_seed": seed,
            "cache_mib_for": f"batch 1, {PROMPT} + {n_mid} positions, all layers",
            "statistics": "median and 95% bootstrap CI of per-round paired ratios (efftx_mini.timing); verdict "
                          "'faster' only where ci_lo > 1 and the A/A CI contains 1"}
    return {"per_position": per_position, "generation": generation, "kv_heads": kv_rows,
            "aa": {"per_position": aa_pos, "generation": aa_gen, "kv_heads": aa_kv}, "meta": meta}


def _ints(s: str) -> tuple[int, ...]:
    return tuple(int(v) for v in s.split(","))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m efftx_mini.bench generate", description=__doc__.split("\n")[0])
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    p.add_argument("--d", type=int, default=256)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--new", type=_ints, default=(128, 512, 2048), help="new-token counts, comma-separated")
    p.add_argument("--max-uncached", type=int, default=512, help="largest count also generated without the cache")
    p.add_argument("--positions", type=_ints, default=(16, 64, 256, 1024, 2048))
    p.add_argument("--kv-heads", type=_ints, default=None, help="key/value head counts (default: H, H/4, 1)")
    p.add_argument("--repeats", type=int, default=10, help="rounds for whole generations")
    p.add_argument("--position-repeats", type=int, default=20, help="rounds for the single steps per position")
    p.add_argument("--seed", type=int, default=0, help="seed of the per-round shuffling")
    a = p.parse_args(argv)
    argv = list(sys.argv[2:] if argv is None else argv)
    res = run(a.d, a.heads, a.layers, a.new, a.max_uncached, a.positions, a.repeats, a.kv_heads,
              command=" ".join(["python -m efftx_mini.bench generate", *argv]), position_repeats=a.position_repeats,
              seed=a.seed)
    if a.json:
        print(json.dumps(res, indent=1))
    else:
        cols = {"per_position": ["position", "nocache_ms", "cache_ms", "speedup_median", "speedup_ci_lo",
                                 "speedup_ci_hi", "speedup_verdict", "cache_growth_median", "cache_growth_ci_lo",
                                 "cache_growth_ci_hi"],
                "generation": ["new_tokens", "cache_tok_s", "nocache_tok_s", "speedup_median", "speedup_ci_lo",
                               "speedup_ci_hi", "speedup_verdict", "aa_ci_lo", "aa_ci_hi"],
                "kv_heads": ["attention", "n_kv_heads", "bytes_per_token_per_layer", "cache_mib",
                             "speed_vs_mha_median", "speed_vs_mha_ci_lo", "speed_vs_mha_ci_hi",
                             "speed_vs_mha_verdict"]}
        for key, columns in cols.items():
            print_table(res[key], columns)
            print()
        print(f"A/A controls: {json.dumps(res['aa'])}")
        print(f"{res['meta']['hardware']}; d={a.d}, H={a.heads}, {a.layers} layers, fp32, batch 1, greedy")
    return 0
