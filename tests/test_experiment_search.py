"""Chapter 15's experiments at smoke size: the ground truth (resumable, provenance), the supernet search on top of
it, and the proxies benchmark with its A/A control."""

from __future__ import annotations

import json
from pathlib import Path

from efftx_mini.experiments import search_supernet, search_truth


def test_ground_truth_then_search_smoke(tmp_path: Path) -> None:
    res = search_truth.run("smoke", tmp_path)
    cfg = search_truth.config_for("smoke")
    assert res["n_archs"] == cfg.n_archs and -1 <= res["seed_tau"] <= 1
    loaded = search_truth.load_results(tmp_path)
    assert loaded["meta"]["command"].startswith("python -m efftx_mini.experiments.search_truth")
    assert {"commit", "hardware", "preset"} <= set(loaded["meta"])
    assert len(loaded["archs"]) == cfg.n_archs and len(loaded["proxies"]) == cfg.n_archs * len(cfg.proxy_inits)
    first = (tmp_path / "trained" / "a000_s0.json").read_text()
    again = search_truth.run("smoke", tmp_path)  # resumes: nothing is retrained or rescored
    assert (tmp_path / "trained" / "a000_s0.json").read_text() == first
    assert search_truth.load_results(tmp_path)["archs"] == loaded["archs"] and again["seed_tau"] == res["seed_tau"]

    summary = search_supernet.run("smoke", tmp_path)
    rows = {r["model"]: r for r in summary["rows"]}
    budget = search_supernet.config_for("smoke").flops_budget
    for s in search_supernet.SCORERS:
        assert rows[f"search:{s}"]["flops"] <= budget
        assert rows[f"search:{s}"]["test_acc_min"] <= rows[f"search:{s}"]["test_acc_mean"]
    assert set(search_supernet.HAND_DESIGNS) <= set(rows)
    assert {"swin", "mobilevit", "efficientvit"} <= set(search_supernet.HAND_DESIGNS)  # chapter 12's backbones
    for s in search_supernet.SCORERS:  # the cost is CPU-seconds: the search's own, plus the supernet's training
        rec = json.loads((tmp_path / f"search_{s}.json").read_text())
        sup = json.loads((tmp_path / "supernet.json").read_text())["cpu_s"] if s == "supernet" else 0.0
        assert rows[f"search:{s}"]["search_cpu_s"] == round(rec["search_cpu_s"] + sup, 1)
    out = search_supernet.load_results(tmp_path)
    assert len(out["inherited"]) == cfg.n_archs and out["supernet"]["steps"] == 2 * cfg.steps
    assert summary["proxy"] in ("dss", "synflow", "snip", "grad_norm", "jacob_cov", "naswot", "ntk")
    rec = json.loads((tmp_path / "search_supernet.json").read_text())
    assert rec["evaluations"] == len(rec["scored"])
    before = (tmp_path / "latency.json").read_text()
    (tmp_path / "supernet.pt").unlink()  # not needed to resume: every stage that uses it is on disk
    search_supernet.run("smoke", tmp_path)  # resumes from the files
    assert (tmp_path / "latency.json").read_text() == before and not (tmp_path / "supernet.pt").exists()
    lat = json.loads(before)
    del lat["batch1"]["vit"]  # a results file measured on another set of models is measured again, all together
    (tmp_path / "latency.json").write_text(json.dumps(lat))
    search_supernet.run("smoke", tmp_path)
    again = json.loads((tmp_path / "latency.json").read_text())
    assert set(again["batch1"]) == set(json.loads(before)["batch1"]) == set(again["batch64"])


def test_hand_designs_share_the_ground_truth_recipe() -> None:
    """Under the book's preset (cpu) the hand designs of chapters 11 and 12 and the search's standalone trainings use
    one recipe, so the accuracies in chapter 15's Pareto figure are comparable."""
    from efftx_mini.experiments import backbones, vision

    t = search_truth.config_for("cpu")
    for c in (vision.config_for("cpu"), backbones.config_for("cpu")):
        assert (c.steps, c.batch, c.lr, c.warmup, c.shift) == (t.steps, t.batch, t.lr, t.warmup, t.shift)
    rows = search_supernet.hand_results("cpu")  # the committed results of both chapters
    assert set(rows) == set(search_supernet.HAND_DESIGNS)
    assert all(0.5 < r["test_acc_min"] <= r["test_acc_mean"] <= r["test_acc_max"] <= 1 and r["seeds"] >= 3
               for r in rows.values())


def test_bench_proxies_smoke() -> None:
    from efftx_mini.bench import proxies as bench

    res = bench.run("smoke", repeats=2, warmup=0)
    assert {r["arch"] for r in res["rows"]} == {"smallest", "median", "largest"}
    r = res["rows"][0]
    assert r["seconds_ci_lo"] <= r["seconds_median"] <= r["seconds_ci_hi"] and r["aa_n"] == 2
    assert {"commit", "hardware", "command"} <= set(res["meta"])


def test_bench_search_latency_smoke(tmp_path: Path) -> None:
    from efftx_mini.bench import search as bench

    search_truth.run("smoke", tmp_path)
    search_supernet.run("smoke", tmp_path)
    res = bench.run("smoke", repeats=2, warmup=0, folder=tmp_path)
    rows = {r["model"]: r for r in res["rows"]}
    assert {"search:supernet", "search:proxy", "search:random"} | set(search_supernet.HAND_DESIGNS) == set(rows)
    assert rows["vit"]["aa_n"] == 2 and rows["vit"]["ms_median"] > 0 and "verdict" in rows["cnn"]
