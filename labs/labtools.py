"""Helpers of the labs' public tests (imported by the test files)."""

from __future__ import annotations

from pathlib import Path


def forbidden_uses(path: Path, modules: tuple[str, ...] = ("efftx_mini",), attributes: tuple[str, ...] = ()
                   ) -> list[str]:
    """What a lab's implementation file imports from ``modules`` or reads as ``x.<attribute>``: the reference
    implementations the tests compare with may not be called by the code under test."""
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if a.name.split(".")[0] in modules]
        elif isinstance(node, ast.ImportFrom):
            if (node.module or "").split(".")[0] in modules:
                found.append(f"from {node.module} import …")
            found += [f"from {node.module} import {a.name}" for a in node.names if a.name in attributes]
        elif isinstance(node, ast.Attribute) and node.attr in attributes:
            found.append(f".{node.attr}")
    return found
