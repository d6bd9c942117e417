"""The teaching assistants' worksheets of the graded labs: measured, then rendered into the book.

``python labs/worksheets.py measure`` runs every lab's public suite (labs/labs.yml) against its reference solution
(tests/lab_solutions/labNN.py) as a student runs it (``python -m pytest labs/NN_*``, here with ``EFFTX_LAB_IMPL``
pointing at the reference, as tests/test_labs.py does), ``--repeats`` times in rounds, and writes what it saw to
``labs/worksheets_results.json``: every test id with its outcome, pytest's summary line, the wall time of each run
(the whole command, Python start-up included) and pytest's own time, with the command, commit and hardware.
It then renders the pages. ``python labs/worksheets.py render`` only renders ``book/en/worksheets.md`` and
``book/ko/worksheets.md`` from that file, labs/labs.yml and the hand-written notes of labs/worksheets.yml (which
mistake each test catches, grading notes). tests/test_worksheets.py checks that the pages are up to date.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from tempfile import TemporaryDirectory

import yaml

ROOT = Path(__file__).resolve().parents[1]
LABS = ROOT / "labs"
PLAN_FILE = LABS / "labs.yml"
NOTES_FILE = LABS / "worksheets.yml"
RESULTS_FILE = LABS / "worksheets_results.json"
LANGS = ("en", "ko")
COMMAND = "python labs/worksheets.py measure --repeats {repeats}"
THREADS = "1"  # OMP_NUM_THREADS for the suites, as tests/test_labs.py runs them


def plan() -> list[dict]:
    return yaml.safe_load(PLAN_FILE.read_text(encoding="utf-8"))["labs"]


def notes() -> dict:
    return yaml.safe_load(NOTES_FILE.read_text(encoding="utf-8"))["labs"]


def results() -> dict:
    return json.loads(RESULTS_FILE.read_text(encoding="utf-8"))


def base_name(test_id: str) -> str:
    """test_causal_mask[2] -> test_causal_mask (a parametrised case -> its test function)."""
    return test_id.split("[", 1)[0]


def run_suite(folder: str, lab_id: str, junit: Path) -> tuple[float, str, list[tuple[str, str]]]:
    """(wall seconds, pytest's summary line, [(test id, outcome)]) of one run of one lab's suite."""
    env = dict(os.environ, EFFTX_LAB_IMPL=str(ROOT / "tests" / "lab_solutions" / f"lab{lab_id}.py"),
               OMP_NUM_THREADS=THREADS, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "pytest", f"labs/{folder}", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    wall = time.perf_counter() - start
    lines = [line.strip() for line in proc.stdout.splitlines() if line.strip()]
    summary = next((line for line in reversed(lines) if re.search(r"\d+ (passed|failed|error)", line)), "")
    if not summary:
        raise RuntimeError(f"lab {lab_id}: no pytest summary\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    cases = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        kinds = {child.tag for child in case}
        outcome = "failed" if kinds & {"failure", "error"} else "skipped" if "skipped" in kinds else "passed"
        cases.append((case.get("name"), outcome))
    return wall, summary, cases


def measure(repeats: int) -> dict:
    """Every lab's suite against its reference, ``repeats`` rounds (each round runs every lab once)."""
    import torch

    from efftx_mini.provenance import git_commit

    labs = plan()
    out: dict = {lab["id"]: {"folder": lab["folder"], "wall_s": [], "pytest_s": []} for lab in labs}
    with TemporaryDirectory() as tmp:
        for r in range(repeats):
            for lab in labs:
                wall, summary, cases = run_suite(lab["folder"], lab["id"], Path(tmp) / f"{lab['id']}.xml")
                entry = out[lab["id"]]
                entry["wall_s"].append(round(wall, 3))
                entry["pytest_s"].append(float(re.search(r"in ([\d.]+)s", summary).group(1)))
                if r == 0:
                    entry["summary"] = re.sub(r" in [\d.]+s.*$", "", summary.strip("= "))
                    entry["tests"] = [{"id": name, "outcome": outcome} for name, outcome in cases]
                print(f"[worksheets] round {r + 1}/{repeats} lab {lab['id']}: {summary.strip('= ')}, "
                      f"wall {wall:.1f} s", flush=True)
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "command": COMMAND.format(repeats=repeats),
        "commit": git_commit(),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "hardware": f"{cpu}, {os.cpu_count()} cores, OMP_NUM_THREADS={THREADS}, torch {torch.__version__}, "
                    f"Python {platform.python_version()}",
        "repeats": repeats,
        "labs": out,
    }


