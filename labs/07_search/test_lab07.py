"""Lab 07's public tests: SynFlow, SNIP and Spearman's rank correlation against efftx_mini's proxies and scipy, on
networks and data generated here. Run: ``make lab-check LAB=07`` or ``python -m pytest labs/07_search``."""

from __future__ import annotations

import pytest
import torch
from labtools import forbidden_uses
from scipy.stats import spearmanr
from torch import nn

from efftx_mini.search.proxies import snip, synflow


def test_does_not_call_the_reference(lab) -> None:
    uses = forbidden_uses(lab.IMPL_FILE, modules=("efftx_mini", "scipy"))
    assert not uses, f"{lab.IMPL_FILE.name} calls what the tests compare against: {uses}"


def mlp(width: int, depth: int) -> nn.Module:
    layers: list[nn.Module] = [nn.Flatten(), nn.Linear(12, width), nn.ReLU()]
    for _ in range(depth - 1):
        layers += [nn.Linear(width, width), nn.LayerNorm(width), nn.GELU()]
    return nn.Sequential(*layers, nn.Linear(width, 4))


def cnn(channels: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, channels, 3, padding=1), nn.ReLU(), nn.Conv2d(channels, channels, 3),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, 4))


NETS = {"mlp 16x2": (lambda: mlp(16, 2), (12,)), "mlp 32x3": (lambda: mlp(32, 3), (12,)),
        "cnn 4": (lambda: cnn(4), (1, 6, 6)), "cnn 8": (lambda: cnn(8), (1, 6, 6))}


def batch(shape: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(8, *shape), torch.randint(0, 4, (8,))


@pytest.mark.parametrize("name", list(NETS))
def test_synflow_matches_the_package(lab, name: str) -> None:
    make, shape = NETS[name]
    net, b = make(), batch(shape)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    got = lab.run_synflow(net, b)
    assert got == pytest.approx(synflow.score(net, b), rel=1e-9)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items()), "the proxy changed the model"
    assert all(p.grad is None for p in net.parameters())


@pytest.mark.parametrize("name", list(NETS))
def test_snip_matches_the_package(lab, name: str) -> None:
    make, shape = NETS[name]
    net, b = make(), batch(shape)
    net.eval()
    got = lab.run_snip(net, b)
    assert got == pytest.approx(snip.score(net, b), rel=1e-5)
    assert not net.training, "the proxy changed the model's mode"
    assert all(p.grad is None for p in net.parameters())


@pytest.mark.parametrize("case", ["random", "ties", "reversed", "constant-free"])
def test_spearman_matches_scipy(lab, case: str) -> None:
    g = torch.Generator().manual_seed(3)
    a = torch.randn(20, generator=g).tolist()
    if case == "random":
        b = torch.randn(20, generator=g).tolist()
    elif case == "ties":
        a = [round(v) for v in a]
        b = [round(v * 2) / 2 for v in torch.randn(20, generator=g).tolist()]
    elif case == "reversed":
        b = [-v for v in a]
    else:
        b = [v**3 for v in a]
    assert lab.run_spearman(a, b) == pytest.approx(spearmanr(a, b).statistic, abs=1e-12)


def test_spearman_rejects_bad_lengths(lab) -> None:
    with pytest.raises(ValueError):
        lab.run_spearman([1.0, 2.0], [1.0])
    with pytest.raises(ValueError):
        lab.run_spearman([1.0], [1.0])
