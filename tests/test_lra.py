"""Chapter 10: the offline Long Range Arena — generators, model, experiment (smoke) and the scaling bench."""

import json

import pytest
import torch

from efftx_mini.datasets.lra import TASKS, make_listops, make_pathfinder, make_task
from efftx_mini.datasets.lra.listops import evaluate, parse, tokenize
from efftx_mini.datasets.lra.text import file_split
from efftx_mini.efficient.lra_model import LRA_ATTENTIONS, LRAClassifier, NamedAttention, attention_by_name


@pytest.mark.parametrize(("expr", "value"), [
    ("[MAX 2 9 ]", 9), ("[MIN 4 [MAX 2 7 ] 3 ]", 3), ("[MED 1 2 ]", 1), ("[MED 5 1 9 ]", 5),
    ("[SM 7 8 ]", 5), ("[SM [MAX 9 1 ] [MIN 3 4 ] 5 ]", 7), ("6", 6),
])
def test_listops_evaluator_on_hand_written_expressions(expr, value):
    tree = parse(expr.split())
    assert evaluate(tree) == value
    assert tokenize(tree) == expr.split()


@pytest.mark.parametrize("name", TASKS)
def test_tasks_deterministic_shapes_and_labels(name):
    a, b = make_task(name, "smoke"), make_task(name, "smoke")
    for split in ("train", "valid", "test"):
        sa, sb = a.splits[split], b.splits[split]
        assert torch.equal(sa.x, sb.x) and torch.equal(sa.y, sb.y)
        assert sa.x.shape[0] == sa.y.shape[0] > 0
        assert sa.x.shape[-1] <= a.max_len
        assert sa.x.shape[1:] == ((2, a.max_len) if a.dual else (a.max_len,))
        assert 0 <= int(sa.y.min()) and int(sa.y.max()) < a.n_classes
        assert 0 <= int(sa.x.min()) and int(sa.x.max()) < a.vocab_size
        a.check_tokens(sa.x)
    assert 0.0 <= a.chance <= 1.0


def test_seeds_differ_and_splits_disjoint():
    a, b = make_listops(64, 32, 40, max_depth=3, seed=0), make_listops(64, 32, 40, max_depth=3, seed=1)
    assert not torch.equal(a.splits["train"].x, b.splits["train"].x)
    rows = {tuple(r.tolist()) for s in ("train", "valid", "test") for r in a.splits[s].x}
    assert len(rows) == 64 + 2 * 32  # every expression once: no overlap between splits
    splits = file_split([f"pkg/{i}.py" for i in range(50)] + [f"other/{i}.py" for i in range(10)])
    assert sum(v == "test" for v in splits.values()) == 12 and sum(v == "valid" for v in splits.values()) == 6


def test_balanced_labels_as_stated():
    for name in ("text", "retrieval", "pathfinder"):
        task = make_task(name, "smoke")
        counts = torch.bincount(task.splits["train"].y, minlength=task.n_classes)
        assert counts.max() - counts.min() <= 1, (name, counts)
    pf = make_pathfinder({"train": 20, "valid": 8, "test": 8}, S=12)
    img = pf.splits["train"].x.reshape(-1, 12, 12) - 1
    assert (img == 255).any(-1).any(-1).all() and (img == 128).any(-1).any(-1).all()


def test_task_errors():
    task = make_task("listops", "smoke")
    with pytest.raises(ValueError, match="max_len"):
        task.check_tokens(torch.ones(2, task.max_len + 1, dtype=torch.long))
    with pytest.raises(ValueError, match="unknown LRA task"):
        make_task("cifar")
    with pytest.raises(ValueError, match="S >= 8"):
        make_pathfinder({"train": 2, "valid": 2, "test": 2}, S=4)
    with pytest.raises(ValueError, match="min_len"):
        make_listops(4, 4, 10, min_len=20)


