"""Variant exercises of part II: the decoder-only LM and generation, the parallel block, the simplified block."""

from __future__ import annotations

import random

from ._core import fmt, fmt_int, variant


@variant("06", "kv-cache")
def kv_cache_bytes(rng: random.Random):
    L, H = rng.choice([6, 12, 24, 32]), rng.choice([8, 16, 32])
    g = rng.choice([h for h in (1, 2, 4, 8) if H % h == 0 and h < H])
    d_h, T, B = rng.choice([64, 128]), rng.choice([1024, 2048, 4096, 8192]), rng.choice([1, 4, 8, 16])
    mha = 2 * L * B * H * T * d_h * 2
    gqa = 2 * L * B * g * T * d_h * 2
    question = {
        "en": f"A decoder with $L = {L}$ layers, $H = {H}$ query heads of width $d_h = {d_h}$ generates for a batch of "
              f"$B = {B}$ sequences up to $T = {fmt_int(T)}$ tokens, keeping its KV cache in fp16. How many GiB does "
              f"the cache take with multi-head attention, and with grouped-query attention of {g} key/value head(s)?",
        "ko": f"층 $L = {L}$개, 폭 $d_h = {d_h}$인 쿼리 헤드 $H = {H}$개를 가진 디코더가 시퀀스 $B = {B}$개의 배치로 "
              f"토큰 $T = {fmt_int(T)}$개까지 생성하며 KV 캐시를 fp16으로 둡니다. 멀티헤드 어텐션일 때와 키/값 헤드가 "
              f"{g}개인 그룹 쿼리 어텐션일 때 캐시는 각각 몇 GiB입니까?",
    }
    answer = {
        "en": f"Keys and values: $2 \\cdot L \\cdot B \\cdot n_{{kv}} \\cdot T \\cdot d_h \\cdot 2$ bytes. Multi-head "
              f"($n_{{kv}} = {H}$): {fmt(mha / 2**30, 2)} GiB; grouped-query ($n_{{kv}} = {g}$): "
              f"{fmt(gqa / 2**30, 3)} GiB, {H // g} times less.",
        "ko": f"키와 값: $2 \\cdot L \\cdot B \\cdot n_{{kv}} \\cdot T \\cdot d_h \\cdot 2$바이트입니다. 멀티헤드"
              f"($n_{{kv}} = {H}$)는 {fmt(mha / 2**30, 2)} GiB, 그룹 쿼리($n_{{kv}} = {g}$)는 "
              f"{fmt(gqa / 2**30, 3)} GiB로 {H // g}배 작습니다.",
    }
    return question, answer, {"mha_gib": mha / 2**30, "gqa_gib": gqa / 2**30}


def nucleus(percent: list[int], p_percent: int) -> list[int]:
    """Token ids kept by top-p (probabilities in whole percent): rank by probability (ties by id), drop a token
    when the tokens ranked above it hold at least p."""
    order = sorted(range(len(percent)), key=lambda i: (-percent[i], i))
    kept, mass = [], 0
    for i in order:
        if kept and mass >= p_percent:
            break
        kept.append(i)
        mass += percent[i]
    return kept


@variant("06", "top-p")
def top_p(rng: random.Random):
    while True:
        cuts = sorted(rng.sample(range(1, 100), 5))
        percent = [b - a for a, b in zip([0, *cuts], [*cuts, 100], strict=True)]
        if min(percent) > 0:
            break
    p = rng.choice([50, 60, 70, 80, 90])
    kept = nucleus(percent, p)
    mass = sum(percent[i] for i in kept)
    probs = ", ".join(f"{v / 100:.2f}" for v in percent)
    renorm = ", ".join(f"token {i}: {fmt(percent[i] / mass, 3)}" for i in kept)
    renorm_ko = ", ".join(f"토큰 {i}: {fmt(percent[i] / mass, 3)}" for i in kept)
    question = {
        "en": f"The next-token distribution over tokens 0–5 is ({probs}). Which tokens does top-p sampling with "
              f"$p = {p / 100:.2f}$ keep, and with which probabilities does it then sample them?",
        "ko": f"토큰 0–5에 대한 다음 토큰 분포가 ({probs})입니다. $p = {p / 100:.2f}$인 top-p 샘플링은 어떤 토큰을 "
              "남기고, 남긴 토큰을 어떤 확률로 뽑습니까?",
    }
    answer = {
        "en": f"Ranked by probability, the smallest set holding at least {p / 100:.2f} is tokens "
              f"{', '.join(map(str, kept))} (mass {mass / 100:.2f}); renormalised: {renorm}.",
        "ko": f"확률 순으로 줄을 세우면 합이 {p / 100:.2f} 이상이 되는 가장 작은 집합은 토큰 "
              f"{', '.join(map(str, kept))}입니다(합 {mass / 100:.2f}). 다시 정규화하면 {renorm_ko}입니다.",
    }
    return question, answer, {"kept": len(kept), "mass": mass / 100, "percent": percent, "p": p / 100}


