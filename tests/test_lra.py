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
    img = pf.splits["train"].x.reshape(-1, 12, 12)  # black background = PAD (0), as LRA's inputs > 0 mask
    assert (img == 255).any(-1).any(-1).all() and (img == 128).any(-1).any(-1).all()
    assert (img == 0).float().mean() > 0.5  # most of an image is background, i.e. padding
    lit = make_pathfinder({"train": 20, "valid": 8, "test": 8}, S=12, pad_background=False)
    assert torch.equal(lit.splits["train"].x, pf.splits["train"].x + 1)  # same images, every pixel a token


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
        attention_by_name("reformer")


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
    run = json.loads(first)
    assert [c["step"] for c in run["curve"]] == [1, 2, 3, 4]  # the training curve: one point per eval_every steps
    assert not list(tmp_path.glob("ckpt_*"))  # checkpoints are removed when a run ends


@pytest.mark.parametrize(("task", "attention"), [("pathfinder", "performer"), ("listops", "cosformer")])
def test_interrupted_run_resumes_exactly(tmp_path, task, attention):
    """Stopped half-way and resumed from its checkpoint, a run ends exactly as one that ran through."""
    from efftx_mini.experiments import lra
    cfg = lra.config_for("smoke", task)
    t = make_task(task, "smoke")
    dev = torch.device("cpu")
    whole = lra.train_one(t, attention, 1, cfg, dev)
    ck = tmp_path / "ck.pt"
    assert lra.train_one(t, attention, 1, cfg, dev, checkpoint=ck, stop_after=2) is None and ck.exists()
    resumed = lra.train_one(t, attention, 1, cfg, dev, checkpoint=ck)
    for key in ("curve", "test_acc", "valid_acc", "train_loss_last"):
        assert resumed[key] == whole[key], key
    assert not ck.exists()


def test_fresh_batches_are_paired_and_seeded():
    """Tasks with a sampler draw new examples at each step, the same for every attention of one seed."""
    from efftx_mini.experiments import lra
    for name in ("text", "retrieval", "pathfinder"):
        t = make_task(name, "smoke")
        assert t.sampler is not None
        a, b = t.sampler(5, 6), t.sampler(5, 6)
        assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y) and len(a) == 6
        assert not torch.equal(t.sampler(6, 6).x, a.x)
        assert a.x.shape[1:] == t.splits["train"].x.shape[1:]
        cfg = lra.config_for("smoke", name)
        x0, _ = lra._batches(t, 0, cfg)(3)
        x1, _ = lra._batches(t, 0, cfg)(3)
        assert torch.equal(x0, x1) and not torch.equal(x0, lra._batches(t, 1, cfg)(3)[0])
    assert make_task("image", "smoke").sampler is None


def test_runs_are_shared_out_between_processes():
    from efftx_mini.experiments import lra
    jobs = [(s, t, a) for s in range(3) for t in TASKS for a in LRA_ATTENTIONS]
    ranks = lra.assign(jobs, "cpu", 2)
    assert set(ranks) == {0, 1}
    load = [sum(lra._cost("cpu", t, a) for (s, t, a), r in zip(jobs, ranks, strict=True) if r == k) for k in (0, 1)]
    assert max(load) / min(load) < 1.05  # balanced within 5 %
    assert lra.assign(jobs, "cpu", 1) == [0] * len(jobs)


