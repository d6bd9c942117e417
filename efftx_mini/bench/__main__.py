"""Dispatch ``python -m efftx_mini.bench NAME [options]`` to ``efftx_mini.bench.NAME.main``."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import efftx_mini.bench as _pkg


def available() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(_pkg.__path__) if not m.name.startswith("_"))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    names = available()
    if not argv or argv[0] in {"-h", "--help"} or argv[0] not in names:
        print(f"usage: python -m efftx_mini.bench {{{','.join(names)}}} [--json] [options]", file=sys.stderr)
        return 0 if argv and argv[0] in {"-h", "--help"} else 2
    module = importlib.import_module(f"efftx_mini.bench.{argv[0]}")
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