# ----------------------------------------------------------------------------------------------------------
# rendering
# ----------------------------------------------------------------------------------------------------------
TEXT = {
    "en": {
        "title": "TA worksheets",
        "intro": (
            "One worksheet per graded lab ({{doc}}`labs`), for the teaching assistant who runs the lab session and "
            "grades the hand-ins. The expected outputs and the times below were not typed: `{command}` ran every "
            "lab's public suite against the reference solution and wrote `labs/worksheets_results.json`, from which "
            "this page is generated (`python labs/worksheets.py render`; a test fails when the page is out of "
            "date). Measured on {hardware}, commit `{commit}`, {date}; the machine was shared with other jobs, so "
            "the times are typical, not benchmarks."),
        "runs": "What the student runs",
        "runs_text": "Copy the stub, fill it in, run the public tests; then the measurement of the report:",
        "expected": "Expected output against the reference solution",
        "expected_text": "`python -m pytest labs/{folder}` ends with",
        "time": ("Wall time of the whole command (Python start-up included), {n} runs: median {med:.1f} s, "
                 "range {lo:.1f}–{hi:.1f} s; pytest's own time {pmed:.1f} s."),
        "table": ("test", "cases", "expected", "a failure usually means"),
        "passed": "all passed",
        "grading": "Grading notes",
        "measure": "Measurement",
        "week": "Handed out in week {week}, due in week {due}; builds on chapter(s) {chapters}.",
        "general": "For every lab",
        "general_text": (
            "- A student whose suite stops at collection with `FileNotFoundError: … copy stub.py to solution.py` "
            "has not made `solution.py` (or named another file in `adapter.py`'s `IMPLEMENTATION`).\n"
            "- `test_does_not_call_the_reference` is the one test an unfilled stub passes: it reads the file and "
            "fails when the solution imports `efftx_mini` (or calls the function it is compared with). Every other "
            "test fails on the stub with `NotImplementedError`.\n"
            "- The public tests are 40% of a lab's grade ({doc}`assessment`). Rerun them yourself on the hand-in "
            "(`python -m pytest labs/NN_* -q`); the further tests of the same kind (other shapes and seeds) are "
            "the instructor's.\n"
            "- A time far above the one given here is worth a look: a Python loop over positions or heads where "
            "the chapter uses one tensor operation."),
    },
    "ko": {
        "title": "조교용 실습 워크시트",
        "intro": (
            "채점하는 실습 과제({{doc}}`labs`)마다 워크시트가 하나씩 있습니다. 실습 수업을 진행하고 제출물을 채점하는 "
            "조교를 위한 페이지입니다. 아래의 기대 출력과 시간은 손으로 적은 것이 아닙니다. `{command}`가 각 실습의 "
            "공개 테스트를 참조 풀이에 대해 실행해 결과를 `labs/worksheets_results.json`에 기록했고, 이 페이지는 그 "
            "파일에서 `python labs/worksheets.py render`로 생성됩니다. 페이지가 최신 결과와 어긋나면 테스트가 "
            "실패합니다. {date}에 측정했습니다(커밋 `{commit}`, 환경: {hardware}). 다른 작업과 함께 쓰는 머신에서 "
            "잰 값이므로, 시간은 벤치마크 결과가 아니라 대략 이 정도 걸린다는 참고값입니다."),
        "runs": "학생이 실행할 명령",
        "runs_text": "스텁을 복사해 채우고 공개 테스트를 실행한 다음, 보고서에 쓸 측정을 합니다.",
        "expected": "참조 풀이에 대한 기대 출력",
        "expected_text": "`python -m pytest labs/{folder}`의 마지막 줄은 다음과 같습니다.",
        "time": ("명령 전체(파이썬 시작 포함)의 벽시계 시간을 {n}번 쟀습니다. 중앙값 {med:.1f}초, 범위 "
                 "{lo:.1f}–{hi:.1f}초이고, pytest 자체가 보고한 시간은 {pmed:.1f}초입니다."),
        "table": ("테스트", "경우 수", "기대 결과", "실패의 흔한 원인"),
        "passed": "모두 통과",
        "grading": "채점 참고 사항",
        "measure": "측정 과제",
        "week": "{week}주차에 나눠 주고 {due}주차에 제출받습니다. {chapters}장을 바탕으로 합니다.",
        "general": "모든 실습에 공통인 사항",
        "general_text": (
            "- 테스트가 수집 단계에서 `FileNotFoundError: … copy stub.py to solution.py`로 멈추면 학생이 "
            "`solution.py`를 만들지 않았거나, `adapter.py`의 `IMPLEMENTATION`에 적은 다른 파일이 없는 "
            "것입니다.\n"
            "- `test_does_not_call_the_reference`는 채우지 않은 스텁도 통과하는 유일한 테스트입니다. 파일을 읽어서 "
            "풀이가 `efftx_mini`를 임포트하거나 비교 대상 함수를 호출하면 실패합니다. 나머지 테스트는 스텁에서 모두 "
            "`NotImplementedError`로 실패합니다.\n"
            "- 공개 테스트는 실습 점수의 40%입니다({doc}`assessment`). 제출물에 대해 직접 다시 실행하십시오"
            "(`python -m pytest labs/NN_* -q`). 같은 종류의 추가 테스트(다른 모양과 시드)는 강의자가 가지고 "
            "있습니다.\n"
            "- 여기 적힌 시간보다 훨씬 오래 걸리면 코드를 살펴볼 만합니다. 장에서는 텐서 연산 하나로 하는 일을 위치나 "
            "헤드에 대한 파이썬 반복문으로 처리했을 수 있습니다."),
    },
}


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render(lang: str, data: dict | None = None) -> str:
    """The Markdown of book/<lang>/worksheets.md."""
    data = results() if data is None else data
    t = TEXT[lang]
    lab_notes = notes()
    lines = [f"% Generated by `python labs/worksheets.py render` from {RESULTS_FILE.relative_to(ROOT)}, "
             f"{PLAN_FILE.relative_to(ROOT)} and {NOTES_FILE.relative_to(ROOT)}: edit those, not this page.", "",
             f"# {t['title']}", "",
             t["intro"].format(command=data["command"], hardware=data["hardware"], commit=data["commit"],
                               date=data["date"]), "",
             f"## {t['general']}", "", t["general_text"], ""]
    for lab in plan():
        nn, folder = lab["id"], lab["folder"]
        got, note = data["labs"][nn], lab_notes[nn]
        lines += [f"## Lab {nn}: {lab['title'][lang]}" if lang == "en" else f"## 실습 {nn}: {lab['title'][lang]}",
                  "", t["week"].format(week=lab["week"], due=lab["due"], chapters=", ".join(
                      str(int(c)) for c in lab["chapters"])), "",
                  f"### {t['runs']}", "", t["runs_text"], "", "```bash",
                  f"cp labs/{folder}/stub.py labs/{folder}/solution.py",
                  f"python -m pytest labs/{folder}        # or: make lab-check LAB={nn}", "```", "",
                  f"**{t['measure']}.** {lab['measure'][lang]}", "",
                  f"### {t['expected']}", "", t["expected_text"].format(folder=folder), "", "```text",
                  f"{got['summary']} in …s", "```", ""]
        wall, ptime = got["wall_s"], got["pytest_s"]
        lines += [t["time"].format(n=len(wall), med=statistics.median(wall), lo=min(wall), hi=max(wall),
                                   pmed=statistics.median(ptime)), ""]
        counts: dict[str, list[str]] = {}
        for case in got["tests"]:
            counts.setdefault(base_name(case["id"]), []).append(case["outcome"])
        header = t["table"]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for name, outcomes in counts.items():
            expected = t["passed"] if set(outcomes) == {"passed"} else ", ".join(sorted(set(outcomes)))
            mistake = note["tests"].get(name, {}).get(lang, "")
            lines.append(f"| `{name}` | {len(outcomes)} | {expected} | {_cell(mistake)} |")
        lines += ["", f"### {t['grading']}", "", note["grading"][lang].strip(), ""]
    return "\n".join(lines).rstrip() + "\n"


def page_path(lang: str) -> Path:
    return ROOT / "book" / lang / "worksheets.md"


def write_pages() -> None:
    for lang in LANGS:
        page_path(lang).write_text(render(lang), encoding="utf-8")
        print(f"[worksheets] wrote {page_path(lang).relative_to(ROOT)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("measure", "render"))
    parser.add_argument("--repeats", type=int, default=3, help="rounds of every lab's suite (measure)")
    args = parser.parse_args(argv)
    if args.action == "measure":
        if args.repeats < 1:
            raise SystemExit(f"--repeats must be at least 1, got {args.repeats}")
        data = measure(args.repeats)
        RESULTS_FILE.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"[worksheets] wrote {RESULTS_FILE.relative_to(ROOT)}")
    write_pages()


if __name__ == "__main__":
    main()