@variant("06", "no-cache")
def recompute_cost(rng: random.Random):
    P, n = rng.randint(8, 200), rng.randint(16, 300)
    without = sum(range(P, P + n))  # step t recomputes all t positions of the prefix
    with_cache = P + n - 1
    question = {
        "en": f"A prompt of $P = {P}$ tokens is followed by $n = {n}$ generated tokens. Counting one unit of work per "
              "position that goes through the model, how much work does generation cost without a KV cache (each "
              "step recomputes the whole prefix) and with one?",
        "ko": f"토큰 $P = {P}$개의 프롬프트 뒤에 토큰 $n = {n}$개를 생성합니다. 모델을 지나는 위치 하나를 일의 한 "
              "단위로 세면, KV 캐시 없이(스텝마다 접두사 전체를 다시 계산) 생성할 때와 캐시를 쓸 때 일은 각각 "
              "얼마입니까?",
    }
    answer = {
        "en": f"Without a cache the steps process $P, P+1, …, P+n-1$ positions: $\\sum$ = {fmt_int(without)}. With a "
              f"cache the prompt is processed once and each later step one position: $P + n - 1$ = {with_cache}, "
              f"{without / with_cache:.1f} times less.",
        "ko": f"캐시가 없으면 스텝마다 $P, P+1, …, P+n-1$개 위치를 처리하므로 합은 {fmt_int(without)}입니다. 캐시가 "
              f"있으면 프롬프트를 한 번 처리하고 이후 스텝마다 위치 하나만 처리하므로 $P + n - 1$ = {with_cache}, "
              f"곧 {without / with_cache:.1f}배 적습니다.",
    }
    return question, answer, {"without": without, "with": with_cache}


VERDICTS = {"faster": "faster", "slower": "slower", "within noise": "within noise",
            "noisy machine": "noisy machine"}
VERDICTS_KO = {"faster": "빠르다", "slower": "느리다", "within noise": "잡음 범위 안(구별할 수 없음)",
               "noisy machine": "머신이 불안정함(판단 보류)"}


