"""Shared fixtures: the smoke-preset build of both editions, made once per test session.

`smoke_site` runs `book/build.py --preset smoke` (incremental: Sphinx environments and the jupyter-cache in
_build/smoke/ are reused) and returns the site folder `_build/smoke/html`; a failed build fails every test
that needs it, with the end of the build log in the report.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load_build_module():
    spec = importlib.util.spec_from_file_location("efftx_book_build", ROOT / "book" / "build.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def book_build():
    """book/build.py as a module (its helpers: edition_toc, site_dir, swap_lang, ...)."""
    return _load_build_module()


@dataclass
class SmokeBuild:
    site: Path  # _build/smoke/html
    output: str  # what the build printed (per-edition summary lines)


@pytest.fixture(scope="session")
def smoke_build(book_build) -> SmokeBuild:
    cmd = [sys.executable, str(ROOT / "book" / "build.py"), "--preset", "smoke", "--quiet"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=3600)
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        pytest.fail(
            f"the smoke build of the book failed (exit {proc.returncode}): {' '.join(cmd)}\n"
            f"--- end of the build log ---\n{output[-15000:]}",
            pytrace=False,
        )
    return SmokeBuild(site=book_build.site_dir("smoke", ROOT), output=output)


@pytest.fixture(scope="session")
def smoke_site(smoke_build) -> Path:
    return smoke_build.site
