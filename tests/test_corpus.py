"""The stdlib code corpus: which files, deterministic split and batches, byte tokens."""

from __future__ import annotations

import sysconfig
import zlib
from pathlib import Path

import pytest
import torch

from efftx_mini.corpus import SEP, VOCAB_SIZE, CodeCorpus, stdlib_files


def _tree(root: Path) -> None:
    for rel, text in {"a.py": "print('a')\n", "pkg/b.py": "x = 1\n" * 50, "pkg/tests/t.py": "TEST",
                      "test/c.py": "TEST", "site-packages/s.py": "SITE", "z.txt": "no", "pkg/__init__.py": ""}.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


def test_file_selection_sorted_without_tests_or_site_packages(tmp_path: Path) -> None:
    _tree(tmp_path)
    assert [p.as_posix() for p in stdlib_files(tmp_path)] == ["a.py", "pkg/__init__.py", "pkg/b.py"]


def test_split_by_file_hash_and_tokens(tmp_path: Path) -> None:
    _tree(tmp_path)
    c = CodeCorpus(tmp_path, valid_percent=50) if _both_splits(tmp_path, 50) else None
    if c is None:  # the toy tree happens to put every file on one side: use a split that has both
        pct = next(p for p in range(1, 100) if _both_splits(tmp_path, p))
        c = CodeCorpus(tmp_path, valid_percent=pct)
    for split, files in c.files.items():
        expected = b"".join((tmp_path / f).read_bytes() for f in files)
        toks = c.tokens[split]
        assert toks.numel() == len(expected) + len(files)  # one SEP per file
        assert bytes(toks[toks != SEP].to(torch.uint8).tolist()) == expected
    assert VOCAB_SIZE == 259


def _both_splits(root: Path, pct: int) -> bool:
    sides = {zlib.crc32(p.as_posix().encode()) % 100 < pct for p in stdlib_files(root)}
    return sides == {True, False}


def test_batches_are_deterministic_shifted_and_in_range() -> None:
    c = CodeCorpus(max_files=80, valid_percent=30)
    a = list(zip(range(3), c.batches("train", 4, 16, seed=7), strict=False))
    b = list(zip(range(3), c.batches("train", 4, 16, seed=7), strict=False))
    for (_, (x1, y1)), (_, (x2, y2)) in zip(a, b, strict=True):
        assert torch.equal(x1, x2) and torch.equal(y1, y2)
        assert x1.shape == (4, 16) and x1.dtype == torch.long
        assert torch.equal(x1[:, 1:], y1[:, :-1])
        assert int(x1.min()) >= 0 and int(x1.max()) < VOCAB_SIZE
    x5, _ = c.batch("train", 4, 16, seed=7, index=2)
    assert torch.equal(x5, a[2][1][0])  # batch i depends only on (seed, i): resumable
    assert not torch.equal(c.batch("train", 4, 16, seed=8)[0], a[0][1][0])
    with pytest.raises(ValueError, match="split"):
        c.batch("test", 4, 16, seed=0)


def test_real_stdlib_is_python_source_of_this_interpreter() -> None:
    files = stdlib_files()
    root = Path(sysconfig.get_paths()["stdlib"])
    assert len(files) > 300 and all(f.suffix == ".py" for f in files)
    assert not any({"test", "tests", "site-packages"} & set(f.parts[:-1]) for f in files)
    assert Path("os.py") in files and (root / "os.py").is_file()
    assert files == sorted(files, key=lambda p: p.as_posix())