@variant("07", "verdict")
def speed_verdict(rng: random.Random):
    def interval(center: float, half: float) -> tuple[float, float]:
        return round(center - half, 2), round(center + half, 2)

    r_lo, r_hi = interval(rng.choice([0.85, 0.95, 1.0, 1.05, 1.15, 1.3]), rng.choice([0.03, 0.08, 0.2]))
    a_lo, a_hi = interval(rng.choice([1.0, 1.0, 1.0, 1.08]), rng.choice([0.02, 0.05]))
    if not a_lo <= 1.0 <= a_hi:
        v = "noisy machine"
    elif r_lo > 1.0:
        v = "faster"
    elif r_hi < 1.0:
        v = "slower"
    else:
        v = "within noise"
    question = {
        "en": f"A benchmark reports the parallel block's speed ratio against Pre-LN (> 1 = faster) with a 95% interval "
              f"[{r_lo:.2f}, {r_hi:.2f}] and the A/A control's interval [{a_lo:.2f}, {a_hi:.2f}]. What may the book "
              "say, by its rule (`efftx_mini.timing.verdict`), and why?",
        "ko": f"벤치마크가 Pre-LN에 대한 병렬 블록의 속도 비율(1보다 크면 빠름)의 95% 구간 [{r_lo:.2f}, {r_hi:.2f}]와 "
              f"A/A 대조의 구간 [{a_lo:.2f}, {a_hi:.2f}]를 보고합니다. 책의 규칙(`efftx_mini.timing.verdict`)에 "
              "따르면 무엇이라고 말할 수 있으며, 그 이유는 무엇입니까?",
    }
    why = {
        "noisy machine": ("the A/A interval excludes 1: the same code timed twice differs, so no comparison on this "
                          "machine is trusted", "A/A 구간이 1을 포함하지 않습니다. 같은 코드를 두 번 재도 "
                          "다르게 나오므로 "
                          "이 머신에서는 어떤 비교도 믿을 수 없습니다"),
        "faster": ("the A/A interval contains 1 and the whole ratio interval lies above 1",
                   "A/A 구간이 1을 포함하고 비율 구간 전체가 1보다 위에 있습니다"),
        "slower": ("the A/A interval contains 1 and the whole ratio interval lies below 1",
                   "A/A 구간이 1을 포함하고 비율 구간 전체가 1보다 아래에 있습니다"),
        "within noise": ("the ratio interval contains 1: the two blocks are indistinguishable here, not ranked",
                         "비율 구간이 1을 포함합니다. 여기서 두 블록은 구별할 수 없으며, 순위를 매기지 않습니다"),
    }[v]
    answer = {"en": f"**{VERDICTS[v]}**: {why[0]}.", "ko": f"**{VERDICTS_KO[v]}**: {why[1]}."}
    return question, answer, {"ratio_lo": r_lo, "ratio_hi": r_hi, "aa_lo": a_lo, "aa_hi": a_hi,
                              "verdict": list(VERDICTS).index(v)}


@variant("07", "fused")
def fused_projection(rng: random.Random):
    d = rng.choice([256, 512, 768, 1024])
    mult = rng.choice([2, 4])
    d_ff = mult * d
    fused = 2 * d * (3 * d + d_ff)
    block = 2 * (4 * d * d + 2 * d * d_ff)  # the block's matrix products per token, attention scores excluded
    question = {
        "en": f"In the parallel block, attention's input projections ($W^Q, W^K, W^V$) and the MLP's first layer read "
              f"the same normalised input, so they can run as one matrix product. With $d = {d}$ and "
              f"$d_{{ff}} = {d_ff}$: what is the shape of the fused weight, how many FLOPs per token does it cost, "
              "and what share of the block's matrix-product FLOPs (attention scores excluded) is that?",
        "ko": f"병렬 블록에서는 어텐션의 입력 사영($W^Q, W^K, W^V$)과 MLP의 첫 층이 같은 정규화된 입력을 읽으므로 "
              f"행렬 곱 하나로 합칠 수 있습니다. $d = {d}$, $d_{{ff}} = {d_ff}$일 때 합친 가중치의 모양은 무엇이고, "
              "토큰당 FLOPs는 얼마이며, 블록 전체 행렬 곱 FLOPs(어텐션 점수 제외)에서 차지하는 몫은 얼마입니까?",
    }
    answer = {
        "en": f"$(3d + d_{{ff}}) \\times d$ = ({3 * d + d_ff} × {d}); $2d(3d + d_{{ff}})$ = {fmt_int(fused)} FLOPs per "
              f"token, out of $2(4d^2 + 2 d d_{{ff}})$ = {fmt_int(block)}: {fmt(100 * fused / block, 1)}%.",
        "ko": f"$(3d + d_{{ff}}) \\times d$ = ({3 * d + d_ff} × {d})이고, 토큰당 $2d(3d + d_{{ff}})$ = "
              f"{fmt_int(fused)} FLOPs로 전체 $2(4d^2 + 2 d d_{{ff}})$ = {fmt_int(block)}의 "
              f"{fmt(100 * fused / block, 1)}%입니다.",
    }
    return question, answer, {"fused": fused, "block": block}


