"""Shared by every lab's public tests: ``lab`` is the lab's adapter (``adapter.py`` next to the test file), which
points at your implementation (``solution.py``, made by copying ``stub.py``).

The repository's own tests run each suite with ``EFFTX_LAB_IMPL`` set to a file (the reference solution, or the
unfilled stub, which must fail); students never need to set it.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch


def load_file(path: Path, name: str):
    """Import the Python file ``path`` as a module called ``name``."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def lab(request):
    folder = Path(request.path).parent
    return load_file(folder / "adapter.py", f"efftx_lab_{folder.name}_adapter")


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield

