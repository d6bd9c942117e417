"""Variant exercises of parts III–VI: exact and linear attention, vision, compression, quantization, search."""

from __future__ import annotations

import math
import random

from ._core import fmt, fmt_int, variant


@variant("09", "merge")
def online_softmax_merge(rng: random.Random):
    xa = [rng.randint(-3, 6) for _ in range(3)]
    xb = [rng.randint(-3, 6) for _ in range(3)]
    ma, mb = max(xa), max(xb)
    la, lb = sum(math.exp(x - ma) for x in xa), sum(math.exp(x - mb) for x in xb)
    m = max(ma, mb)
    merged = la * math.exp(ma - m) + lb * math.exp(mb - m)
    a, b = ", ".join(map(str, xa)), ", ".join(map(str, xb))
    question = {
        "en": f"The online softmax reads the scores in two blocks, ({a}) and ({b}). Give each block's state "
              "$(m, \\ell)$ (its maximum and $\\sum_k e^{x_k - m}$), then the merged state, and check it against the "
              "state of all 6 scores at once.",
        "ko": f"온라인 소프트맥스가 점수를 두 블록 ({a})와 ({b})로 나누어 읽습니다. 블록마다의 상태 $(m, "
        "\\ell)$(최댓값과 "
              "$\\sum_k e^{x_k - m}$)를 구하고, 병합한 상태를 구한 뒤, 점수 6개를 한꺼번에 본 상태와 같은지 "
              "확인하십시오.",
    }
    answer = {
        "en": f"Block 1: $m = {ma}$, $\\ell$ = {fmt(la)}; block 2: $m = {mb}$, $\\ell$ = {fmt(lb)}. Merged: "
              f"$m = \\max = {m}$, $\\ell = \\ell_1 e^{{m_1 - m}} + \\ell_2 e^{{m_2 - m}}$ = {fmt(merged)}, the same "
              "as over all 6 scores at once.",
        "ko": f"블록 1: $m = {ma}$, $\\ell$ = {fmt(la)}, 블록 2: $m = {mb}$, $\\ell$ = {fmt(lb)}입니다. 병합하면 "
              f"$m = \\max = {m}$, $\\ell = \\ell_1 e^{{m_1 - m}} + \\ell_2 e^{{m_2 - m}}$ = {fmt(merged)}이고, 점수 "
              "6개를 한꺼번에 본 값과 같습니다.",
    }
    return question, answer, {"m": m, "l": merged, "scores": xa + xb}


@variant("09", "memory")
def tile_memory(rng: random.Random):
    B, H = rng.choice([1, 4, 8]), rng.choice([8, 12, 16])
    T = rng.choice([2048, 4096, 8192, 16384])
    tile = rng.choice([64, 128])
    full = B * H * T * T * 4
    tiles = B * H * tile * tile * 4
    question = {
        "en": f"Attention over $T = {fmt_int(T)}$ positions for $B = {B}$ sequences and $H = {H}$ heads, in fp32. How "
              f"many MiB does the score matrix $S$ take when it is stored whole, and how many does one "
              f"${tile} \\times {tile}$ tile per head and sequence take in blockwise attention?",
        "ko": f"시퀀스 $B = {B}$개, 헤드 $H = {H}$개, 위치 $T = {fmt_int(T)}$개의 어텐션을 fp32로 계산합니다. "
        "점수 행렬 "
              f"$S$를 통째로 저장하면 몇 MiB이고, 블록 단위 어텐션에서 헤드와 시퀀스마다 ${tile} \\times {tile}$ "
              "타일 하나만 두면 몇 MiB입니까?",
    }
    answer = {
        "en": f"Whole: $B H T^2 \\times 4$ bytes = {fmt(full / 2**20, 1)} MiB, growing as $T^2$. Tiles: "
              f"$B H \\cdot {tile}^2 \\times 4$ bytes = {fmt(tiles / 2**20, 3)} MiB, independent of $T$ (plus $O(T)$ "
              "for the per-query $m$ and $\\ell$).",
        "ko": f"통째로: $B H T^2 \\times 4$바이트 = {fmt(full / 2**20, 1)} MiB로 $T^2$에 비례합니다. 타일: "
              f"$B H \\cdot {tile}^2 \\times 4$바이트 = {fmt(tiles / 2**20, 3)} MiB로 $T$와 무관합니다(쿼리마다의 "
              "$m$과 $\\ell$에 $O(T)$가 더 듭니다).",
    }
    return question, answer, {"full_mib": full / 2**20, "tile_mib": tiles / 2**20}


