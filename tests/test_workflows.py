"""The GitHub workflows: tests on every push and pull request; the site built by `make book` and deployed
to GitHub Pages from main, with the least permissions."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

WORKFLOWS = Path(__file__).resolve().parents[1] / ".github" / "workflows"


def load(name: str) -> dict:
    data = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def runs(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in job.get("steps", []))


def uses(job: dict) -> list[str]:
    return [step["uses"].split("@")[0] for step in job.get("steps", []) if "uses" in step]


def test_test_workflow_runs_make_test_on_push_and_pull_request() -> None:
    wf = load("test.yml")
    assert "push" in wf["on"] and "pull_request" in wf["on"]
    assert wf["permissions"] == {"contents": "read"}
    assert any("make test" in runs(job) for job in wf["jobs"].values())
    for job in wf["jobs"].values():
        assert "permissions" not in job or job["permissions"] == {"contents": "read"}


def test_book_workflow_builds_with_make_book_and_deploys_from_main() -> None:
    wf = load("book.yml")
    assert wf["on"]["push"]["branches"] == ["main"]
    assert wf["permissions"] == {"contents": "read"}, "top-level permissions must be read-only"
    jobs = wf["jobs"]
    build = next(j for j in jobs.values() if "make book" in runs(j))
    assert "actions/upload-pages-artifact" in uses(build)
    upload = next(s for s in build["steps"] if s.get("uses", "").startswith("actions/upload-pages-artifact"))
    assert upload["with"]["path"] == "_build/html"
    assert "permissions" not in build, "the build job must not get write permissions"
    deploy = [name for name, j in jobs.items() if "actions/deploy-pages" in uses(j)]
    assert deploy == ["deploy"]
    job = jobs["deploy"]
    assert job["permissions"] == {"pages": "write", "id-token": "write"}
    assert job["needs"] in ("build", ["build"]) and "main" in job.get("if", "main")
    assert job["environment"]["name"] == "github-pages"
    writers = [name for name, j in jobs.items() if any(v == "write" for v in (j.get("permissions") or {}).values())]
    assert writers == ["deploy"], f"only the deploy job may write: {writers}"


def test_book_workflow_points_the_repository_button_at_the_repository_being_built() -> None:
    build = next(j for j in load("book.yml")["jobs"].values() if "make book" in runs(j))
    step = next(s for s in build["steps"] if "make book" in s.get("run", ""))
    env = step.get("env", {})
    assert env.get("EFFTX_REPOSITORY_URL") == "${{ github.server_url }}/${{ github.repository }}", env
    assert "github.ref_name" in env.get("EFFTX_REPOSITORY_BRANCH", ""), env


def test_lab_overrides_open_chapters_as_notebooks_and_fetch_no_news() -> None:
    """`make lab` copies book/lab/overrides.json into the venv: jupytext opens .md, and no news pop-up asks to fetch
    anything from the network (values checked against JupyterLab's own settings schema)."""
    import json

    root = Path(__file__).resolve().parents[1]
    overrides = json.loads((root / "book" / "lab" / "overrides.json").read_text(encoding="utf-8"))
    assert overrides["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"]["markdown"] == "Jupytext Notebook"
    notes = overrides["@jupyterlab/apputils-extension:notification"]
    schemas = list(Path(sys.prefix).glob("share/jupyter/lab/schemas/@jupyterlab/apputils-extension/notification.json"))
    assert schemas, "JupyterLab's notification settings schema is not installed"
    schema = json.loads(schemas[0].read_text(encoding="utf-8"))["properties"]
    assert notes["fetchNews"] in [c["const"] for c in schema["fetchNews"]["oneOf"]] and notes["fetchNews"] == "false"
    assert set(notes) <= set(schema) and notes["checkForUpdates"] is False
