"""Variant exercises of part I: attention, queries/keys/values, positions, the encoder–decoder, training."""

from __future__ import annotations

import math
import random

from ._core import fmt, fmt_int, variant


def _softmax(xs: list[float]) -> list[float]:
    m = max(xs)
    e = [math.exp(x - m) for x in xs]
    return [v / sum(e) for v in e]


@variant("01", "by-hand")
def attention_by_hand(rng: random.Random):
    q = [rng.randint(-2, 2) or 1, rng.randint(-2, 2)]
    keys = [[rng.randint(-2, 2), rng.randint(-2, 2)] for _ in range(3)]
    vals = [rng.randint(0, 9) for _ in range(3)]
    s = [(q[0] * k[0] + q[1] * k[1]) / math.sqrt(2) for k in keys]
    w = _softmax(s)
    out = sum(a * v for a, v in zip(w, vals, strict=True))
    ks = ", ".join(f"$k_{j + 1} = ({k[0]}, {k[1]})$" for j, k in enumerate(keys))
    vs = ", ".join(f"$v_{j + 1} = {v}$" for j, v in enumerate(vals))
    sc, ws = ", ".join(fmt(x) for x in s), ", ".join(fmt(x) for x in w)
    question = {
        "en": f"A query $q = ({q[0]}, {q[1]})$ attends to three keys {ks} with scalar values {vs} ($d_k = 2$). "
              "Compute the scaled scores $q \\cdot k_j / \\sqrt{d_k}$, the attention weights and the output.",
        "ko": f"쿼리 $q = ({q[0]}, {q[1]})$가 세 키 {ks}에 어텐션하고, 값은 스칼라 {vs}입니다($d_k = 2$). "
              "스케일된 점수 $q \\cdot k_j / \\sqrt{d_k}$, 어텐션 가중치, 출력을 계산하십시오.",
    }
    answer = {
        "en": f"Scores {sc}; weights (softmax of the scores) {ws}; output $\\sum_j a_j v_j$ = {fmt(out)}.",
        "ko": f"점수는 {sc}, 가중치(점수의 소프트맥스)는 {ws}, 출력 $\\sum_j a_j v_j$는 {fmt(out)}입니다.",
    }
    return question, answer, {"output": out, **{f"w{j + 1}": x for j, x in enumerate(w)}}


@variant("01", "memory")
def weights_memory(rng: random.Random):
    B, H = rng.choice([4, 8, 16, 32]), rng.choice([8, 12, 16])
    T = rng.choice([512, 1024, 2048, 4096])
    nbytes, name = rng.choice([(2, "fp16"), (4, "fp32")])
    mib = B * H * T * T * nbytes / 2**20
    t_gib = math.sqrt(2**30 / (B * H * nbytes))
    question = {
        "en": f"One attention layer with $B = {B}$ sequences, $H = {H}$ heads and $T = {fmt_int(T)}$ positions stores "
              f"its weights $A$ in {name}. How many MiB do they take? At which length $T$ would they reach 1 GiB?",
        "ko": f"어텐션 층 하나가 시퀀스 $B = {B}$개, 헤드 $H = {H}$개, 위치 $T = {fmt_int(T)}$개의 가중치 $A$를 "
              f"{name}로 저장합니다. 몇 MiB입니까? 길이 $T$가 얼마일 때 1 GiB에 이릅니까?",
    }
    answer = {
        "en": f"$B H T^2 \\times {nbytes}$ bytes = {fmt(mib, 1)} MiB. 1 GiB is reached at "
              f"$T = \\sqrt{{2^{{30}} / ({B} \\cdot {H} \\cdot {nbytes})}}$ ≈ {fmt(t_gib, 0)}: the memory grows "
              "as $T^2$.",
        "ko": f"$B H T^2 \\times {nbytes}$바이트 = {fmt(mib, 1)} MiB입니다. 1 GiB에는 "
              f"$T = \\sqrt{{2^{{30}} / ({B} \\cdot {H} \\cdot {nbytes})}}$ ≈ {fmt(t_gib, 0)}에서 이릅니다. "
              "메모리가 $T^2$에 비례해 늘어나기 때문입니다.",
    }
    return question, answer, {"mib": mib, "t_gib": t_gib}