@variant("08", "matrices")
def sas_params(rng: random.Random):
    d = rng.choice([256, 384, 512, 768])
    mult = rng.choice([2, 3, 4])
    L = rng.choice([6, 12, 18])
    pre = L * (4 * d * d + 2 * mult * d * d)
    sas = L * (2 * d * d + 2 * mult * d * d)
    question = {
        "en": f"He & Hofmann count only weight matrices. A stack of $L = {L}$ Pre-LN blocks has $d = {d}$ and "
              f"$d_{{ff}} = {mult}d$. How many matrix parameters does it hold, how many does the SAS block (no value "
              "and no projection matrix) hold, and what fraction is saved?",
        "ko": f"He와 Hofmann은 가중치 행렬만 셉니다. Pre-LN 블록 $L = {L}$개를 쌓은 스택이 $d = {d}$, "
              f"$d_{{ff}} = {mult}d$일 때 행렬 파라미터는 몇 개이고, SAS 블록(값 행렬과 사영 행렬이 없음)은 몇 개이며, "
              "줄어드는 비율은 얼마입니까?",
    }
    answer = {
        "en": f"Pre-LN: $L(4d^2 + 2 d d_{{ff}})$ = {fmt_int(pre)}; SAS drops $W^V$ and $W^O$: $L(2d^2 + 2 d "
              f"d_{{ff}})$ = {fmt_int(sas)}; saved {fmt(100 * (pre - sas) / pre, 1)}% (the MLP's share decides it).",
        "ko": f"Pre-LN은 $L(4d^2 + 2 d d_{{ff}})$ = {fmt_int(pre)}개, $W^V$와 $W^O$를 없앤 SAS는 "
              f"$L(2d^2 + 2 d d_{{ff}})$ = {fmt_int(sas)}개로 {fmt(100 * (pre - sas) / pre, 1)}% 줄어듭니다"
              "(MLP의 몫이 비율을 정합니다).",
    }
    return question, answer, {"pre": pre, "sas": sas}


@variant("08", "shaped")
def shaped_attention(rng: random.Random):
    T = rng.randint(4, 9)
    i = rng.randint(2, T)
    a, b, c = (round(rng.uniform(0.5, 1.5), 2) for _ in range(3))
    diag = a + (b - c) / i
    off = (b - c) / i
    question = {
        "en": f"Causal shaped attention $A = \\alpha I + \\beta\\,\\mathrm{{softmax}}(QK^\\top/\\sqrt{{d_h}}) - "
        "\\gamma C$ "
              f"with $\\alpha = {a}$, $\\beta = {b}$, $\\gamma = {c}$, $T = {T}$, at initialisation ($W^Q = 0$). "
              f"What are the entries of row $i = {i}$ (counting from 1): the diagonal, the entries left of it, the "
              "entries right of it, and the row's sum?",
        "ko": f"인과 셰이프드 어텐션 $A = \\alpha I + \\beta\\,\\mathrm{{softmax}}(QK^\\top/\\sqrt{{d_h}}) - "
        "\\gamma C$에서 "
              f"$\\alpha = {a}$, $\\beta = {b}$, $\\gamma = {c}$, $T = {T}$이고 초기화 시점($W^Q = 0$)입니다. "
              f"행 $i = {i}$(1부터 셉니다)의 대각 항목, 그 왼쪽 항목, 오른쪽 항목, 그리고 행의 합은 얼마입니까?",
    }
    answer = {
        "en": f"With $W^Q = 0$ the scores are equal, so the softmax is $C$ itself ($C_{{ij}} = 1/i$ for $j \\le i$): "
              f"$A = \\alpha I + (\\beta - \\gamma) C$. Diagonal {fmt(diag, 4)}, left entries {fmt(off, 4)} "
              "each, right "
              f"entries 0, row sum $\\alpha + \\beta - \\gamma$ = {fmt(a + b - c, 2)}.",
        "ko": f"$W^Q = 0$이면 점수가 모두 같아 소프트맥스가 곧 $C$입니다($j \\le i$에서 $C_{{ij}} = 1/i$). 따라서 "
              f"$A = \\alpha I + (\\beta - \\gamma) C$이고, 대각은 {fmt(diag, 4)}, 왼쪽 항목은 각각 {fmt(off, 4)}, "
              f"오른쪽은 0, 행의 합은 $\\alpha + \\beta - \\gamma$ = {fmt(a + b - c, 2)}입니다.",
    }
    return question, answer, {"diag": diag, "off": off, "T": T, "i": i, "alpha": a, "beta": b, "gamma": c}
