"""Training pieces against the paper's formulas and PyTorch: label smoothing, Noam schedule, Adam, logging, CLI."""

import json
import math
import sys
import types

import pytest
import torch
import torch.nn.functional as F

from efftx_mini.data import PAD
from efftx_mini.train import (
    LabelSmoothingLoss,
    MetricsLogger,
    TrainConfig,
    Trainer,
    autocast_settings,
    main,
    make_optimizer,
    noam_lambda,
    noam_lr,
    smoothed_targets,
)


@pytest.fixture(autouse=True)
def one_thread():
    # tiny models: a second intra-op thread only adds contention on a shared CPU
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def hand_label_smoothing(logits, target, eps, pad):
    """Σ over non-pad rows of Σ_c q_c (log q_c − log p_c), written out with Python loops (§5.4)."""
    V = logits.shape[-1]
    logp = torch.log_softmax(logits.double(), -1)
    total = torch.zeros((), dtype=torch.float64)
    for i, t in enumerate(target.tolist()):
        if t == pad:
            continue
        for c in range(V):
            q = 0.0 if c == pad else (1 - eps if c == t else eps / (V - 2))
            if q > 0:
                total = total + q * (math.log(q) - logp[i, c])
    return total


def test_smoothed_targets():
    q = smoothed_targets(torch.tensor([3, 0, 1]), 6, 0.1, pad_id=0)
    assert torch.allclose(q[0], torch.tensor([0, 0.025, 0.025, 0.9, 0.025, 0.025]))
    assert q[1].sum() == 0  # pad row
    assert torch.allclose(q.sum(-1), torch.tensor([1.0, 0.0, 1.0]))


def test_label_smoothing_matches_hand_formula_values_and_grads():
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 7, dtype=torch.float64, requires_grad=True)
    target = torch.tensor([[3, 1, 5, 0, 0], [6, 2, 2, 4, 0]])
    ours = LabelSmoothingLoss(7, pad_id=0, smoothing=0.1)(logits, target)
    ref = hand_label_smoothing(logits.reshape(-1, 7), target.reshape(-1), 0.1, 0)
    g_ours, = torch.autograd.grad(ours, logits)
    g_ref, = torch.autograd.grad(ref, logits)
    torch.testing.assert_close(ours.double(), ref, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(g_ours.double(), g_ref, rtol=1e-5, atol=1e-6)
    assert g_ours[0, 3].abs().sum() == 0  # pad rows get no gradient


def test_label_smoothing_matches_torch_cross_entropy():
    torch.manual_seed(1)
    V, eps = 9, 0.1
    logits = torch.randn(12, V, requires_grad=True)
    target = torch.randint(0, V, (12,))
    # without a pad class: q = 1−ε on the target, ε/(V−1) elsewhere = torch's label_smoothing ε·V/(V−1);
    # KL = cross-entropy − H(q), and H(q) does not depend on the logits
    ours = LabelSmoothingLoss(V, pad_id=None, smoothing=eps)(logits, target)
    ce = F.cross_entropy(logits, target, label_smoothing=eps * V / (V - 1), reduction="sum")
    q = smoothed_targets(target, V, eps, None)
    entropy = -(q * q.log()).sum()
    torch.testing.assert_close(ours, ce - entropy, rtol=1e-5, atol=1e-5)
    g1, = torch.autograd.grad(ours, logits)
    g2, = torch.autograd.grad(ce, logits)
    torch.testing.assert_close(g1, g2, rtol=1e-5, atol=1e-6)
    # ε = 0 with a pad class: exactly the cross-entropy that ignores pad targets
    target[:3] = PAD
    ours0 = LabelSmoothingLoss(V, pad_id=PAD, smoothing=0.0)(logits, target)
    ce0 = F.cross_entropy(logits, target, ignore_index=PAD, reduction="sum")
    torch.testing.assert_close(ours0, ce0)
    torch.testing.assert_close(torch.autograd.grad(ours0, logits)[0], torch.autograd.grad(ce0, logits)[0])


def test_label_smoothing_errors():
    with pytest.raises(ValueError, match=r"\(2, 3, 5\).*\(2, 4\)"):
        LabelSmoothingLoss(5)(torch.randn(2, 3, 5), torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="smoothing"):
        LabelSmoothingLoss(5, smoothing=1.0)


def test_noam_schedule_peak_and_lambdalr():
    d, w = 512, 4000
    lrs = [noam_lr(s, d, w) for s in range(1, 3 * w)]
    assert max(range(len(lrs)), key=lrs.__getitem__) + 1 == w
    assert noam_lr(w, d, w) == pytest.approx(d**-0.5 * w**-0.5)
    assert noam_lr(100, d, w) == pytest.approx(d**-0.5 * 100 * w**-1.5)  # linear warmup
    assert noam_lr(4 * w, d, w) == pytest.approx(d**-0.5 * (4 * w) ** -0.5)  # inverse square root decay
    assert noam_lr(0, d, w) == noam_lr(1, d, w)
    # LambdaLR with base lr 1: the k-th optimizer step uses noam_lr(k)
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([p], lr=1.0, betas=(0.9, 0.98), eps=1e-9)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, noam_lambda(64, 10, factor=2.0))
    used = []
    for _ in range(25):
        used.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert used == pytest.approx([noam_lr(k, 64, 10, 2.0) for k in range(1, 26)])
    with pytest.raises(ValueError, match="warmup"):
        noam_lambda(64, 0)


def test_adam_settings_and_amp():
    opt = make_optimizer(torch.nn.Linear(2, 2))
    g = opt.param_groups[0]
    assert g["betas"] == (0.9, 0.98) and g["eps"] == 1e-9
    assert autocast_settings(torch.device("cpu")) == (False, torch.float32, False)
    assert autocast_settings(torch.device("cpu"), "fp16") == (False, torch.float32, False)
    with pytest.raises(ValueError, match="amp"):
        autocast_settings(torch.device("cpu"), "fp8")


