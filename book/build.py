"""Build the book's two editions (English, Korean) into one static site.

    python book/build.py --preset cpu      # what `make book` runs: _build/html/{index.html,en/,ko/}
    python book/build.py --preset smoke    # what the tests run:   _build/smoke/html/...
    EFFTX_SOLUTIONS=hide python book/build.py --preset cpu   # student build: _build/student/html/...

One tree, two editions: `_config.yml` and `_toc.yml` (English paths) are the only sources; the Korean
edition's config and table of contents are derived from them (the /en/ folder swapped for /ko/, the title,
captions and theme language swapped, see EDITIONS) and written under `_build/<preset>/<lang>/`, only when
their content changes so that Sphinx's incremental build stays valid. Each edition is built with
`jupyter-book build . --path-output _build/<preset>/<lang> --config ... --toc ...` with warnings as errors,
then mirrored into the site folder, next to a small language chooser page.

Course kit (book/_ext/efftx_course.py): every chapter gets a reveal.js deck at <lang>/slides/<chapter>.html;
with a Chromium (Playwright drives it) every chapter and the syllabus are printed to <lang>/handouts/*.pdf,
and every deck to <lang>/handouts/<chapter>-slides.pdf;
`--solutions hide` (or EFFTX_SOLUTIONS=hide) builds the student site, without exercise solutions and
self-check answers (pages, search index, .ipynb downloads), into its own folders; the execution cache is shared.

Execution is cached per preset in `_build/<preset>/cache` (jupyter-cache keys a notebook by its code
cells, which are identical in both editions), so the Korean edition reuses the English results; the
build prints how many notebooks each edition executed and how many came from the cache.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import html
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PRESETS = ("smoke", "cpu", "gpu")
SOLUTIONS = ("show", "hide")  # instructor / public build, student build
LANGS = ("en", "ko")
SOURCE_LANG = "en"

# What differs between the editions besides the /en/ -> /ko/ paths.
EDITIONS: dict[str, dict] = {
    "en": {
        "name": "English",
        "title": None,  # _config.yml's title
        "captions": {},
        "chooser": "Read the book in English",
    },
    "ko": {
        "name": "한국어",
        "title": "효율적인 트랜스포머 다시 설계하기",
        "captions": {
            "I. The transformer": "I. 트랜스포머",
            "II. Redesigning the block": "II. 블록 다시 설계하기",
            "III. Efficient attention": "III. 효율적인 어텐션",
            "IV. Vision transformers": "IV. 비전 트랜스포머",
            "V. Compression": "V. 압축",
            "VI. Architecture search": "VI. 구조 탐색",
            "Course": "강의 자료",
            "Reference": "참고 자료",
        },
        "chooser": "한국어로 읽기",
        # The licence line of every page and handout (the English one is html.extra_footer in _config.yml).
        "footer": ('<p class="efftx-licence">본문, 그림, 슬라이드, 인쇄용 자료 © 2026 The efftx authors, '
                   '<a href="https://creativecommons.org/licenses/by/4.0/" rel="license">CC BY 4.0</a> 라이선스. '
                   "코드(efftx_mini, 테스트, 실습, 코드 셀)는 MIT 라이선스를 따릅니다. 다른 사람의 자료는 각자의 "
                   "라이선스를 따릅니다(저장소의 THIRD-PARTY.md).</p>"),
    },
}


def work_dir(preset: str, root: Path = ROOT) -> Path:
    """Per-preset work folder: generated configs, Sphinx environments, executed notebooks, cache."""
    return root / "_build" / preset


def cache_dir(preset: str, root: Path = ROOT) -> Path:
    """jupyter-cache folder: per preset, since outputs differ between presets while the code does not."""
    return work_dir(preset, root) / "cache"


def site_dir(preset: str, root: Path = ROOT, solutions: str = "show") -> Path:
    """The assembled site: _build/html for the default preset (what `make book` publishes).

    The student build (solutions hidden) goes to _build/student/html (cpu) or _build/<preset>/student/html.
    """
    if solutions == "hide":
        return root / "_build" / "student" / "html" if preset == "cpu" else work_dir(preset, root) / "student" / "html"
    return root / "_build" / "html" if preset == "cpu" else work_dir(preset, root) / "html"


def edition_dir(preset: str, lang: str, root: Path = ROOT, solutions: str = "show") -> Path:
    """jupyter-book's --path-output of one edition: _build/<preset>/<lang>, or .../student/<lang>."""
    base = work_dir(preset, root)
    return base / "student" / lang if solutions == "hide" else base / lang