@variant("10", "crossover")
def linear_crossover(rng: random.Random):
    d = rng.choice([32, 64, 128, 256])
    d_v = d
    T = rng.choice([256, 512, 1024, 4096, 16384])
    softmax = 2 * T * T * d + 2 * T * T * d_v
    linear = 2 * T * d * d_v + 2 * T * d * d_v
    question = {
        "en": f"Count the multiply-adds as 2 FLOPs. For one head with $d = d_v = {d}$ and $T = {fmt_int(T)}$, how many "
              "FLOPs do softmax attention's two matrix products ($QK^\\top$, then $AV$) take, and how many do "
              "non-causal linear attention's ($\\phi(K)^\\top V$, then $\\phi(Q)$ times it)? Above which $T$ is linear "
              "attention cheaper?",
        "ko": f"곱셈-덧셈 한 번을 2 FLOPs로 셉니다. $d = d_v = {d}$, $T = {fmt_int(T)}$인 헤드 하나에서 소프트맥스 "
              "어텐션의 두 행렬 곱($QK^\\top$, 그다음 $AV$)과 비인과 선형 어텐션의 두 행렬 곱($\\phi(K)^\\top V$, "
              "그다음 $\\phi(Q)$와의 곱)은 각각 몇 FLOPs입니까? $T$가 얼마보다 크면 선형 어텐션이 더 쌉니까?",
    }
    answer = {
        "en": f"Softmax: $2T^2 d + 2T^2 d_v$ = {fmt_int(softmax)}; linear: $4 T d d_v$ = {fmt_int(linear)}, a ratio "
              f"of {fmt(softmax / linear, 2)}. Linear attention is cheaper once $T > d_v$ = {d_v} (ignoring the "
              "feature map and the normaliser).",
        "ko": f"소프트맥스: $2T^2 d + 2T^2 d_v$ = {fmt_int(softmax)}, 선형: $4 T d d_v$ = {fmt_int(linear)}로 비율은 "
              f"{fmt(softmax / linear, 2)}입니다. 특징 맵과 정규화 항을 빼고 보면 $T > d_v$ = {d_v}일 때부터 선형 "
              "어텐션이 더 쌉니다.",
    }
    return question, answer, {"softmax": softmax, "linear": linear, "d": d, "T": T}


@variant("10", "state")
def rnn_state(rng: random.Random):
    L, H = rng.choice([6, 12, 24]), rng.choice([8, 12, 16])
    d_h, T = rng.choice([32, 64, 128]), rng.choice([1024, 4096, 16384, 65536])
    cache = 2 * L * H * T * d_h * 2
    state = L * H * (d_h * d_h + d_h) * 2
    question = {
        "en": f"A decoder with $L = {L}$ layers and $H = {H}$ heads of width $d_h = {d_h}$ generates "
              f"$T = {fmt_int(T)}$ tokens, in fp16. How many MiB does a softmax model's KV cache hold at the end, "
              "and how many does "
              "causal linear attention's recurrent state $(S, z)$ hold?",
        "ko": f"층 $L = {L}$개, 폭 $d_h = {d_h}$인 헤드 $H = {H}$개를 가진 디코더가 토큰 "
              f"$T = {fmt_int(T)}$개를 fp16으로 생성합니다. 끝났을 때 소프트맥스 모델의 KV 캐시와 인과 선형 "
              "어텐션의 순환 상태 $(S, z)$는 각각 몇 "
              "MiB입니까?",
    }
    answer = {
        "en": f"KV cache: $2 L H T d_h \\times 2$ bytes = {fmt(cache / 2**20, 1)} MiB, growing with $T$. State: "
              f"$L H (d_h^2 + d_h) \\times 2$ bytes = {fmt(state / 2**20, 3)} MiB, whatever $T$ is.",
        "ko": f"KV 캐시: $2 L H T d_h \\times 2$바이트 = {fmt(cache / 2**20, 1)} MiB로 $T$와 함께 커집니다. 상태: "
              f"$L H (d_h^2 + d_h) \\times 2$바이트 = {fmt(state / 2**20, 3)} MiB로 $T$와 상관없습니다.",
    }
    return question, answer, {"cache_mib": cache / 2**20, "state_mib": state / 2**20}