@pytest.mark.parametrize("attention", LRA_ATTENTIONS)
def test_classifier_runs_and_respects_padding(attention):
    torch.manual_seed(0)
    opts = {"window": 4} if attention == "local" else {}
    m = LRAClassifier(20, 3, 32, attention, d_model=16, n_heads=2, n_layers=1, d_ff=32, **opts).eval()
    x = torch.randint(1, 20, (2, 10))
    padded = torch.cat([x, torch.zeros(2, 6, dtype=torch.long)], 1)
    assert m(x).shape == (2, 3)
    if attention == "cosformer":  # its re-weighting cos(π(i − j)/2M) uses M = padded length: padding matters
        assert not torch.allclose(m(x), m(padded), atol=1e-5)
    else:
        assert torch.allclose(m(x), m(padded), atol=1e-5)  # PAD changes nothing (key padding + masked mean)
    with pytest.raises(ValueError, match="max_len"):
        m(torch.ones(1, 33, dtype=torch.long))


def test_named_attention_softmax_equals_multihead():
    from efftx_mini.attention import MultiHeadAttention
    torch.manual_seed(0)
    ref = MultiHeadAttention(16, 2)
    ours = NamedAttention(16, 2, "softmax")
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(2, 7, 16)
    assert torch.allclose(ours(x, x, x)[0], ref(x, x, x)[0], atol=1e-6)
    with pytest.raises(ValueError, match="unknown attention"):
        attention_by_name("performer")


def test_dual_model_needs_pairs():
    m = LRAClassifier(20, 2, 16, "linear", d_model=8, n_heads=2, n_layers=1, d_ff=16, dual=True)
    assert m(torch.randint(1, 20, (3, 2, 16))).shape == (3, 2)
    with pytest.raises(ValueError, match=r"\(B, 2, T\)"):
        m(torch.randint(1, 20, (3, 16)))


def test_experiment_smoke_resumes(tmp_path):
    from efftx_mini.experiments import lra
    res = lra.run("smoke", tmp_path, tasks=["listops"], attentions=["softmax", "linear"])
    assert len(res["summary"]) == 2 and res["summary"][0]["seeds"] == 3
    first = (tmp_path / "run_listops_linear_0.json").read_text()
    lra.run("smoke", tmp_path, tasks=["listops"], attentions=["softmax", "linear"])
    assert (tmp_path / "run_listops_linear_0.json").read_text() == first  # finished runs are reused
    loaded = lra.load_results(tmp_path)
    assert {r["attention"] for r in loaded["summary"]} == {"softmax", "linear"}
    assert loaded["meta"]["command"].startswith("python -m efftx_mini.experiments.lra")
    assert all(r["vs_softmax_mean"] == 0 for r in loaded["summary"] if r["attention"] == "softmax")


def test_scaling_bench_smoke(tmp_path):
    from efftx_mini.bench import attention_scaling as b
    out = tmp_path / "s.json"
    assert b.main(["--preset", "smoke", "--T", "32,64", "--repeats", "1", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert {r["attention"] for r in res["rows"]} == set(b.CONTENDERS)
    assert b.loglog_slope([10, 100], [3.0, 300.0]) == pytest.approx(2.0)
    assert b.loglog_slope([10, 100, 1000], [5.0, 50.0, 500.0]) == pytest.approx(1.0)


def test_crossover_needs_the_whole_range_above_one():
    from efftx_mini.bench.attention_scaling import crossovers

    def row(n, T, lo):
        return {"attention": n, "T": T, "speedup_vs_sdpa_lo": lo}

    rows = [row("softmax-sdpa", T, 1.0) for T in (1, 2, 3, 4)]
    rows += [row("linear", 1, 1.2), row("linear", 2, 0.9), row("linear", 3, 1.1), row("linear", 4, 1.5)]
    rows += [row("local", T, 0.8) for T in (1, 2, 3, 4)]
    assert crossovers(rows) == {"linear": 3, "local": None}