def swap_lang(path: str, lang: str, source: str = SOURCE_LANG) -> str:
    """chapters/en/01_attention -> chapters/<lang>/01_attention (every path segment equal to `source`)."""
    return "/".join(lang if part == source else part for part in path.split("/"))


def edition_toc(toc: dict, lang: str) -> dict:
    """The table of contents of one edition, derived from the English _toc.yml."""
    out = copy.deepcopy(toc)
    captions = EDITIONS[lang]["captions"]

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key in ("root", "file"):
                if key in node:
                    node[key] = swap_lang(str(node[key]), lang)
            if "caption" in node and lang != SOURCE_LANG:
                if node["caption"] not in captions:
                    raise SystemExit(
                        f"_toc.yml caption {node['caption']!r} has no {lang} translation: "
                        f"add it to EDITIONS[{lang!r}]['captions'] in book/build.py"
                    )
                node["caption"] = captions[node["caption"]]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(out)
    return out


def toc_files(toc: dict) -> list[str]:
    """Every document path in a toc (root first), in order."""
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key in ("root", "file"):
                if key in node:
                    found.append(str(node[key]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc)
    return found


def repository_from_env(env: dict[str, str] | None = None) -> tuple[str, str]:
    """(url, branch) of the repository being built: the Pages workflow sets EFFTX_REPOSITORY_URL from
    `github.server_url`/`github.repository` (and EFFTX_REPOSITORY_BRANCH); a local build has neither."""
    env = os.environ if env is None else env
    return env.get("EFFTX_REPOSITORY_URL", "").strip().rstrip("/"), env.get("EFFTX_REPOSITORY_BRANCH", "").strip()


def apply_repository(config: dict, url: str, branch: str = "") -> dict:
    """Point the repository and JupyterHub buttons at ``url``; with no url, drop both (no button beats a
    wrong one). The url is set explicitly even when empty: jupyter-book would otherwise fill in its own
    repository's address, and the JupyterHub (nbgitpuller) link needs a repository to pull."""
    html_options = config.setdefault("html", {})
    repository = config.setdefault("repository", {})
    repository["url"] = url
    repository["branch"] = branch or "main"
    html_options["use_repository_button"] = bool(url)
    if not url:
        html_options["use_issues_button"] = html_options["use_edit_page_button"] = False
        config.setdefault("launch_buttons", {})["jupyterhub_url"] = ""
    return config


# Per-cell execution timeout of the test build: every smoke cell runs in seconds, so a cell that takes longer
# has stalled (a lost kernel message leaves kernel and client waiting on each other); it fails within
# SMOKE_CELL_TIMEOUT seconds and the edition is built once more (see build()). Other presets keep _config.yml's.
SMOKE_CELL_TIMEOUT = 120


def edition_config(config: dict, lang: str, preset: str, root: Path = ROOT,
                   repository: tuple[str, str] | None = None) -> dict:
    """The _config.yml of one edition and preset (written next to the generated toc); ``repository``
    (url, branch) defaults to :func:`repository_from_env`."""
    out = copy.deepcopy(config)
    apply_repository(out, *(repository_from_env() if repository is None else repository))
    out.setdefault("execute", {})["cache"] = str(cache_dir(preset, root))
    if preset == "smoke":
        out["execute"]["timeout"] = SMOKE_CELL_TIMEOUT
    sphinx = out.setdefault("sphinx", {})
    # jupyter-book resolves local extension paths relative to the config file: make them absolute.
    sphinx["local_extensions"] = {
        name: str((root / path).resolve()) for name, path in (sphinx.get("local_extensions") or {}).items()
    }
    sphinx_config = sphinx.setdefault("config", {})
    sphinx_config["language"] = lang
    if EDITIONS[lang]["title"]:
        out["title"] = EDITIONS[lang]["title"]
    if EDITIONS[lang].get("footer"):
        out.setdefault("html", {})["extra_footer"] = EDITIONS[lang]["footer"]
    return out


def variant_seed(env: dict[str, str] | None = None) -> int:
    """The seed of the variant exercises (book/{en,ko}/variants.md): $EFFTX_VARIANT, a non-negative integer, else 0."""
    raw = (os.environ if env is None else env).get("EFFTX_VARIANT", "").strip()
    if raw and not raw.isdigit():
        raise SystemExit(f"EFFTX_VARIANT must be a non-negative integer seed, got {raw!r}")
    return int(raw or 0)


def course_config(edition: dict, solutions: str = "show", handouts: bool = False) -> dict:
    """The course kit's settings (book/_ext/efftx_course.py) in an edition's config: student build, handouts."""
    sphinx_config = edition.setdefault("sphinx", {}).setdefault("config", {})
    sphinx_config["efftx_solutions"] = solutions
    sphinx_config["efftx_handouts"] = handouts
    sphinx_config["efftx_handout_pages"] = list(HANDOUT_PAGES)
    sphinx_config["efftx_variant"] = variant_seed()  # the seed of the variant exercises' page ($EFFTX_VARIANT)
    if solutions == "hide":  # the page sources hold the solutions: the student site does not publish them
        sphinx_config["html_copy_source"] = False
        sphinx_config["html_show_sourcelink"] = False
    return edition


def write_if_changed(path: Path, text: str) -> bool:
    """Write only when the content differs, so unchanged inputs keep their mtime (incremental builds)."""
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return True


def prepare(preset: str, lang: str, root: Path = ROOT, solutions: str = "show",
            handouts: bool = False) -> tuple[Path, Path]:
    """Write the edition's _config.yml and _toc.yml under _build/<preset>/<lang>/; return their paths."""
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    folder = edition_dir(preset, lang, root, solutions)
    header = "# Generated by book/build.py from the repository's _config.yml / _toc.yml: do not edit.\n"
    config_path, toc_path = folder / "_config.yml", folder / "_toc.yml"
    edition = course_config(edition_config(config, lang, preset, root), solutions, handouts)
    write_if_changed(config_path, header + yaml.safe_dump(edition, allow_unicode=True, sort_keys=False))
    write_if_changed(toc_path, header + yaml.safe_dump(edition_toc(toc, lang), allow_unicode=True, sort_keys=False))
    return config_path, toc_path


# An IPython startup file for the build's kernels: it appends each cell's wall-clock time to the file named by
# $EFFTX_CELL_LOG (a file, not the kernel's stderr: ipykernel forwards fd 2 into the cell's outputs, and stderr
# output fails the build). One "kernel" line per kernel start, i.e. per executed notebook, in build order.
CELL_TIMER = """\
import os, time
_efftx = {"t0": 0.0, "n": 0, "log": os.environ.get("EFFTX_CELL_LOG")}


def _efftx_write(line):
    if _efftx["log"]:
        with open(_efftx["log"], "a", encoding="utf-8") as f:
            f.write(line + "\\n")


def _efftx_pre(info):
    _efftx["t0"] = time.perf_counter()


def _efftx_post(result):
    _efftx["n"] += 1
    src = (result.info.raw_cell or "").strip().splitlines()
    first = src[0][:70] if src else ""
    _efftx_write(f"cell {_efftx['n']} {time.perf_counter() - _efftx['t0']:.3f} {first}")


_efftx_write("kernel")
get_ipython().events.register("pre_run_cell", _efftx_pre)
get_ipython().events.register("post_run_cell", _efftx_post)
"""


# A second startup file: every figure a chapter displays is checked (efftx_mini.figure_check) as it is printed,
# and each problem (a legend over data, an axis label longer than its axes) is appended to $EFFTX_CELL_LOG as
# "figure <cell> <json message>"; run_edition files them per notebook (figure_checks).
FIGURE_CHECK = """\
import json as _efftx_json
import sys as _efftx_sys

_efftx_fig = {"patched": False}


def _efftx_patch_figures(info=None):
    if _efftx_fig["patched"] or "matplotlib.backend_bases" not in _efftx_sys.modules:
        return
    from matplotlib.backend_bases import FigureCanvasBase

    original = FigureCanvasBase.print_figure

    def print_figure(self, *args, **kwargs):
        try:
            from efftx_mini.figure_check import figure_problems

            problems = figure_problems(self.figure)
        except Exception as exc:  # a failing check is a problem too, never an error in the chapter
            problems = [f"figure check failed: {type(exc).__name__}: {exc}"]
        cell = globals().get("_efftx", {}).get("n", -1) + 1
        for problem in problems:
            _efftx_write(f"figure {cell} {_efftx_json.dumps(problem)}")
        return original(self, *args, **kwargs)

    FigureCanvasBase.print_figure = print_figure
    _efftx_fig["patched"] = True


get_ipython().events.register("pre_run_cell", _efftx_patch_figures)
"""


def ipython_dir(preset: str, root: Path = ROOT) -> Path:
    """IPYTHONDIR of the build's kernels, holding the cell timer and the figure check (written only when changed)."""
    folder = work_dir(preset, root) / "ipython"
    write_if_changed(folder / "profile_default" / "startup" / "00-efftx-cell-timer.py", CELL_TIMER)
    write_if_changed(folder / "profile_default" / "startup" / "01-efftx-figure-check.py", FIGURE_CHECK)
    return folder


def figure_checks(cell_log: str, output: str) -> dict[str, list[str]]:
    """Per executed notebook (file stem), the figure problems its kernel recorded, as "cell N: message"."""
    notebooks = re.findall(r"(\S+\.md): Executing notebook", output)
    found: dict[str, list[str]] = {Path(nb).stem: [] for nb in notebooks}
    k = -1
    for line in cell_log.splitlines():
        if line == "kernel":
            k += 1
            continue
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[0] == "figure" and 0 <= k < len(notebooks):
            message = f"cell {parts[1]}: {json.loads(parts[2])}"
            if message not in found[Path(notebooks[k]).stem]:
                found[Path(notebooks[k]).stem].append(message)
    return found


def figure_checks_dir(preset: str, root: Path = ROOT) -> Path:
    """One JSON list per chapter (file stem) of the figure problems of its last execution; a cached chapter keeps
    the file of the execution that produced its outputs."""
    return work_dir(preset, root) / "figure-checks"


def cell_times(cell_log: str, output: str) -> list[tuple[str, int, float, str]]:
    """(notebook, cell number, seconds, first line) of every executed cell: the k-th kernel in the cell log ran
    the k-th notebook that the build output says it executed."""
    notebooks = re.findall(r"(\S+\.md): Executing notebook", output)
    rows: list[tuple[str, int, float, str]] = []
    k = -1
    for line in cell_log.splitlines():
        if line == "kernel":
            k += 1
            continue
        parts = line.split(" ", 3)
        if len(parts) >= 3 and parts[0] == "cell":
            name = notebooks[k].rsplit("/", 1)[-1] if 0 <= k < len(notebooks) else "?"
            rows.append((name, int(parts[1]), float(parts[2]), parts[3] if len(parts) > 3 else ""))
    return rows


def build_env(preset: str, root: Path = ROOT) -> dict[str, str]:
    """Environment of the build and of its notebook kernels."""
    env = dict(os.environ)
    env["IPYTHONDIR"] = str(ipython_dir(preset, root))
    env["EFFTX_PRESET"] = preset
    env["TQDM_DISABLE"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("MPLBACKEND", None)  # myst-nb's inline backend renders the figures
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")  # kernels use this venv's python
    return env


def edition_command(preset: str, lang: str, root: Path, config_path: Path, toc_path: Path,
                    solutions: str = "show") -> list[str]:
    """jupyter-book's command line for one edition: warnings are errors (all of them are reported)."""
    jb = Path(sys.executable).with_name("jupyter-book")
    return [str(jb) if jb.exists() else "jupyter-book", "build", str(root),
            "--path-output", str(edition_dir(preset, lang, root, solutions)),
            "--config", str(config_path), "--toc", str(toc_path),
            "--builder", "html", "--warningiserror", "--keep-going"]


def run_edition(preset: str, lang: str, root: Path = ROOT, log=None, solutions: str = "show",
                handouts: bool = False) -> tuple[int, str]:
    """Build one edition with jupyter-book (warnings are errors); return (exit code, output)."""
    config_path, toc_path = prepare(preset, lang, root, solutions, handouts)
    cmd = edition_command(preset, lang, root, config_path, toc_path, solutions)
    env = build_env(preset, root)
    cell_log = work_dir(preset, root) / f"cell-times-{lang}.log"
    cell_log.write_text("", encoding="utf-8")
    env["EFFTX_CELL_LOG"] = str(cell_log)
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, encoding="utf-8", errors="replace")
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if log is not None:
            log.write(line)
            log.flush()
    code, output = proc.wait(), "".join(lines)
    cell_text = cell_log.read_text(encoding="utf-8")
    checks = figure_checks(cell_text, output)
    for stem, problems in checks.items():
        write_if_changed(figure_checks_dir(preset, root) / f"{stem}.json", json.dumps(problems, indent=1) + "\n")
        if problems and log is not None:
            log.write(f"[book] {stem}: figure problems: {'; '.join(problems)}\n")
    rows = cell_times(cell_text, output)
    if rows and log is not None:
        log.write(f"[book] {lang}: per-cell execution times (s):\n")
        log.write("".join(f"[cell-time] {nb} cell {i}: {t:.2f} s  {first}\n" for nb, i, t, first in rows))
        log.flush()
    return code, output + "".join(f"[cell-time] {nb} cell {i}: {t:.2f} s\n" for nb, i, t, _ in rows)


def edition_html(preset: str, lang: str, root: Path = ROOT, solutions: str = "show") -> Path:
    return edition_dir(preset, lang, root, solutions) / "_build" / "html"


def mirror(src: Path, dst: Path) -> int:
    """Make dst a copy of src, copying only new or changed files and deleting stale ones; return #copied."""
    copied = 0
    seen: set[Path] = set()
    for path in src.rglob("*"):
        rel = path.relative_to(src)
        seen.add(rel)
        target = dst / rel
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        st = path.stat()
        if target.exists():
            tt = target.stat()
            if tt.st_size == st.st_size and tt.st_mtime_ns == st.st_mtime_ns:
                continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
        copied += 1
    if dst.exists():
        for path in sorted(dst.rglob("*"), reverse=True):
            if path.relative_to(dst) not in seen:
                path.unlink() if not path.is_dir() else shutil.rmtree(path)
    return copied


def chooser_html(title: str) -> str:
    """The site's root page: pick a language (a plain page, no script, no external resource)."""
    links = "\n".join(
        f'    <li><a href="{lang}/index.html" hreflang="{lang}" lang="{lang}">'
        f'<span class="name">{html.escape(EDITIONS[lang]["name"])}</span>'
        f'<span class="hint">{html.escape(EDITIONS[lang]["chooser"])}</span></a></li>'
        for lang in LANGS
    )
    ko_title = EDITIONS["ko"]["title"] or title
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{html.escape(title)} · {html.escape(ko_title)}</title>
  <style>
    body {{ font-family: system-ui, -apple-system, "Segoe UI", "Noto Sans KR", "Apple SD Gothic Neo", sans-serif;
           margin: 0; min-height: 100vh; display: flex; align-items: center; justify-content: center;
           background: #f7f7f9; color: #222; }}
    main {{ max-width: 34rem; padding: 2rem; text-align: center; }}
    h1 {{ font-size: 1.7rem; margin-bottom: .3rem; }}
    p.ko {{ font-size: 1.2rem; margin-top: 0; color: #555; }}
    ul {{ list-style: none; padding: 0; display: flex; gap: 1rem; justify-content: center; flex-wrap: wrap; }}
    a {{ display: block; padding: 1rem 1.6rem; border-radius: .5rem; background: #fff; text-decoration: none;
         color: #0a4d8c; border: 1px solid #d0d7de; min-width: 11rem; }}
    a:hover, a:focus {{ border-color: #0a4d8c; }}
    .name {{ display: block; font-size: 1.3rem; font-weight: 600; }}
    .hint {{ display: block; font-size: .9rem; color: #555; margin-top: .2rem; }}
  </style>
</head>
<body>
<main>
  <h1>{html.escape(title)}</h1>
  <p class="ko" lang="ko">{html.escape(ko_title)}</p>
  <ul>
{links}
  </ul>
</main>
</body>
</html>
"""


CACHE_HIT = re.compile(r"Using cached notebook: ID=\d+")
EXECUTED = re.compile(r"Executed notebook in [\d.]+ seconds")


STALL = re.compile(r"(\S+\.md): WARNING: Executing notebook failed: CellTimeoutError")


def stalled_notebooks(output: str) -> list[str]:
    """The notebooks whose execution hit the per-cell timeout in one edition's build output."""
    return STALL.findall(output)


CELL_TIME = re.compile(r"\[cell-time\] (\S+) cell (\d+): ([\d.]+) s")


def slowest_cells(output: str, n: int = 5) -> list[tuple[str, int, float]]:
    """(notebook, cell number, seconds) of the n slowest cells that :func:`run_edition`'s output lists."""
    found = [(m.group(1), int(m.group(2)), float(m.group(3))) for m in CELL_TIME.finditer(output)]
    return sorted(found, key=lambda r: -r[2])[:n]


def execution_counts(output: str) -> tuple[int, int]:
    """(#notebooks executed, #notebooks taken from the cache) in one edition's build output."""
    return len(EXECUTED.findall(output)), len(CACHE_HIT.findall(output))


# What a chapter's outputs depend on besides its own code cells (which jupyter-cache already keys on).
EXECUTION_INPUTS = ("efftx_mini", "chapters/results", "requirements.txt", "pyproject.toml")


# What the pages depend on that Sphinx does not track: the book's own extensions (slides, student build, ...).
PAGE_INPUTS = ("book/_ext",)


def inputs_fingerprint(root: Path = ROOT, names: tuple[str, ...] = EXECUTION_INPUTS) -> str:
    """sha256 over the package, the stored results files and the pins: a change there makes cached outputs stale."""
    digest = hashlib.sha256()
    for name in names:
        base = root / name
        files = sorted(f for f in base.rglob("*") if f.is_file()) if base.is_dir() else [base]
        for f in files:
            if "__pycache__" in f.parts or not f.exists():
                continue
            digest.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes() + b"\0")
    return digest.hexdigest()


def invalidate_stale_outputs(preset: str, root: Path = ROOT) -> bool:
    """Drop the execution cache and the Sphinx environments when the package or the results changed."""
    work = work_dir(preset, root)
    stamp = work / "inputs.sha256"
    now = inputs_fingerprint(root)
    if stamp.exists() and stamp.read_text().strip() == now:
        return False
    stale = stamp.exists()
    if stale:
        print("[book] efftx_mini, a results file or the pins changed since the last build: re-executing every chapter",
              flush=True)
        shutil.rmtree(cache_dir(preset, root), ignore_errors=True)
        for lang in LANGS:
            for solutions in SOLUTIONS:
                shutil.rmtree(edition_dir(preset, lang, root, solutions) / "_build", ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    stamp.write_text(now + "\n")
    return stale


HANDOUT_PAGES = ("syllabus",)  # besides every chapter: pages printed to handouts/<name>.pdf


def chromium_path() -> str | None:
    """$EFFTX_CHROMIUM, else `chromium` on PATH, else /usr/bin/chromium (`make browser` installs Debian's)."""
    for candidate in (os.environ.get("EFFTX_CHROMIUM"), shutil.which("chromium"), "/usr/bin/chromium"):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def handout_docs(toc: dict, lang: str) -> list[str]:
    """The pages of one edition that get a PDF handout: every chapter and the HANDOUT_PAGES."""
    return [doc for doc in toc_files(edition_toc(toc, lang))
            if doc.startswith("chapters/") or doc.rsplit("/", 1)[-1] in HANDOUT_PAGES]


SLIDES_PDF_SUFFIX = "-slides.pdf"  # a chapter's printed deck, beside its handout (book/_ext/efftx_course.py)


def print_handouts(html_dir: Path, docs: list[str], chromium: str, force: bool = False,
                   timeout_s: float = 180.0) -> int:
    """Print each page of a built edition to html_dir/handouts/<name>.pdf with headless Chromium (offline),
    and each chapter's slide deck (slides/<name>.html) to handouts/<name>-slides.pdf, one slide a page.

    The page is opened from disk (file://); a request to anything else is aborted. The print stylesheet
    (book/_static/efftx.css, @media print) drops the navigation and wraps long code lines. A deck is printed
    through reveal.js's own print layout (``?print-pdf``) at its slide size, 1280x720 px, after its math is
    typeset and its slides are fitted. A PDF newer than its page is kept. Returns the number of PDFs written.
    """
    from playwright.sync_api import sync_playwright

    todo = []
    for doc in docs:
        name = doc.rsplit("/", 1)[-1]
        page_path = html_dir / f"{doc}.html"
        if not page_path.is_file():
            raise FileNotFoundError(f"cannot print {page_path}: the page was not built")
        jobs = [(page_path, html_dir / "handouts" / f"{name}.pdf", False)]
        deck = html_dir / "slides" / f"{name}.html"
        if doc.startswith("chapters/") and deck.is_file():
            jobs.append((deck, html_dir / "handouts" / f"{name}{SLIDES_PDF_SUFFIX}", True))
        for source, pdf, is_deck in jobs:
            if force or not pdf.exists() or pdf.stat().st_mtime < source.stat().st_mtime:
                todo.append((source, pdf, is_deck))
    if not todo:
        return 0
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=args, headless=True)
        context = browser.new_context()
        context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(("file:", "data:"))
                      else route.abort())
        context.set_default_timeout(timeout_s * 1000)
        for source, pdf, is_deck in todo:
            page = context.new_page()
            pdf.parent.mkdir(parents=True, exist_ok=True)
            if is_deck:
                page.set_viewport_size({"width": 1280, "height": 720})
                page.goto(source.as_uri() + "?print-pdf", wait_until="load")
                page.wait_for_function("() => document.documentElement.hasAttribute('data-efftx-fitted')")
                page.evaluate("async () => { await document.fonts.ready; }")
                page.pdf(path=str(pdf), width="1280px", height="720px", print_background=True,
                         prefer_css_page_size=True, margin={"top": "0", "bottom": "0", "left": "0", "right": "0"})
            else:
                page.goto(source.as_uri(), wait_until="load")
                # MathJax typesets after the load event: wait for it to finish (its startup promise), then fonts
                page.evaluate("async () => { if (window.MathJax && MathJax.startup && MathJax.startup.promise) "
                              "{ await MathJax.startup.promise; } await document.fonts.ready; }")
                page.emulate_media(media="print")
                page.pdf(path=str(pdf), format="A4", print_background=True, outline=True, tagged=True,
                         margin={"top": "16mm", "bottom": "16mm", "left": "14mm", "right": "14mm"})
            page.close()
        browser.close()
    return len(todo)


def invalidate_stale_pages(preset: str, root: Path = ROOT) -> bool:
    """Drop the Sphinx environments (not the execution cache) when the book's extensions changed."""
    stamp = work_dir(preset, root) / "page-inputs.sha256"
    now = inputs_fingerprint(root, PAGE_INPUTS)
    if stamp.exists() and stamp.read_text().strip() == now:
        return False
    stale = stamp.exists()
    if stale:
        print("[book] the book's Sphinx extensions changed: rewriting every page (outputs come from the cache)",
              flush=True)
        for lang in LANGS:
            for solutions in SOLUTIONS:
                shutil.rmtree(edition_dir(preset, lang, root, solutions) / "_build" / ".doctrees", ignore_errors=True)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(now + "\n")
    return stale


def build(preset: str, langs: tuple[str, ...] = LANGS, root: Path = ROOT, quiet: bool = False,
          solutions: str = "show", handouts: str = "auto") -> int:
    """Build the editions into the site; handouts: 'on', 'off' or 'auto' (on when a Chromium is found)."""
    if solutions not in SOLUTIONS:
        raise SystemExit(f"solutions must be one of {SOLUTIONS} (EFFTX_SOLUTIONS), got {solutions!r}")
    chromium = chromium_path()
    if handouts == "on" and chromium is None:
        raise SystemExit("--handouts on needs a Chromium ($EFFTX_CHROMIUM, chromium on PATH; `make browser`)")
    printing = handouts == "on" or (handouts == "auto" and chromium is not None)
    if handouts == "auto" and chromium is None:
        print("[book] no Chromium found: the PDF handouts are not printed (`make browser` installs it)", flush=True)
    work = work_dir(preset, root)
    work.mkdir(parents=True, exist_ok=True)
    invalidate_stale_outputs(preset, root)
    invalidate_stale_pages(preset, root)
    site = site_dir(preset, root, solutions)
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    suffix = "" if solutions == "show" else "-student"
    summary = []
    with open(work / f"build{suffix}.log", "w", encoding="utf-8") as log:
        for lang in langs:
            start = time.perf_counter()
            kind = "" if solutions == "show" else ", student build: no solutions"
            print(f"[book] building the {lang} edition (preset {preset}{kind}) ...", flush=True)
            stream = log if quiet else _Tee(log, sys.stdout)
            code, output = run_edition(preset, lang, root, log=stream, solutions=solutions, handouts=printing)
            stalled = stalled_notebooks(output)
            if code != 0 and stalled:  # a lost kernel message, not slow code: the cache keeps the rest; once more
                print(f"[book] {', '.join(stalled)}: a cell hit the per-cell timeout "
                      f"({SMOKE_CELL_TIMEOUT if preset == 'smoke' else 'the configured'} s); building the {lang} "
                      "edition once more (executed notebooks come from the cache)", flush=True)
                code, output = run_edition(preset, lang, root, log=stream, solutions=solutions, handouts=printing)
            executed, cached = execution_counts(output)
            seconds = time.perf_counter() - start
            summary.append(f"{lang}: {seconds:.1f} s, notebooks executed {executed}, from cache {cached}")
            print(f"[book] {summary[-1]}", flush=True)
            slow = slowest_cells(output)
            if slow:
                print("[book] slowest cells: " + "; ".join(f"{nb} cell {i} {t:.1f} s" for nb, i, t in slow), flush=True)
            if code != 0:
                if quiet:
                    sys.stdout.write(output[-20000:])
                print(f"[book] the {lang} edition failed (exit {code}); full log: {log.name}", flush=True)
                return code or 1
            html_dir = edition_html(preset, lang, root, solutions)
            if printing:
                start = time.perf_counter()
                try:
                    printed = print_handouts(html_dir, handout_docs(toc, lang), str(chromium))
                except Exception as exc:  # the site itself is fine: fail only when the handouts were asked for
                    if handouts == "on":
                        raise
                    print(f"[book] WARNING: {lang}: printing the PDF handouts failed ({type(exc).__name__}: {exc}); "
                          "the site is built without them", flush=True)
                else:
                    print(f"[book] {lang}: {printed} PDF handouts printed in {time.perf_counter() - start:.1f} s",
                          flush=True)
            copied = mirror(html_dir, site / lang)
            print(f"[book] {lang}: {copied} files updated in {site / lang}", flush=True)
        write_if_changed(site / "index.html", chooser_html(str(config.get("title", "Book"))))
        write_if_changed(site / ".nojekyll", "")
        (work / f"summary{suffix}.txt").write_text("\n".join(summary) + "\n", encoding="utf-8")
    print(f"[book] site ready: {site / 'index.html'}", flush=True)
    return 0


class _Tee:
    def __init__(self, *streams):
        self.streams = streams

    def write(self, text: str) -> None:
        for s in self.streams:
            s.write(text)

    def flush(self) -> None:
        for s in self.streams:
            s.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", choices=PRESETS, default=os.environ.get("EFFTX_PRESET", "cpu"),
                        help="sizes of every chapter's experiments (EFFTX_PRESET); default cpu")
    parser.add_argument("--lang", choices=LANGS, action="append",
                        help="build only this edition (repeatable); default: both")
    parser.add_argument("--quiet", action="store_true", help="print the build log only on failure")
    parser.add_argument("--solutions", choices=SOLUTIONS, default=os.environ.get("EFFTX_SOLUTIONS", "show"),
                        help="hide: the student build, without solutions and self-check answers (EFFTX_SOLUTIONS)")
    parser.add_argument("--handouts", choices=("auto", "on", "off"), default=os.environ.get("EFFTX_HANDOUTS", "auto"),
                        help="print every chapter and the syllabus to PDF with headless Chromium (auto: if found)")
    args = parser.parse_args(argv)
    langs = tuple(args.lang) if args.lang else LANGS
    return build(args.preset, langs, quiet=args.quiet, solutions=args.solutions, handouts=args.handouts)


if __name__ == "__main__":
    sys.exit(main())
