"""Variant exercises (efftx_mini.variants): every registered variant draws, for any seed, a question and a worked
answer in both languages with the same numbers; a seed gives the same exercise everywhere and different seeds
different ones; several answers are checked against independent references (PyTorch modules, efftx_mini's
sampling filter and timing verdict, a brute-force count)."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch

from efftx_mini import variants
from efftx_mini.generate import filter_logits
from efftx_mini.timing import Spread, verdict

ROOT = Path(__file__).resolve().parents[1]
SEEDS = range(25)
ALL = [v for ch in variants.chapters() for v in variants.REGISTRY[ch]]
NUMBER = re.compile(r"(?<![\w.])\d+(?:,\d{3})*(?:\.\d+)?")


def numbers(text: str) -> Counter:
    # chapter references ("chapter 5" / "5장") and section signs are words, not the exercise's numbers
    text = re.sub(r"(chapter |§)\d+|\d+장", "", text)
    return Counter(NUMBER.findall(text))


def test_every_chapter_so_far_has_two_or_more_variants() -> None:
    assert variants.chapters() == [f"{i:02d}" for i in range(1, 16)]
    for ch in variants.chapters():
        assert len(variants.REGISTRY[ch]) >= 2, ch


@pytest.mark.parametrize("v", ALL, ids=lambda v: v.id)
def test_both_languages_say_the_same_numbers(v) -> None:
    for seed in SEEDS:
        ex = v.draw(seed)
        for part in ("question", "answer"):
            text = getattr(ex, part)
            assert numbers(text["en"]) == numbers(text["ko"]), (v.id, seed, part, text)
            assert "세요" not in text["ko"], "Korean imperatives use -십시오"
            assert not re.search(r"[가-힣]", text["en"]), (v.id, "Hangul in the English text")
            assert text["en"].count("$") % 2 == 0 and text["ko"].count("$") % 2 == 0, "unbalanced maths"


@pytest.mark.parametrize("v", ALL, ids=lambda v: v.id)
def test_a_seed_fixes_the_exercise_and_seeds_vary_it(v) -> None:
    assert v.draw(3) == v.draw(3)
    questions = {v.draw(seed).question["en"] for seed in SEEDS}
    assert len(questions) >= 5, f"{v.id}: only {len(questions)} different questions over {len(SEEDS)} seeds"
    with pytest.raises(ValueError):
        v.draw(-1)


def test_transformer_parameter_counts_match_pytorch() -> None:
    (v,) = [v for v in ALL if v.id == "04-params"]
    for seed in range(6):
        n = v.draw(seed).numbers
        d, d_ff = n["d_model"], n["d_ff"]
        enc = torch.nn.TransformerEncoderLayer(d, 4, d_ff)
        dec = torch.nn.TransformerDecoderLayer(d, 4, d_ff)
        assert n["encoder_layer"] == sum(p.numel() for p in enc.parameters())
        assert n["decoder_layer"] == sum(p.numel() for p in dec.parameters())
        V, N = n["vocab"], n["n_layers"]
        assert n["total"] == 2 * V * d + N * (n["encoder_layer"] + n["decoder_layer"]) + V


def test_top_p_answer_matches_the_package_filter() -> None:
    (v,) = [v for v in ALL if v.id == "06-top-p"]
    for seed in SEEDS:
        n = v.draw(seed).numbers
        logits = torch.tensor(n["percent"], dtype=torch.float64).log().unsqueeze(0)
        kept = torch.isfinite(filter_logits(logits, top_p=n["p"]))[0]
        assert int(kept.sum()) == n["kept"], (seed, n)
        assert math.isclose(sum(p for p, k in zip(n["percent"], kept.tolist(), strict=True) if k) / 100, n["mass"])


def test_speed_verdict_answer_matches_efftx_timing() -> None:
    (v,) = [v for v in ALL if v.id == "07-verdict"]
    names = ["faster", "slower", "within noise", "noisy machine"]
    seen = set()
    for seed in range(60):
        n = v.draw(seed).numbers

        def spread(lo: float, hi: float) -> Spread:
            mid = (lo + hi) / 2
            return Spread(median=mid, lo=lo, hi=hi, q1=mid, q3=mid, n=20, ci_lo=lo, ci_hi=hi)

        got = verdict(spread(n["ratio_lo"], n["ratio_hi"]), spread(n["aa_lo"], n["aa_hi"]))
        assert got.startswith(names[n["verdict"]]), (seed, n, got)
        seen.add(names[n["verdict"]])
    assert len(seen) >= 3, f"the verdict variant only ever asks for {seen}"


def test_no_cache_work_by_brute_force() -> None:
    (v,) = [v for v in ALL if v.id == "06-no-cache"]
    for seed in SEEDS:
        ex = v.draw(seed)
        P, n = (int(x) for x in re.findall(r"\$[Pn] = (\d+)\$", ex.question["en"]))
        assert ex.numbers["without"] == sum(len(range(t)) for t in range(P, P + n))
        assert ex.numbers["with"] == P + n - 1


def test_attention_by_hand_matches_softmax() -> None:
    (v,) = [v for v in ALL if v.id == "01-by-hand"]
    for seed in SEEDS:
        ex = v.draw(seed)
        q = torch.tensor([float(x) for x in re.search(r"\$q = \((-?\d+), (-?\d+)\)\$", ex.question["en"]).groups()])
        k = torch.tensor([[float(a), float(b)] for a, b in re.findall(r"\$k_\d = \((-?\d+), (-?\d+)\)\$",
                                                                       ex.question["en"])])
        vals = torch.tensor([float(x) for x in re.findall(r"\$v_\d = (\d+)\$", ex.question["en"])])
        w = torch.softmax(k @ q / math.sqrt(2), dim=0)
        assert math.isclose(float(w @ vals), ex.numbers["output"], rel_tol=1e-6)


def test_render_hides_answers_unless_asked(monkeypatch) -> None:
    sheet = variants.render(11, "ko", answers=False, only=["06"])
    key = variants.render(11, "ko", answers=True, only=["06"])
    assert "6장 변형 연습 문제 (시드 11)" in sheet and "**답.**" not in sheet and key.count("**답.**") == 3
    for ex in variants.draw("06", 11):
        assert ex.question["ko"] in sheet and ex.answer["ko"] not in sheet and ex.answer["ko"] in key
    monkeypatch.setenv(variants.ENV, "42")
    assert variants.seed_from_env() == 42
    monkeypatch.setenv(variants.ENV, "x")
    with pytest.raises(ValueError, match="EFFTX_VARIANT"):
        variants.seed_from_env()
    with pytest.raises(KeyError, match="chapters with variants"):
        variants.draw("99", 0)


def test_command_line_prints_the_sheet_and_the_key() -> None:
    cmd = [sys.executable, "-m", "efftx_mini.variants", "--seed", "5", "--chapter", "01"]
    sheet = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=120).stdout
    key = subprocess.run([*cmd, "--answers"], capture_output=True, text=True, check=True, timeout=120).stdout
    assert sheet.startswith("## Chapter 1: variant exercises (seed 5)") and "**Answer.**" not in sheet
    assert key.count("**Answer.**") == len(variants.REGISTRY["01"])


def test_korean_texts_use_the_glossary_terms() -> None:
    from test_glossary import load_terms, violations

    text = "\n".join(f"{ex.question['ko']}\n{ex.answer['ko']}" for ch in variants.chapters() for seed in range(5)
                     for ex in variants.draw(ch, seed))
    assert not violations(text, load_terms())


def _sphinx_build(tmp_path: Path, name: str, *settings: str) -> str:
    """Build book/en/variants.md alone with MyST and the course extension; return the page's HTML."""
    src = tmp_path / "src"
    if not src.exists():
        (src / "book" / "en").mkdir(parents=True)
        (src / "book" / "en" / "variants.md").write_text((ROOT / "book" / "en" / "variants.md").read_text("utf-8"),
                                                         encoding="utf-8")
        (src / "index.md").write_text("# x\n\n```{toctree}\nbook/en/variants\n```\n", encoding="utf-8")
        (src / "conf.py").write_text(
            f"import sys\nsys.path.insert(0, {str(ROOT / 'book' / '_ext')!r})\n"
            "extensions = ['myst_parser', 'efftx_course']\nroot_doc = 'index'\n"
            "myst_enable_extensions = ['dollarmath']\n", encoding="utf-8")
    out = tmp_path / name
    cmd = [sys.executable, "-m", "sphinx", "-q", "-W", "-b", "html", str(src), str(out), *settings]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return (out / "book" / "en" / "variants.html").read_text(encoding="utf-8")