def test_logging_without_tensorboard_or_wandb(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails as if not installed
    monkeypatch.setitem(sys.modules, "wandb", None)
    logger = MetricsLogger(tmp_path, tensorboard=None, wandb=True)
    assert logger.backends == ["jsonl"]
    assert any("tensorboard" in n for n in logger.notes) and any("wandb" in n for n in logger.notes)
    logger.log({"step": 1, "loss": 2.5})
    logger.close()
    assert json.loads((tmp_path / "metrics.jsonl").read_text()) == {"step": 1, "loss": 2.5}


def test_logging_with_a_wandb_module(tmp_path, monkeypatch):
    calls = []

    class Run:
        def log(self, data, step):
            calls.append(("log", data, step))

        def finish(self):
            calls.append(("finish",))

    fake = types.ModuleType("wandb")
    fake.init = lambda **kw: calls.append(("init", kw["mode"])) or Run()
    monkeypatch.setitem(sys.modules, "wandb", fake)
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    logger = MetricsLogger(tmp_path, wandb=True)
    logger.log({"step": 3, "loss": 1.0, "note": "x"})
    logger.close()
    assert calls == [("init", "offline"), ("log", {"loss": 1.0}, 3), ("finish",)]
    assert MetricsLogger(tmp_path, tensorboard=False).backends == ["jsonl"]  # wandb only when asked


def test_training_reduces_the_loss():
    cfg = TrainConfig(task="copy", d_model=32, n_heads=2, n_layers=1, d_ff=64, dropout=0.0, batch_size=32,
                      steps=60, warmup=10, lr_factor=0.5, seq_len=5, eval_every=0, amp="off")
    hist = Trainer(cfg, progress=False, device=torch.device("cpu")).fit()
    first, last = sum(h["loss"] for h in hist[:5]) / 5, sum(h["loss"] for h in hist[-5:]) / 5
    assert last < 0.6 * first


def test_cli_trains_resumes_and_writes_results(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["--task", "numbers", "--preset", "smoke", "--out", str(out), "--steps", "6", "--ckpt-every", "3",
            "--beam", "2", "--no-progress"]
    assert main(args) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["steps"] == 6 and set(res) >= {"beam1", "beam2", "config"}
    assert 0 <= res["beam1"]["exact"] <= 1 and 0 <= res["beam2"]["bleu"] <= 100
    assert len((out / "metrics.jsonl").read_text().splitlines()) >= 6
    assert main(args + ["--seed", "1"]) == 2  # a different config is refused …
    assert main(args + ["--no-resume"]) == 2  # … and so is reusing a run directory without resuming
    capsys.readouterr()
    assert main([*args, "--steps", "8"]) == 0  # more steps: the run continues from step 6
    assert "resumed from" in capsys.readouterr().out
    assert json.loads((out / "results.json").read_text())["steps"] == 8


def test_bench_models_compute_the_same_function(capsys):
    """The benchmark's torch.nn.Transformer twin equals our model once the weights are copied (eval mode)."""
    from efftx_mini.bench.train import TorchTransformer
    from efftx_mini.bench.train import main as bench_main
    from efftx_mini.data import make_batch
    from efftx_mini.transformer import Transformer

    torch.manual_seed(0)
    ours, theirs = Transformer(30, 30, 32, 4, 2, 64, 0.1, pad_id=PAD), TorchTransformer(30, 30, 32, 4, 2, 64, 0.1)
    rename = {"ffn.w1": "linear1", "ffn.w2": "linear2", "cross_attn": "multihead_attn"}
    state = {}
    for k, v in ours.state_dict().items():
        if k.startswith(("encoder.", "decoder.")):
            for a, b in rename.items():
                k = k.replace(a, b)
            k = "core." + k
        state[k] = v
    theirs.load_state_dict(state)
    src = torch.randint(4, 30, (3, 7))
    tgt = torch.randint(4, 30, (3, 6))
    src[0, 5:] = PAD
    tgt[1, 4:] = PAD
    b = make_batch(src, tgt)
    ours.eval(), theirs.eval()
    keep = b.tgt_out != PAD  # compare positions whose query is a real token
    got = ours(b.src, b.tgt_in, b.src_mask, b.tgt_mask)
    want = theirs(b.src, b.tgt_in)
    torch.testing.assert_close(got[keep], want[keep], rtol=1e-4, atol=1e-4)
    assert bench_main(["--preset", "smoke", "--json", "--repeats", "1"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert [r["model"] for r in rows] == ["efftx_mini", "torch.nn", "torch.nn (A/A)"]
    assert all(r["tokens/s"] > 0 for r in rows)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (none on this machine)")
@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_amp_training_on_cuda(amp, tmp_path):
    if amp == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    cfg = TrainConfig(task="copy", d_model=32, n_heads=2, n_layers=1, d_ff=64, dropout=0.0, batch_size=32,
                      steps=40, warmup=10, lr_factor=0.5, seq_len=5, amp=amp, ckpt_every=20)
    t = Trainer(cfg, tmp_path, device=torch.device("cuda"), progress=False)
    assert t.amp and t.amp_dtype == (torch.bfloat16 if amp == "bf16" else torch.float16)
    assert t.scaler.is_enabled() == (amp == "fp16")
    hist = t.fit()
    assert all(math.isfinite(h["loss"]) for h in hist) and hist[-1]["loss"] < hist[0]["loss"]
    resumed = Trainer(cfg, tmp_path, device=torch.device("cuda"), progress=False)
    assert resumed.resume() and resumed.step == 40
