"""An offline Long Range Arena (Tay et al. 2021): five tasks generated or read from installed packages.

ListOps (:mod:`.listops`), byte-level Text and Retrieval from the standard library's source (:mod:`.text`), Image
from the shipped digits and a Pathfinder generator (:mod:`.image`). :func:`make_task` builds a task at a preset's
size; every task is deterministic given its seed and has fixed train/valid/test splits.
"""

from __future__ import annotations

from ...presets import pick
from ._task import PAD, LRATask, Split
from .image import draw_pathfinder, make_image, make_pathfinder
from .listops import evaluate as listops_evaluate
from .listops import make_listops
from .text import TEXT_CLASSES, make_retrieval, make_text

__all__ = ["TASKS", "make_task", "LRATask", "Split", "PAD", "make_listops", "listops_evaluate", "make_text",
           "make_retrieval", "make_image", "make_pathfinder", "draw_pathfinder", "TEXT_CLASSES"]

TASKS: tuple[str, ...] = ("listops", "text", "retrieval", "image", "pathfinder")


def make_task(name: str, preset: str | None = None, seed: int = 0) -> LRATask:
    """Task ``name`` at the sizes of ``preset`` (default ``$EFFTX_PRESET``); LRA's full lengths in ``gpu`` (the ``gpu``
    dry run keeps the lengths with a few examples per split).

    ``cpu``: ListOps 512–600 tokens (LRA's generator, depth ≤ 10, ≤ 10 arguments), Text 512 bytes, Retrieval
    2 × 256 bytes, Image 28 × 28 = 784 pixels, Pathfinder 16 × 16 = 256 pixels with short curves (4 steps).
    Text, Retrieval and Pathfinder also have a sampler of fresh training examples; ``splits["train"]`` is then a
    fixed sample of the same distribution (for the chance level and for display).
    """
    def p(smoke, cpu, gpu, dry=None):  # noqa: ANN001, ANN202 - dry: the gpu dry run's count (lengths stay gpu)
        return pick(smoke=smoke, cpu=cpu, gpu=gpu, preset=preset, **({} if dry is None else {"dry": dry}))

    if name == "listops":
        return make_listops(p(64, 6000, 96_000, 16), p(32, 256, 2000, 8), p(48, 600, 2000), max_depth=p(3, 10, 10),
                            max_args=p(4, 10, 10), min_len=p(8, 512, 500), n_test=p(32, 1000, 2000, 8), seed=seed)
    if name == "text":
        n, n_valid, n_test = p(16, 250, 6250, 16), p(8, 64, 1250, 8), p(8, 250, 6250, 8)
        return make_text({"train": n, "valid": n_valid, "test": n_test}, p(64, 512, 4000), seed=seed)
    if name == "retrieval":
        n, n_valid, n_test = p(32, 1000, 25_000, 16), p(16, 256, 2500, 16), p(16, 1000, 2500, 16)
        return make_retrieval({"train": n, "valid": n_valid, "test": n_test}, p(64, 256, 4000), seed=seed)
    if name == "image":
        return make_image(pool=p(4, 1, 1))
    if name == "pathfinder":
        n, n_valid, n_test = p(32, 1000, 50_000, 16), p(16, 256, 5000, 16), p(16, 1000, 5000, 16)
        return make_pathfinder({"train": n, "valid": n_valid, "test": n_test}, p(8, 16, 32), length=p(4, 4, None),
                               seed=seed)
    raise ValueError(f"unknown LRA task {name!r}; expected one of {TASKS}")