def test_variants_page_has_answers_for_the_instructor_only(tmp_path: Path) -> None:
    instructor = _sphinx_build(tmp_path, "instructor", "-D", "efftx_variant=7")
    student = _sphinx_build(tmp_path, "student", "-D", "efftx_variant=7", "-D", "efftx_solutions=hide")
    n = sum(len(variants.REGISTRY[ch]) for ch in variants.chapters())
    assert instructor.count('class="efftx-variant-answer') == n and "efftx-variant-answer" not in student
    assert "Chapter 6: variant exercises (seed 7)" in student
    assert instructor.count("<strong>Answer.</strong>") == n and "<strong>Answer.</strong>" not in student
    assert student.count("<li><p>") == instructor.count("<li><p>") >= n  # every question on both pages


def test_build_reads_the_variant_seed(book_build) -> None:
    assert book_build.variant_seed({}) == 0 and book_build.variant_seed({"EFFTX_VARIANT": " 2026 "}) == 2026
    with pytest.raises(SystemExit, match="EFFTX_VARIANT"):
        book_build.variant_seed({"EFFTX_VARIANT": "-3"})


def _numbers_of(vid: str, seed: int) -> dict:
    (v,) = [v for v in ALL if v.id == vid]
    return v.draw(seed).numbers


def test_online_softmax_merge_matches_logsumexp() -> None:
    for seed in SEEDS:
        n = _numbers_of("09-merge", seed)
        x = torch.tensor(n["scores"], dtype=torch.float64)
        assert math.isclose(n["m"] + math.log(n["l"]), float(torch.logsumexp(x, 0)), rel_tol=1e-12)


