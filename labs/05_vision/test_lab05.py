"""Lab 05's public tests: Swin's window partition and shifted-window mask, ToMe's bipartite soft matching and
size-weighted merge, against efftx_mini's reference implementations on inputs generated here. Run:
``make lab-check LAB=05`` or ``python -m pytest labs/05_vision``."""

from __future__ import annotations

import pytest
import torch
from labtools import forbidden_uses

from efftx_mini.vision.swin import shifted_window_mask, window_partition, window_reverse
from efftx_mini.vision.tome import bipartite_soft_matching, merge_wavg

f64 = torch.float64


def test_does_not_call_the_reference(lab) -> None:
    uses = forbidden_uses(lab.IMPL_FILE)
    assert not uses, f"{lab.IMPL_FILE.name} calls what the tests compare against: {uses}"


@pytest.mark.parametrize(("H", "W", "M"), [(8, 8, 4), (6, 9, 3), (4, 4, 4), (4, 6, 2)])
def test_window_partition_and_reverse(lab, H: int, W: int, M: int) -> None:
    x = torch.randn(2, H, W, 5)
    got = lab.run_window_partition(x, M)
    torch.testing.assert_close(got, window_partition(x, M))
    torch.testing.assert_close(lab.run_window_reverse(got, M, H, W), x)
    torch.testing.assert_close(window_reverse(got, M, H, W), x)


def test_window_partition_rejects_a_grid_it_cannot_tile(lab) -> None:
    with pytest.raises(ValueError):
        lab.run_window_partition(torch.randn(1, 6, 8, 2), 4)


@pytest.mark.parametrize(("H", "W", "M", "shift"), [(8, 8, 4, 2), (6, 6, 3, 1), (12, 8, 4, 3), (4, 4, 2, 1)])
def test_shifted_window_mask(lab, H: int, W: int, M: int, shift: int) -> None:
    got = lab.run_shifted_window_mask(H, W, M, shift)
    assert got.dtype == torch.bool
    assert torch.equal(got, shifted_window_mask(H, W, M, shift))


def test_shifted_window_mask_says_who_was_a_neighbour(lab) -> None:
    """Independent check: roll the grid of (row, column) coordinates; two tokens of a window may attend to each
    other iff neither wrapped around the border differently (their original positions form one region)."""
    H = W = 8
    M, shift = 4, 2
    rows, cols = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
    coords = torch.stack([rows, cols], -1)[None].roll((-shift, -shift), dims=(1, 2))  # where each token came from
    win = window_partition(coords, M)[0:]  # (n_windows, M², 2)
    wrapped_r = (win[..., 0] >= H - shift)  # came from the last `shift` rows (wrapped to the top)
    wrapped_c = (win[..., 1] >= W - shift)
    band = wrapped_r.long() * 2 + wrapped_c.long()
    # inside one window after the roll, tokens of the same band pair are contiguous in the original map
    expected = band[:, :, None] == band[:, None, :]
    assert torch.equal(lab.run_shifted_window_mask(H, W, M, shift), expected)


@pytest.mark.parametrize("shift", [0, 4, -1])
def test_shifted_window_mask_rejects_bad_shift(lab, shift: int) -> None:
    with pytest.raises(ValueError):
        lab.run_shifted_window_mask(8, 8, 4, shift)


@pytest.mark.parametrize(("T", "r"), [(17, 4), (17, 8), (10, 1), (9, 20)])
def test_merge_tokens_matches_the_package(lab, T: int, r: int) -> None:
    x = torch.randn(3, T, 6, dtype=f64)
    size = torch.randint(1, 4, (3, T, 1)).to(f64)
    metric = torch.randn(3, T, 5, dtype=f64)
    got_x, got_s = lab.run_merge_tokens(x, size, metric, r)
    matching = bipartite_soft_matching(metric, r)
    ref_x, ref_s = merge_wavg(matching, x, size)
    assert got_x.shape == ref_x.shape and got_s.shape == ref_s.shape
    torch.testing.assert_close(got_x, ref_x)
    torch.testing.assert_close(got_s, ref_s)
    torch.testing.assert_close(got_s.sum(1), size.sum(1))  # every patch is still counted once
    torch.testing.assert_close(got_x[:, 0], x[:, 0])  # the class token is untouched


def test_merge_tokens_with_r_zero_changes_nothing(lab) -> None:
    x, size, metric = torch.randn(2, 9, 4), torch.ones(2, 9, 1), torch.randn(2, 9, 3)
    got_x, got_s = lab.run_merge_tokens(x, size, metric, 0)
    torch.testing.assert_close(got_x, x)
    torch.testing.assert_close(got_s, size)