@variant("11", "tokens")
def vit_tokens(rng: random.Random):
    size = rng.choice([32, 64, 96, 128, 224, 384])
    patch = rng.choice([p for p in (4, 8, 14, 16, 32) if size % p == 0 and size // p >= 2])
    d = rng.choice([192, 384, 768])
    n = (size // patch) ** 2 + 1
    embed = 3 * patch * patch * d + d
    question = {
        "en": f"A ViT cuts a ${size} \\times {size}$ RGB image into ${patch} \\times {patch}$ patches and "
        "embeds each to "
              f"width $d = {d}$, with a class token. How many tokens does the encoder see, how many parameters does "
              "the patch embedding (with bias) have, and how many entries does one head's attention matrix have?",
        "ko": f"ViT가 ${size} \\times {size}$ RGB 이미지를 ${patch} \\times {patch}$ 패치로 자르고, 각 패치를 폭 "
              f"$d = {d}$로 임베딩하며, 클래스 토큰을 씁니다. 인코더가 보는 토큰은 몇 개이고, 패치 임베딩(편향 포함)의 "
              "파라미터는 몇 개이며, 헤드 하나의 어텐션 행렬은 성분이 몇 개입니까?",
    }
    answer = {
        "en": f"$({size}/{patch})^2 + 1$ = {fmt_int(n)} tokens; patch embedding $3 p^2 d + d$ = {fmt_int(embed)}; "
              f"attention matrix ${fmt_int(n)}^2$ = {fmt_int(n * n)} entries.",
        "ko": f"토큰은 $({size}/{patch})^2 + 1$ = {fmt_int(n)}개, 패치 임베딩은 $3 p^2 d + d$ = {fmt_int(embed)}개, "
              f"어텐션 행렬은 ${fmt_int(n)}^2$ = {fmt_int(n * n)}개입니다.",
    }
    return question, answer, {"tokens": n, "embed": embed, "size": size, "patch": patch, "d": d}


@variant("11", "attention-share")
def vit_attention_share(rng: random.Random):
    n = rng.choice([65, 197, 257, 577, 1025])
    d = rng.choice([192, 384, 768])
    proj = 4 * n * d * d * 2
    attn = 2 * n * n * d * 2
    mlp = 2 * n * d * 4 * d * 2
    share = attn / (proj + attn + mlp)
    question = {
        "en": f"One ViT block with $N = {n}$ tokens, width $d = {d}$ and an MLP of width $4d$. Count "
        "multiply-adds as 2 "
              "FLOPs and leave out normalisation, softmax and biases. How many FLOPs do the four projections, the two "
              "attention products ($QK^\\top$, $AV$) and the MLP take, and what share is the attention products'?",
        "ko": f"토큰 $N = {n}$개, 폭 $d = {d}$, MLP 폭 $4d$인 ViT 블록 하나를 봅니다. 곱셈-덧셈 한 번을 2 FLOPs로 세고 "
              "정규화, 소프트맥스, 편향은 뺍니다. 사영 네 개, 어텐션 곱 두 개($QK^\\top$, $AV$), MLP는 각각 몇 "
              "FLOPs이고, 어텐션 곱의 몫은 얼마입니까?",
    }
    answer = {
        "en": f"Projections $8 N d^2$ = {fmt_int(proj)}; attention $4 N^2 d$ = {fmt_int(attn)}; MLP $16 N d^2$ = "
              f"{fmt_int(mlp)}. The attention products are {fmt(100 * share, 1)}% of the block: they dominate only "
              "when $N$ is large against $6d$.",
        "ko": f"사영 $8 N d^2$ = {fmt_int(proj)}, 어텐션 $4 N^2 d$ = {fmt_int(attn)}, MLP $16 N d^2$ = {fmt_int(mlp)}"
              f"입니다. 어텐션 곱은 블록의 {fmt(100 * share, 1)}%이며, $N$이 $6d$보다 충분히 클 때에만 대부분을 "
              "차지합니다.",
    }
    return question, answer, {"share": share, "proj": proj, "attn": attn, "mlp": mlp}


@variant("12", "swin")
def swin_cost(rng: random.Random):
    h = rng.choice([28, 56, 112])
    M = rng.choice([m for m in (4, 7, 8, 14) if h % m == 0])
    C = rng.choice([64, 96, 128])
    glob = 4 * h * h * C * C + 2 * (h * h) ** 2 * C
    win = 4 * h * h * C * C + 2 * M * M * h * h * C
    question = {
        "en": f"Swin (Liu et al. 2021, Eqs. 1–2) counts the multiply-adds of attention on an $h \\times w$ "
        "map with $C$ "
              f"channels as $4hwC^2 + 2(hw)^2C$ (global) and $4hwC^2 + 2M^2hwC$ (windows of $M \\times M$). For "
              f"$h = w = {h}$, $C = {C}$, $M = {M}$, compute both and their ratio.",
        "ko": f"Swin(Liu 등 2021, 식 1–2)은 채널 $C$개인 $h \\times w$ 맵에서 어텐션의 곱셈-덧셈을 $4hwC^2 + 2(hw)^2C$"
              f"(전역), $4hwC^2 + 2M^2hwC$($M \\times M$ 윈도)로 셉니다. $h = w = {h}$, $C = {C}$, $M = {M}$일 때 "
              "둘을 계산하고 비율을 구하십시오.",
    }
    answer = {
        "en": f"Global: {fmt_int(glob)}; windows: {fmt_int(win)}; ratio {fmt(glob / win, 1)}. The global term grows "
              "as $(hw)^2$, the windowed one linearly in $hw$.",
        "ko": f"전역: {fmt_int(glob)}, 윈도: {fmt_int(win)}, 비율 {fmt(glob / win, 1)}입니다. 전역 항은 $(hw)^2$에, "
              "윈도 항은 $hw$에 선형으로 커집니다.",
    }
    return question, answer, {"global": glob, "window": win}


@variant("12", "tome")
def tome_tokens(rng: random.Random):
    n0 = rng.choice([65, 197, 257])
    L = rng.choice([6, 8, 12])
    r = rng.choice([r for r in (2, 4, 8, 16) if n0 - 1 - L * r >= 1])
    counts = [n0 - i * r for i in range(L)]
    total = sum(counts)
    question = {
        "en": f"ToMe merges $r = {r}$ tokens in every one of $L = {L}$ blocks of a ViT that starts with $N = {n0}$ "
              "tokens (a class token included, never merged). How many tokens enter the last block, and how many "
              "token-blocks does the whole network process, against how many without merging?",
        "ko": f"토큰 $N = {n0}$개(병합하지 않는 클래스 토큰 포함)로 시작하는 ViT의 블록 $L = {L}$개에서 "
        "ToMe가 블록마다 "
              f"토큰 $r = {r}$개를 병합합니다. 마지막 블록에 들어가는 토큰은 몇 개이고, 네트워크 전체가 처리하는 "
              "토큰-블록 수는 병합하지 않을 때와 비교해 얼마입니까?",
    }
    answer = {
        "en": f"Block $i$ (from 0) sees $N - i r$ tokens, the last one {counts[-1]}. In total {fmt_int(total)} "
              f"token-blocks against $N L$ = {fmt_int(n0 * L)}, i.e. {fmt(100 * total / (n0 * L), 1)}%.",
        "ko": f"블록 $i$(0부터)는 토큰 $N - i r$개를 보므로 마지막 블록은 {counts[-1]}개입니다. 모두 {fmt_int(total)} "
              f"토큰-블록이고, 병합하지 않으면 $N L$ = {fmt_int(n0 * L)}이므로 "
              f"{fmt(100 * total / (n0 * L), 1)}%입니다.",
    }
    return question, answer, {"last": counts[-1], "total": total}


@variant("13", "prune")
def head_pruning(rng: random.Random):
    d = rng.choice([256, 384, 512, 768])
    H = rng.choice([h for h in (4, 8, 12, 16) if d % h == 0])
    L = rng.choice([4, 6, 12])
    k = rng.randint(1, H - 1)
    d_h = d // H
    per_head = 4 * d * d_h + 3 * d_h  # W^Q, W^K, W^V columns with their biases, and W^O's rows
    removed = L * k * per_head
    total_attn = L * (4 * d * d + 4 * d)
    question = {
        "en": f"A model has $L = {L}$ layers, each with multi-head attention of width $d = {d}$, $H = {H}$ heads and "
              f"biases. Pruning removes $k = {k}$ heads in every layer. How many parameters of the attention layers "
              "go, and what share of them is that?",
        "ko": f"층 $L = {L}$개인 모델의 각 층에 폭 $d = {d}$, 헤드 $H = {H}$개, 편향이 있는 멀티헤드 어텐션이 "
        "있습니다. "
              f"가지치기로 층마다 헤드 $k = {k}$개를 없앱니다. 어텐션 층의 파라미터는 몇 개 줄고, 전체의 몇 "
              "%입니까?",
    }
    answer = {
        "en": f"One head owns $d_h = {d_h}$ columns of $W^Q, W^K, W^V$ with their biases and $d_h$ rows of $W^O$: "
              f"$4 d d_h + 3 d_h$ = {fmt_int(per_head)}. Removed: $L k$ heads = {fmt_int(removed)} of "
              f"{fmt_int(total_attn)} ({fmt(100 * removed / total_attn, 1)}%; $W^O$'s bias stays).",
        "ko": f"헤드 하나는 $W^Q, W^K, W^V$의 열 $d_h = {d_h}$개와 그 편향, $W^O$의 행 $d_h$개를 가지므로 "
              f"$4 d d_h + 3 d_h$ = {fmt_int(per_head)}개입니다. 헤드 $L k$개를 없애면 {fmt_int(total_attn)}개 가운데 "
              f"{fmt_int(removed)}개가 줄어듭니다({fmt(100 * removed / total_attn, 1)}%, $W^O$의 편향은 남습니다).",
    }
    return question, answer, {"removed": removed, "total": total_attn, "d": d, "H": H, "L": L, "k": k}


@variant("13", "distill")
def distillation_loss(rng: random.Random):
    t = [rng.randint(-2, 4) for _ in range(3)]
    s = [rng.randint(-2, 4) for _ in range(3)]
    tau = rng.choice([1, 2, 4])

    def soft(z: list[int]) -> list[float]:
        e = [math.exp(v / tau) for v in z]
        return [v / sum(e) for v in e]

    p, q = soft(t), soft(s)
    kl = sum(a * math.log(a / b) for a, b in zip(p, q, strict=True))
    tl, sl = ", ".join(map(str, t)), ", ".join(map(str, s))
    question = {
        "en": f"Knowledge distillation (Hinton et al. 2015) at temperature $\\tau = {tau}$: the teacher's logits are "
              f"({tl}), the student's ({sl}). Give both softened distributions, the KL divergence "
              "$\\mathrm{KL}(p_T \\| p_S)$ in nats, and the loss term $\\tau^2 \\mathrm{KL}$.",
        "ko": f"온도 $\\tau = {tau}$의 지식 증류(Hinton 등 2015)에서 교사의 로짓은 ({tl}), 학생의 로짓은 ({sl})입니다. "
              "부드럽게 만든 두 분포, KL 발산 $\\mathrm{KL}(p_T \\| p_S)$(나트), 손실 항 $\\tau^2 \\mathrm{KL}$을 "
              "구하십시오.",
    }
    ps, qs = ", ".join(fmt(v) for v in p), ", ".join(fmt(v) for v in q)
    answer = {
        "en": f"$p_T = \\mathrm{{softmax}}(z_T/\\tau)$ = ({ps}); $p_S$ = ({qs}); KL = {fmt(kl, 4)} nats; "
              f"$\\tau^2$KL = {fmt(tau * tau * kl, 4)} (the $\\tau^2$ keeps the gradients' scale as $\\tau$ changes).",
        "ko": f"$p_T = \\mathrm{{softmax}}(z_T/\\tau)$ = ({ps}), $p_S$ = ({qs}), KL = {fmt(kl, 4)}나트, "
              f"$\\tau^2$KL = {fmt(tau * tau * kl, 4)}입니다($\\tau^2$는 $\\tau$가 바뀌어도 그래디언트의 크기를 "
              "유지합니다).",
    }
    return question, answer, {"kl": kl, "tau": tau, "teacher": t, "student": s}


@variant("14", "absmax")
def absmax_int8(rng: random.Random):
    bits = rng.choice([4, 8])
    x = [round(rng.uniform(-3, 3), 2) for _ in range(4)]
    qmax = 2 ** (bits - 1) - 1
    scale = max(abs(v) for v in x) / qmax
    codes = [max(-qmax, min(qmax, round(v / scale))) for v in x]
    err = max(abs(c * scale - v) for c, v in zip(codes, x, strict=True))
    xs, cs = ", ".join(f"{v:.2f}" for v in x), ", ".join(map(str, codes))
    question = {
        "en": f"Quantize the vector ({xs}) to {bits} bits with symmetric absmax quantization (one scale, codes in "
              f"$[-{qmax}, {qmax}]$, round to nearest). Give the scale, the codes and the largest absolute error after "
              "dequantization.",
        "ko": f"벡터 ({xs})를 대칭 absmax 양자화(스케일 하나, 코드 범위 $[-{qmax}, {qmax}]$, 가장 가까운 "
        "값으로 반올림)로 "
              f"{bits}비트로 양자화하십시오. 스케일, 코드, 역양자화한 뒤의 가장 큰 절대 오차를 구하십시오.",
    }
    answer = {
        "en": f"$s = \\max|x| / {qmax}$ = {fmt(scale, 5)}; codes ({cs}); largest error {fmt(err, 5)}, at most $s/2$ "
              f"= {fmt(scale / 2, 5)}.",
        "ko": f"$s = \\max|x| / {qmax}$ = {fmt(scale, 5)}, 코드는 ({cs}), 가장 큰 오차는 {fmt(err, 5)}로 $s/2$ = "
              f"{fmt(scale / 2, 5)}를 넘지 않습니다.",
    }
    return question, answer, {"scale": scale, "codes": codes, "x": x, "bits": bits, "err": err}


@variant("14", "size")
def quantized_size(rng: random.Random):
    n = rng.choice([125, 350, 1300, 6700]) * 10**6
    bits = rng.choice([3, 4, 8])
    group = rng.choice([32, 64, 128])
    fp16 = n * 2
    q = n * bits / 8 + (n / group) * 2
    question = {
        "en": f"A model has {fmt_int(n)} weights. How many GB (10⁹ bytes) does it take in fp16, and quantized to "
              f"{bits} bits with one fp16 scale per group of {group} weights? What is the compression ratio?",
        "ko": f"가중치가 {fmt_int(n)}개인 모델이 있습니다. fp16으로는 몇 GB(10⁹바이트)이고, 가중치 {group}개 그룹마다 "
              f"fp16 스케일 하나를 두고 {bits}비트로 양자화하면 몇 GB입니까? 압축률은 얼마입니까?",
    }
    answer = {
        "en": f"fp16: {fmt(fp16 / 1e9, 2)} GB. Quantized: $n \\cdot {bits}/8 + (n/{group}) \\cdot 2$ bytes = "
              f"{fmt(q / 1e9, 2)} GB, {fmt(fp16 / q, 2)} times smaller (the scales cost {fmt(16 / group, 3)} bits per "
              "weight).",
        "ko": f"fp16: {fmt(fp16 / 1e9, 2)} GB입니다. 양자화하면 $n \\cdot {bits}/8 + (n/{group}) \\cdot 2$바이트 = "
              f"{fmt(q / 1e9, 2)} GB로 {fmt(fp16 / q, 2)}배 작습니다(스케일이 가중치마다 {fmt(16 / group, 3)}비트를 "
              "더합니다).",
    }
    return question, answer, {"fp16_gb": fp16 / 1e9, "q_gb": q / 1e9}


@variant("15", "spearman")
def spearman_by_hand(rng: random.Random):
    n = rng.choice([5, 6, 7])
    proxy = rng.sample(range(1, 100), n)
    acc = rng.sample(range(50, 100), n)
    rank = {v: i + 1 for i, v in enumerate(sorted(proxy))}
    rank_a = {v: i + 1 for i, v in enumerate(sorted(acc))}
    d2 = sum((rank[p] - rank_a[a]) ** 2 for p, a in zip(proxy, acc, strict=True))
    rho = 1 - 6 * d2 / (n * (n * n - 1))
    ps, accs = ", ".join(map(str, proxy)), ", ".join(map(str, acc))
    question = {
        "en": f"A training-free proxy scores {n} architectures ({ps}); after training, their accuracies (%) are "
              f"({accs}). Compute Spearman's rank correlation $\\rho$ (no ties).",
        "ko": f"학습 없는 프록시가 구조 {n}개에 점수 ({ps})를 줍니다. 학습한 뒤의 정확도(%)는 ({accs})입니다. "
              "스피어먼 순위 상관 $\\rho$를 구하십시오(동점 없음).",
    }
    answer = {
        "en": f"Rank both lists; with $d_i$ the rank differences, $\\sum d_i^2$ = {d2} and "
              f"$\\rho = 1 - 6 \\sum d_i^2 / (n(n^2 - 1))$ = {fmt(rho)}.",
        "ko": f"두 목록의 순위를 매기고 순위 차이를 $d_i$라 하면 $\\sum d_i^2$ = {d2}이고 "
              f"$\\rho = 1 - 6 \\sum d_i^2 / (n(n^2 - 1))$ = {fmt(rho)}입니다.",
    }
    return question, answer, {"rho": rho, "proxy": proxy, "acc": acc}


@variant("15", "space")
def search_space(rng: random.Random):
    L = rng.choice([4, 6, 8, 12])
    heads = rng.choice([[2, 4], [2, 4, 8], [4, 8]])
    mlp = rng.choice([[2, 4], [1, 2, 4], [2, 3, 4]])
    dims = rng.choice([[128, 192], [192, 256, 384]])
    per_layer = len(heads) * len(mlp)
    size = len(dims) * per_layer**L
    seconds = rng.choice([30, 60, 120])
    years = size * seconds / (3600 * 24 * 365)
    question = {
        "en": f"An AutoFormer-style search space: the width is one of {dims} for the whole model, and each of "
              f"$L = {L}$ layers picks its number of heads from {heads} and its MLP ratio from {mlp} on its own. How "
              f"many architectures are there, and how many years would it take to train each for {seconds} s?",
        "ko": f"AutoFormer 방식의 탐색 공간에서 폭은 모델 전체에 대해 {dims} 가운데 하나이고, 층 $L = {L}$개가 각각 "
              f"헤드 수를 {heads}에서, MLP 비율을 {mlp}에서 따로 고릅니다. 구조는 몇 개이고, 하나를 {seconds}초씩 "
              "학습하면 몇 년이 걸립니까?",
    }
    answer = {
        "en": f"${len(dims)} \\cdot ({len(heads)} \\cdot {len(mlp)})^{{{L}}}$ = {fmt_int(size)} architectures; "
              f"{fmt(years, 1)} years of training. This is why search trains a supernet once or uses training-free "
              "proxies.",
        "ko": f"${len(dims)} \\cdot ({len(heads)} \\cdot {len(mlp)})^{{{L}}}$ = {fmt_int(size)}개이고, 학습에 "
              f"{fmt(years, 1)}년이 걸립니다. 그래서 탐색에서는 슈퍼넷을 한 번만 학습하거나 학습 없는 프록시를 "
              "씁니다.",
    }
    return question, answer, {"size": size, "years": years}