def test_pruned_heads_add_up_to_the_package_attention() -> None:
    from efftx_mini.attention import MultiHeadAttention

    for seed in range(8):
        n = _numbers_of("13-prune", seed)
        d, H, L, k = n["d"], n["H"], n["L"], n["k"]
        layer = sum(p.numel() for p in MultiHeadAttention(d, H).parameters())
        assert n["total"] == L * layer
        per_head = n["removed"] // (L * k)
        assert H * per_head + d == layer  # every head's share, plus W^O's bias that no head owns


def test_distillation_kl_matches_pytorch() -> None:
    for seed in SEEDS:
        n = _numbers_of("13-distill", seed)
        t = torch.tensor(n["teacher"], dtype=torch.float64) / n["tau"]
        s = torch.tensor(n["student"], dtype=torch.float64) / n["tau"]
        kl = torch.nn.functional.kl_div(s.log_softmax(0), t.log_softmax(0), log_target=True, reduction="sum")
        assert math.isclose(float(kl), n["kl"], rel_tol=1e-9, abs_tol=1e-12)


def test_spearman_matches_the_package() -> None:
    from efftx_mini.search.correlation import spearman_rho

    for seed in SEEDS:
        n = _numbers_of("15-spearman", seed)
        assert math.isclose(spearman_rho(n["proxy"], n["acc"]), n["rho"], abs_tol=1e-12)


def test_absmax_codes_reconstruct_within_half_a_step() -> None:
    for seed in SEEDS:
        n = _numbers_of("14-absmax", seed)
        x, codes, s = (torch.tensor(n["x"], dtype=torch.float64), torch.tensor(n["codes"], dtype=torch.float64),
                       n["scale"])
        qmax = 2 ** (n["bits"] - 1) - 1
        assert int(codes.abs().max()) == qmax and float((codes * s - x).abs().max()) <= s / 2 + 1e-12
        assert math.isclose(float((codes * s - x).abs().max()), n["err"], abs_tol=1e-12)
