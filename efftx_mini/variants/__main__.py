"""``python -m efftx_mini.variants --seed N [--lang ko] [--answers] [--chapter 06 ...]``: print the variant
exercises as Markdown (questions only, or with the answer key)."""

from __future__ import annotations

import argparse
import sys

from . import LANGS, chapters, render, seed_from_env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m efftx_mini.variants", description=__doc__)
    parser.add_argument("--seed", type=int, default=None, help="the instructor's seed (default: $EFFTX_VARIANT or 0)")
    parser.add_argument("--lang", choices=LANGS, default="en")
    parser.add_argument("--answers", action="store_true", help="print the answer key (the instructor's copy)")
    parser.add_argument("--chapter", nargs="*", choices=chapters(), default=None, help="only these chapters")
    args = parser.parse_args(argv)
    seed = seed_from_env() if args.seed is None else args.seed
    if seed < 0:
        parser.error(f"--seed must be a non-negative integer, got {seed}")
    sys.stdout.write(render(seed, args.lang, args.answers, args.chapter))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