@variant("02", "params")
def projection_params(rng: random.Random):
    d = rng.choice([256, 384, 512, 768, 1024])
    H = rng.choice([h for h in (4, 6, 8, 12, 16) if d % h == 0])
    total = 4 * d * d + 4 * d
    d_h = d // H
    per_head = 3 * (d * d_h + d_h)
    question = {
        "en": f"A multi-head attention layer has $d_{{\\text{{model}}}} = {d}$ and $H = {H}$ heads, with biases. How "
              "many parameters do $W^Q, W^K, W^V, W^O$ hold together, what is the head width $d_h$, and how many of "
              "the parameters of $W^Q, W^K, W^V$ belong to one head?",
        "ko": f"멀티헤드 어텐션 층의 $d_{{\\text{{model}}}} = {d}$이고 헤드는 $H = {H}$개이며 편향이 있습니다. "
              "$W^Q, W^K, W^V, W^O$의 파라미터는 모두 몇 개이고, 헤드 폭 $d_h$는 얼마이며, $W^Q, W^K, W^V$의 "
              "파라미터 가운데 헤드 하나의 몫은 몇 개입니까?",
    }
    answer = {
        "en": f"$4d^2 + 4d$ = {fmt_int(total)} (the count does not depend on $H$); $d_h = d/H$ = {d_h}; one head "
              f"owns $3(d \\cdot d_h + d_h)$ = {fmt_int(per_head)} of the $Q, K, V$ parameters.",
        "ko": f"$4d^2 + 4d$ = {fmt_int(total)}개입니다(개수는 $H$와 무관합니다). $d_h = d/H$ = {d_h}이고, 헤드 "
              f"하나는 $Q, K, V$ 파라미터 가운데 $3(d \\cdot d_h + d_h)$ = {fmt_int(per_head)}개를 가집니다.",
    }
    return question, answer, {"total": total, "d_h": d_h, "per_head": per_head}


@variant("02", "variance")
def dot_product_variance(rng: random.Random):
    var = rng.choice([0.25, 0.5, 1.0, 2.0])
    d_k = rng.choice([16, 32, 64, 128, 256])
    v_dot = d_k * var * var
    question = {
        "en": f"The entries of $q$ and $k$ are independent, with mean 0 and variance {var}; $d_k = {d_k}$. What are "
              "the variance and the standard deviation of $q \\cdot k$, and of $q \\cdot k / \\sqrt{d_k}$?",
        "ko": f"$q$와 $k$의 성분은 서로 독립이고 평균 0, 분산 {var}입니다. $d_k = {d_k}$일 때 $q \\cdot k$와 "
              "$q \\cdot k / \\sqrt{d_k}$의 분산과 표준편차는 얼마입니까?",
    }
    answer = {
        "en": f"Each product $q_i k_i$ has variance $\\sigma^4$ = {var * var}; the sum of {d_k} of them has variance "
              f"{fmt(v_dot, 2)} (standard deviation {fmt(math.sqrt(v_dot), 2)}). Dividing by $\\sqrt{{d_k}}$ leaves "
              f"variance {fmt(var * var, 2)} (standard deviation {fmt(var, 2)}), whatever $d_k$ is.",
        "ko": f"곱 $q_i k_i$ 하나의 분산은 $\\sigma^4$ = {var * var}이고, {d_k}개를 더한 값의 분산은 "
              f"{fmt(v_dot, 2)}(표준편차 {fmt(math.sqrt(v_dot), 2)})입니다. $\\sqrt{{d_k}}$로 나누면 $d_k$와 "
              f"상관없이 분산 {fmt(var * var, 2)}(표준편차 {fmt(var, 2)})가 남습니다.",
    }
    return question, answer, {"var": v_dot, "scaled": var * var}