def test_scaling_bench_smoke(tmp_path):
    from efftx_mini.bench import attention_scaling as b
    out = tmp_path / "s.json"
    assert b.main(["--preset", "smoke", "--T", "32,64", "--repeats", "3", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert {r["attention"] for r in res["rows"]} == set(b.CONTENDERS)
    assert {"command", "commit", "hardware"} <= set(res["meta"])
    for r in res["rows"]:  # every ratio carries median, bootstrap interval, min–max, quartiles, n and a verdict
        assert r["fwd_bwd_ms_ci_lo"] <= r["fwd_bwd_ms_median"] <= r["fwd_bwd_ms_ci_hi"]
        assert r["fwd_bwd_ms_lo"] <= r["fwd_bwd_ms_q1"] <= r["fwd_bwd_ms_q3"] <= r["fwd_bwd_ms_hi"]
        if r["attention"] != b.BASE:
            assert {f"speedup_vs_sdpa_{k}" for k in ("median", "ci_lo", "ci_hi", "lo", "hi", "q1", "q3", "n")} <= set(r)
            assert r["speedup_vs_sdpa_n"] == 3 and "aa_ci_lo" in r
            assert r["verdict"] in {"faster", "slower", "within noise", "noisy machine (A/A interval excludes 1)"}
    assert [a["T"] for a in res["aa"]] == [32, 64] and all(a["aa_n"] == 3 for a in res["aa"])
    assert b.loglog_slope([10, 100], [3.0, 300.0]) == pytest.approx(2.0)
    assert b.loglog_slope([10, 100, 1000], [5.0, 50.0, 500.0]) == pytest.approx(1.0)
    lo, hi = b.slope_ci([10, 100, 1000], [[5.0, 5.5, 4.5], [50.0, 55.0, 45.0], [500.0, 550.0, 450.0]])
    assert lo <= 1.0 <= hi and hi - lo < 0.2


def test_crossover_needs_the_verdict_faster_from_there_on():
    from efftx_mini.bench.attention_scaling import crossovers

    def row(n, T, v):
        return {"attention": n, "T": T, "verdict": v}

    rows = [row("softmax-sdpa", T, "reference") for T in (1, 2, 3, 4)]
    rows += [row("linear", 1, "faster"), row("linear", 2, "within noise"), row("linear", 3, "faster"),
             row("linear", 4, "faster")]
    rows += [row("local", T, "slower") for T in (1, 2, 3, 4)]
    rows += [row("cosformer", T, "noisy machine (A/A interval excludes 1)") for T in (1, 2, 3)]
    rows += [row("cosformer", 4, "faster")]
    assert crossovers(rows) == {"linear": 3, "local": None, "cosformer": 4}


def test_positions_options():
    from efftx_mini.efficient.lra_model import sinusoidal_2d
    from efftx_mini.positional import sinusoidal_encoding
    pe = sinusoidal_2d(64, 16)
    half = sinusoidal_encoding(8, 8)
    for p in (0, 9, 27, 63):
        assert torch.equal(pe[p, :8], half[p // 8]) and torch.equal(pe[p, 8:], half[p % 8])
    # neighbours in the image are near in the encoding, even when they are 8 apart in the sequence
    assert (pe[27] - pe[35]).norm() < (pe[27] - pe[31]).norm()
    with pytest.raises(ValueError, match="square number"):
        sinusoidal_2d(60, 16)
    for positions in ("sinusoidal", "sinusoidal-2d", "learned"):
        m = LRAClassifier(20, 3, 64, "softmax", d_model=16, n_heads=2, n_layers=1, d_ff=32, positions=positions)
        assert m(torch.randint(1, 20, (2, 64))).shape == (2, 3)
        assert ("pos" in dict(m.named_parameters())) == (positions == "learned")
    with pytest.raises(ValueError, match="positions must be"):
        LRAClassifier(20, 3, 64, positions="rope")


def test_cls_pooling():
    torch.manual_seed(0)
    m = LRAClassifier(20, 3, 16, "softmax", d_model=16, n_heads=2, n_layers=1, d_ff=32, pool="cls").eval()
    assert m.pos.shape[0] == 17  # one more position: the CLS token takes position 0
    x = torch.randint(1, 20, (2, 10))
    padded = torch.cat([x, torch.zeros(2, 6, dtype=torch.long)], 1)
    assert torch.allclose(m(x), m(padded), atol=1e-5)  # PAD changes nothing
    y = x.clone()
    y[:, -1] = (y[:, -1] % 19) + 1
    assert not torch.allclose(m(x), m(y), atol=1e-4)  # the CLS output reads the whole sequence
    with pytest.raises(ValueError, match="pool must be"):
        LRAClassifier(20, 3, 16, pool="max")
    with pytest.raises(ValueError, match="CLS token has no place"):
        LRAClassifier(20, 3, 16, pool="cls", positions="sinusoidal-2d")
    from efftx_mini.experiments import lra
    assert lra.config_for("cpu", "listops").pool == "cls" and lra.config_for("cpu", "text").pool == "mean"


def test_local_attention_with_a_cls_token_makes_it_global():
    """Longformer §3.1: the CLS token is global, so a token beyond the window's reach still moves the logits."""
    torch.manual_seed(0)
    T, w = 200, 8  # from position 0, two layers reach only the first 2·w = 16 positions
    x = torch.randint(1, 20, (1, T))
    far = x.clone()
    far[0, T - 1] = (far[0, T - 1] % 19) + 1
    near = x.clone()
    near[0, 5] = (near[0, 5] % 19) + 1
    kw = dict(d_model=16, n_heads=2, n_layers=2, d_ff=32, pool="cls", window=w)
    glob = LRAClassifier(20, 3, T, "local", **kw).eval()
    blind = LRAClassifier(20, 3, T, "local", n_global=0, **kw).eval()
    blind.load_state_dict(glob.state_dict())
    with torch.no_grad():
        assert (glob(x) - glob(far)).abs().max() > 1e-4  # the global CLS token reads the far token
        assert (blind(x) - blind(far)).abs().max() == 0.0  # without it, the far token cannot reach the CLS token
        assert (blind(x) - blind(near)).abs().max() > 1e-4  # but a near one can
        assert glob.layers[0].self_attn.fn.keywords["n_global"] == 1
    from efftx_mini.experiments import lra
    assert lra.config_for("cpu", "listops").pool == "cls"  # so the ListOps local runs use a global CLS token


def test_every_split_prefix_is_a_fair_sample():
    """Training curves score a prefix of the validation split: it must hold every class (the shipped digits are
    sorted by label)."""
    for name in TASKS:
        task = make_task(name, "smoke")
        if name == "image":
            for split in ("valid", "test"):
                assert len(torch.unique(task.splits[split].y[:100])) == task.n_classes, split


def test_outer_operator_baseline_by_hand():
    from efftx_mini.datasets.lra import LRATask, Split
    from efftx_mini.datasets.lra.listops import outer_operator_accuracy
    x = torch.tensor([[11, 1, 2], [11, 3, 4], [12, 5, 6], [12, 7, 8], [13, 1, 1]])  # first tokens: ops 11, 12, 13
    y = torch.tensor([9, 9, 0, 1, 5])
    train = Split(x, y)
    test = Split(torch.tensor([[11, 0, 0], [12, 0, 0], [14, 0, 0]]), torch.tensor([9, 1, 9]))
    task = LRATask("listops", {"train": train, "valid": test, "test": test}, 16, 10, 3)
    # 11 -> 9 (right), 12 -> 0 (the first of a tie; wrong), 14 unseen -> majority 9 (right)
    assert outer_operator_accuracy(task) == pytest.approx(2 / 3)


def test_marker_distance_baseline_by_hand():
    from efftx_mini.datasets.lra import LRATask, Split
    from efftx_mini.datasets.lra.image import marker_distance_accuracy

    def img(*pixels: tuple[int, int]) -> torch.Tensor:
        x = torch.zeros(8, 8, dtype=torch.long)
        x[3, :] = 128  # a curve: ignored by the rule
        for r, c in pixels:
            x[r, c] = 255
        return x.flatten()

    # training: connected markers 1 and 2 pixels apart, unconnected ones 5 and 6 apart -> threshold 2
    train = Split(torch.stack([img((0, 0), (0, 1)), img((0, 0), (2, 0)), img((0, 0), (0, 5)), img((0, 0), (6, 0))]),
                  torch.tensor([1, 1, 0, 0]))
    # test: 2 apart (connected: right), 3 apart (unconnected: right), 1 apart but unconnected (wrong),
    # a single marker pixel (distance 0, called connected; it is: right)
    test = Split(torch.stack([img((5, 5), (7, 5)), img((0, 0), (0, 3)), img((4, 4), (4, 5)), img((7, 7))]),
                 torch.tensor([1, 0, 0, 1]))
    task = LRATask("pathfinder", {"train": train, "valid": test, "test": test}, 257, 2, 64,
                   info={"side": 8, "pad_background": True})
    assert marker_distance_accuracy(task) == pytest.approx(3 / 4)
    # the shipped generator: short curves make the distance a strong cue, long ones a weak one
    short = make_pathfinder({"train": 200, "valid": 2, "test": 200}, S=16, length=4, seed=0)
    long = make_pathfinder({"train": 200, "valid": 2, "test": 200}, S=16, length=14, seed=0)
    assert marker_distance_accuracy(short) > 0.7 > marker_distance_accuracy(long) + 0.05