@variant("03", "sinusoid")
def sinusoid(rng: random.Random):
    d = rng.choice([64, 128, 256, 512])
    i = rng.randrange(1, d // 2)
    p = rng.randint(1, 200)
    freq = 10000 ** (-2 * i / d)
    lam = 2 * math.pi / freq
    question = {
        "en": f"For the sinusoidal encoding with $d_{{\\text{{model}}}} = {d}$, what is the wavelength of the pair "
              f"$i = {i}$ (dimensions $2i$, $2i+1$), and what are $PE(p, 2i)$ and $PE(p, 2i+1)$ at position $p = {p}$?",
        "ko": f"$d_{{\\text{{model}}}} = {d}$인 사인파 인코딩에서 쌍 $i = {i}$(차원 $2i$, $2i+1$)의 파장은 "
              f"얼마이고, 위치 $p = {p}$에서 $PE(p, 2i)$와 $PE(p, 2i+1)$은 얼마입니까?",
    }
    answer = {
        "en": f"The angle is $p / 10000^{{2i/d}}$ = {fmt(p * freq, 4)} rad; the wavelength $2\\pi \\cdot "
              f"10000^{{2i/d}}$ = {fmt(lam, 2)} positions; $PE(p, 2i) = \\sin$ = {fmt(math.sin(p * freq), 4)}, "
              f"$PE(p, 2i+1) = \\cos$ = {fmt(math.cos(p * freq), 4)}.",
        "ko": f"각도는 $p / 10000^{{2i/d}}$ = {fmt(p * freq, 4)} rad이고, 파장은 $2\\pi \\cdot 10000^{{2i/d}}$ = "
              f"{fmt(lam, 2)} 위치입니다. $PE(p, 2i) = \\sin$ = {fmt(math.sin(p * freq), 4)}, "
              f"$PE(p, 2i+1) = \\cos$ = {fmt(math.cos(p * freq), 4)}입니다.",
    }
    return question, answer, {"wavelength": lam, "sin": math.sin(p * freq), "cos": math.cos(p * freq)}


@variant("03", "rope")
def rope_angle(rng: random.Random):
    d = rng.choice([32, 64, 128])
    i = rng.randrange(0, d // 2)
    m, n = rng.randint(5, 300), rng.randint(0, 300)
    theta = 10000 ** (-2 * i / d)
    rel = ((m - n) * theta) % (2 * math.pi)
    question = {
        "en": f"Rotary embeddings with $d = {d}$ rotate the pair $i = {i}$ of a query at position $m = {m}$ and of a "
              f"key at position $n = {n}$. What are $\\theta_i$, the two rotation angles, and the angle that the "
              "score $q_m \\cdot k_n$ depends on (modulo $2\\pi$)?",
        "ko": f"$d = {d}$인 회전 위치 인코딩이 위치 $m = {m}$의 쿼리와 위치 $n = {n}$의 키에서 쌍 $i = {i}$를 "
              "회전합니다. $\\theta_i$, 두 회전 각도, 그리고 점수 $q_m \\cdot k_n$이 의존하는 각도($2\\pi$로 "
              "나눈 나머지)는 얼마입니까?",
    }
    answer = {
        "en": f"$\\theta_i = 10000^{{-2i/d}}$ = {fmt(theta, 6)}; the query turns by $m\\theta_i$ = "
              f"{fmt(m * theta, 4)} rad, the key by $n\\theta_i$ = {fmt(n * theta, 4)} rad; the score sees only "
              f"$(m - n)\\theta_i \\bmod 2\\pi$ = {fmt(rel, 4)} rad, the relative position.",
        "ko": f"$\\theta_i = 10000^{{-2i/d}}$ = {fmt(theta, 6)}입니다. 쿼리는 $m\\theta_i$ = {fmt(m * theta, 4)} rad, "
              f"키는 $n\\theta_i$ = {fmt(n * theta, 4)} rad만큼 돌고, 점수는 상대 위치에 해당하는 "
              f"$(m - n)\\theta_i \\bmod 2\\pi$ = {fmt(rel, 4)} rad만 봅니다.",
    }
    return question, answer, {"theta": theta, "relative": rel}


@variant("04", "params")
def transformer_params(rng: random.Random):
    d = rng.choice([128, 256, 512])
    d_ff = d * rng.choice([2, 4])
    N = rng.choice([2, 3, 4, 6])
    V = rng.choice([1000, 4000, 8000, 16000, 32000])
    attn, ffn, ln = 4 * d * d + 4 * d, 2 * d * d_ff + d_ff + d, 2 * d
    enc, dec = attn + ffn + 2 * ln, 2 * attn + ffn + 3 * ln
    total = 2 * V * d + N * (enc + dec) + V  # source and target embeddings, tied output matrix with its bias
    question = {
        "en": f"A post-LN encoder–decoder transformer has $N = {N}$ layers on each side, $d_{{\\text{{model}}}} = "
              f"{d}$, $d_{{ff}} = {d_ff}$, separate source and target vocabularies of {fmt_int(V)} tokens each, and an "
              "output layer tied to the target embedding (its bias is not tied). How many parameters do one encoder "
              "layer, one decoder layer and the whole model have?",
        "ko": f"Post-LN 인코더–디코더 트랜스포머가 양쪽에 층 $N = {N}$개, $d_{{\\text{{model}}}} = {d}$, "
              f"$d_{{ff}} = {d_ff}$이고, 소스와 타깃 어휘가 각각 {fmt_int(V)}개 토큰이며, 출력 층은 타깃 임베딩과 "
              "가중치를 묶습니다(편향은 묶지 않습니다). 인코더 층 하나, 디코더 층 하나, 모델 전체의 파라미터는 각각 "
              "몇 개입니까?",
    }
    answer = {
        "en": f"Encoder layer: attention $4d^2 + 4d$ + FFN $2 d d_{{ff}} + d_{{ff}} + d$ + 2 LayerNorms $2 \\cdot 2d$ "
              f"= {fmt_int(enc)}. Decoder layer: 2 attentions, the FFN, 3 LayerNorms = {fmt_int(dec)}. Total: "
              f"embeddings $2Vd$ + $N$(encoder + decoder) + output bias $V$ = {fmt_int(total)}.",
        "ko": f"인코더 층: 어텐션 $4d^2 + 4d$ + FFN $2 d d_{{ff}} + d_{{ff}} + d$ + LayerNorm 2개 $2 \\cdot 2d$ "
              f"= {fmt_int(enc)}개. 디코더 층: 어텐션 2개, FFN, LayerNorm 3개 = {fmt_int(dec)}개. 전체: 임베딩 "
              f"$2Vd$ + $N$(인코더 + 디코더) + 출력 편향 $V$ = {fmt_int(total)}개입니다.",
    }
    return question, answer, {"encoder_layer": enc, "decoder_layer": dec, "total": total,
                              "d_model": d, "d_ff": d_ff, "n_layers": N, "vocab": V}


@variant("04", "masks")
def decoder_masks(rng: random.Random):
    T = rng.randint(6, 12)
    lengths = [rng.randint(2, T) for _ in range(2)]
    lengths[rng.randrange(2)] = T
    per = [ln * (ln + 1) // 2 + (T - ln) * ln for ln in lengths]
    question = {
        "en": f"A batch holds two target sequences of lengths {lengths[0]} and {lengths[1]}, padded to $T = {T}$. The "
              "decoder's self-attention mask is the causal mask AND the key-padding mask, of shape $(2, 1, T, T)$. How "
              "many entries are True in each sequence's $T \\times T$ slice, and is any query row fully masked?",
        "ko": f"배치에 길이 {lengths[0]}과 {lengths[1]}인 타깃 시퀀스 두 개가 $T = {T}$까지 패딩되어 있습니다. "
              "디코더 셀프 어텐션의 마스크는 인과 마스크와 키 패딩 마스크의 AND이고 모양은 $(2, 1, T, T)$입니다. "
              "시퀀스마다 $T \\times T$ 조각에서 True인 항목은 몇 개이며, 완전히 가려진 쿼리 행이 있습니까?",
    }
    answer = {
        "en": f"For length $\\ell$: the real queries see $\\ell(\\ell+1)/2$ keys in total and each of the $T - \\ell$ "
              f"padded queries sees the $\\ell$ real keys, so $\\ell(\\ell+1)/2 + (T-\\ell)\\ell$: {per[0]} and "
              f"{per[1]}. "
              "No row is fully masked: key 0 is always real and allowed.",
        "ko": f"길이가 $\\ell$이면 실제 쿼리들이 모두 $\\ell(\\ell+1)/2$개의 키를 보고, 패딩 쿼리 $T - \\ell$개는 "
              f"각각 실제 키 $\\ell$개를 봅니다. 따라서 $\\ell(\\ell+1)/2 + (T-\\ell)\\ell$, 곧 {per[0]}개와 "
              f"{per[1]}개입니다. 키 0은 늘 실제 토큰이고 허용되므로 완전히 가려진 행은 없습니다.",
    }
    return question, answer, {"true0": per[0], "true1": per[1], "T": T, "len0": lengths[0], "len1": lengths[1]}


@variant("05", "noam")
def noam_schedule(rng: random.Random):
    d = rng.choice([256, 512, 1024])
    w = rng.choice([1000, 2000, 4000, 8000])
    s1, s2 = rng.randint(1, w - 1), rng.randint(w + 1, 20 * w)

    def lr(s: int) -> float:
        return d**-0.5 * min(s**-0.5, s * w**-1.5)

    question = {
        "en": f"The Noam schedule $\\mathrm{{lr}}(s) = d^{{-0.5}} \\min(s^{{-0.5}}, s \\cdot w^{{-1.5}})$ with "
              f"$d = {d}$ and warmup $w = {fmt_int(w)}$: what is the learning rate at steps {fmt_int(s1)} and "
              f"{fmt_int(s2)}, and where and how high is its peak?",
        "ko": f"$d = {d}$, 웜업 $w = {fmt_int(w)}$인 Noam 스케줄 $\\mathrm{{lr}}(s) = d^{{-0.5}} \\min(s^{{-0.5}}, "
              f"s \\cdot w^{{-1.5}})$에서 스텝 {fmt_int(s1)}과 {fmt_int(s2)}의 학습률은 얼마이며, 최고점은 어디에서 "
              "얼마입니까?",
    }
    answer = {
        "en": f"Step {fmt_int(s1)} is in the warmup (linear part): {lr(s1):.3e}; step {fmt_int(s2)} is in the decay "
              f"($\\propto s^{{-0.5}}$): {lr(s2):.3e}. The two parts meet at $s = w$ = {fmt_int(w)}, the peak "
              f"$d^{{-0.5}} w^{{-0.5}}$ = {lr(w):.3e}.",
        "ko": f"스텝 {fmt_int(s1)}은 웜업(선형 구간)이라 {lr(s1):.3e}, 스텝 {fmt_int(s2)}는 감소 구간"
              f"($\\propto s^{{-0.5}}$)이라 {lr(s2):.3e}입니다. 두 구간은 $s = w$ = {fmt_int(w)}에서 만나고, "
              f"최고점은 $d^{{-0.5}} w^{{-0.5}}$ = {lr(w):.3e}입니다.",
    }
    return question, answer, {"lr1": lr(s1), "lr2": lr(s2), "peak": lr(w)}


@variant("05", "smoothing")
def label_smoothing(rng: random.Random):
    V = rng.randint(10, 40)
    eps = rng.choice([0.05, 0.1, 0.2])
    a = rng.choice([0.5, 0.7, 0.9, 0.95])
    other = eps / (V - 2)
    ce = -(1 - eps) * math.log(a) - eps * math.log((1 - a) / (V - 2))
    h = -(1 - eps) * math.log(1 - eps) - eps * math.log(other)
    question = {
        "en": f"Label smoothing as in chapter 5: a vocabulary of $V = {V}$ tokens including one padding token, "
              f"$\\varepsilon = {eps}$. What probability does the target give the true token, each other non-padding "
              f"token and the padding token? A model puts {a} on the true token and spreads the rest evenly over the "
              "other non-padding tokens: what is its cross-entropy against the smoothed target (nats), and what is "
              "the lowest cross-entropy any model can reach?",
        "ko": f"5장의 레이블 스무딩입니다. 어휘는 패딩 토큰 하나를 포함해 $V = {V}$개이고 "
              f"$\\varepsilon = {eps}$입니다. 타깃 분포는 정답 토큰, 나머지 패딩이 아닌 토큰 각각, "
              "패딩 토큰에 확률을 얼마씩 줍니까? 어떤 모델이 "
              f"정답 토큰에 {a}를 주고 나머지를 패딩이 아닌 다른 토큰에 고르게 나눈다면, 스무딩된 타깃에 대한 교차 "
              "엔트로피는 몇 나트이고, 어떤 모델이든 도달할 수 있는 가장 낮은 교차 엔트로피는 얼마입니까?",
    }
    answer = {
        "en": f"True token $1 - \\varepsilon$ = {1 - eps:.2f}, each of the $V - 2$ = {V - 2} others "
              f"$\\varepsilon/(V-2)$ = {fmt(other, 5)}, padding 0. Cross-entropy "
              f"$-(1-\\varepsilon)\\ln {a} - \\varepsilon \\ln\\frac{{1-{a}}}{{V-2}}$ = {fmt(ce, 4)} nats. The "
              "lowest is "
              f"the target's own entropy (the model predicts the target exactly): {fmt(h, 4)} nats, not 0.",
        "ko": f"정답 토큰은 $1 - \\varepsilon$ = {1 - eps:.2f}, 나머지 $V - 2$ = {V - 2}개는 각각 "
              f"$\\varepsilon/(V-2)$ = {fmt(other, 5)}, 패딩은 0입니다. 교차 엔트로피는 "
              f"$-(1-\\varepsilon)\\ln {a} - \\varepsilon \\ln\\frac{{1-{a}}}{{V-2}}$ = {fmt(ce, 4)}나트입니다. 가장 "
              f"낮은 값은 모델이 타깃을 그대로 예측할 때의 타깃 엔트로피 {fmt(h, 4)}나트이며, 0이 아닙니다.",
    }
    return question, answer, {"ce": ce, "entropy": h, "other": other, "V": V, "eps": eps, "a": a}
