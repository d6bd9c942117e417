"""Generation, KV cache, multi-query / grouped-query attention and mean-pooled conversion (chapter 6)."""

from __future__ import annotations

import json
import math

import pytest
import torch

from efftx_mini.blocks import BLOCKS
from efftx_mini.generate import KVCache, filter_logits, generate, next_token_probs
from efftx_mini.gqa import mean_pool_kv_heads, qkv_layer
from efftx_mini.lm import DecoderOnlyLM

CACHED_BLOCKS = list(BLOCKS)  # every block has a KV cache (tests/test_blocks_padding_cache.py checks each further)
KV_BLOCKS = [b for b in BLOCKS if b not in ("sas", "sas-p")]  # blocks with W^K, W^V whose heads can be shared
V, D, H, L, FF, MAXLEN = 37, 32, 4, 2, 64, 48


def _lm(block: str = "pre-ln", n_kv_heads: int | None = None, seed: int = 0, **kw) -> DecoderOnlyLM:
    torch.manual_seed(seed)
    m = DecoderOnlyLM(block, V, D, H, L, FF, MAXLEN, n_kv_heads=n_kv_heads, **kw).eval()
    if block == "value-skipinit":  # β = 0 at init would hide the attention path
        for b in m.blocks:
            b.beta.data.uniform_(0.5, 1.0)
    return m


@pytest.mark.parametrize("block", KV_BLOCKS)
@pytest.mark.parametrize("n_kv", [None, 2, 1])
def test_cache_equals_full_forward_at_every_position(block, n_kv):
    m = _lm(block, n_kv)
    x = torch.randint(0, V, (3, 13), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        full = m(x)
        cache = KVCache(m, 3)
        parts = [m(x[:, :4], cache=cache), m(x[:, 4:6], cache=cache)]
        parts += [m(x[:, i:i + 1], cache=cache) for i in range(6, 13)]
    torch.testing.assert_close(torch.cat(parts, 1), full, atol=1e-5, rtol=1e-5)
    assert cache.length == 13 and cache.n_valid.tolist() == [13, 13, 13]


@pytest.mark.parametrize("block", CACHED_BLOCKS)
def test_cached_generation_equals_recomputation_batched(block):
    m = _lm(block, 2 if block in KV_BLOCKS else None)
    prompts = [[1, 2, 3], [4, 5, 6, 7, 8, 9], [10]]
    kw = dict(greedy=True, return_logits=True)
    a = generate(m, prompts, 7, **kw)
    b = generate(m, prompts, 7, use_cache=False, **kw)
    assert a.tokens == b.tokens
    torch.testing.assert_close(a.logits, b.logits, atol=1e-5, rtol=1e-5)


def test_left_padded_batch_equals_one_by_one():
    m = _lm("pre-ln", 2)
    prompts = [[3, 1, 4, 1, 5], [9, 2], [6, 5, 3, 5]]
    batch = generate(m, prompts, 6, greedy=True, return_logits=True)
    for i, p in enumerate(prompts):
        one = generate(m, [p], 6, greedy=True, return_logits=True)
        assert one.tokens[0] == batch.tokens[i]
        torch.testing.assert_close(one.logits[0], batch.logits[i], atol=1e-5, rtol=1e-5)
    # and the uncached model sees the padded rows exactly as the unpadded ones
    with torch.no_grad():
        x = torch.tensor([[0, 0, 0, 9, 2]])
        out = m(x, valid=x != 0)
        assert torch.isfinite(out).all()  # padding queries see no key at all: zeros, never NaN
        torch.testing.assert_close(out[:, -2:], m(torch.tensor([[9, 2]])), atol=1e-5, rtol=1e-5)
        cache = KVCache(m, 1)
        torch.testing.assert_close(m(x, valid=x != 0, cache=cache), out, atol=1e-5, rtol=1e-5)
        assert cache.n_valid.tolist() == [2]
        with pytest.raises(ValueError, match="holds 1 rows"):
            m(torch.ones(2, 1, dtype=torch.long), cache=cache)


def test_sinusoidal_positions_with_cache():
    m = _lm("parallel", 1, positions="sinusoidal")
    a = generate(m, [[1, 2], [3, 4, 5]], 5, greedy=True, return_logits=True)
    b = generate(m, [[1, 2], [3, 4, 5]], 5, greedy=True, return_logits=True, use_cache=False)
    torch.testing.assert_close(a.logits, b.logits, atol=1e-5, rtol=1e-5)


def test_stop_tokens_end_a_row():
    m = _lm()
    free = generate(m, [[1, 2, 3]], 8, greedy=True).tokens[0]
    stop = free[2]
    first = free.index(stop)
    out = generate(m, [[1, 2, 3], [4, 5]], 8, greedy=True, stop_tokens=[stop]).tokens
    assert out[0] == free[: first + 1]
    assert len(out[1]) <= 8


# --------------------------------------------------------------------------- grouped-query attention

def test_gqa_with_all_heads_equals_mha():
    mha, gqa = _lm("pre-ln", None, seed=3), _lm("pre-ln", H, seed=4)
    gqa.load_state_dict(mha.state_dict())
    x = torch.randint(0, V, (2, 10))
    assert torch.equal(mha(x), gqa(x))


def _replicated_mha(gqa: DecoderOnlyLM) -> DecoderOnlyLM:
    """An MHA model whose key/value heads are copies of the GQA model's (head i ← kv head i // G)."""
    mha = DecoderOnlyLM(**{**gqa.config, "n_kv_heads": None}).eval()
    state = gqa.state_dict()
    d_head, kv, G = D // H, gqa.blocks[0].kv_dim, H // gqa.blocks[0].n_kv_heads
    for i, blk in enumerate(gqa.blocks):
        name = "qkv" if hasattr(blk, "qkv") else "fused_in"
        for suf in ("weight", "bias"):
            w = state[f"blocks.{i}.{name}.{suf}"]
            q, k, v, rest = w.split([D, kv, kv, w.shape[0] - D - 2 * kv])
            rep = [t.reshape(-1, d_head, *t.shape[1:]).repeat_interleave(G, 0).reshape(D, *t.shape[1:])
                   for t in (k, v)]
            state[f"blocks.{i}.{name}.{suf}"] = torch.cat([q, *rep, rest])
    mha.load_state_dict(state)
    return mha


@pytest.mark.parametrize("block", ["pre-ln", "parallel"])
@pytest.mark.parametrize("n_kv", [1, 2])
def test_gqa_equals_mha_with_replicated_heads_values_and_gradients(block, n_kv):
    gqa = _lm(block, n_kv)
    mha = _replicated_mha(gqa)
    x = torch.randint(0, V, (2, 9))
    y = torch.randint(0, V, (2, 9))
    lg, lm = gqa.loss(x, y), mha.loss(x, y)
    torch.testing.assert_close(lg, lm, atol=1e-6, rtol=1e-6)
    lg.backward()
    lm.backward()
    # a shared key head's gradient is the sum of the gradients of its copies
    kv, d_head, G = gqa.blocks[0].kv_dim, D // H, H // n_kv
    g_gqa = qkv_layer(gqa.blocks[0]).weight.grad[D:D + kv]
    g_mha = qkv_layer(mha.blocks[0]).weight.grad[D:2 * D]
    torch.testing.assert_close(g_gqa, g_mha.reshape(n_kv, G, d_head, D).sum(1).reshape(kv, D), atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(qkv_layer(gqa.blocks[1]).weight.grad[:D], qkv_layer(mha.blocks[1]).weight.grad[:D],
                               atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("n_kv", [2, 1])
def test_value_skipinit_explicit_path_with_shared_heads(n_kv):
    blk = _lm("value-skipinit", n_kv).blocks[0]
    x = torch.randn(2, 7, D)
    torch.testing.assert_close(blk(x, explicit=True), blk(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("n_kv", [4, 2, 1])
def test_mqa_gqa_shapes_and_cache_memory(n_kv):
    m = _lm("pre-ln", n_kv)
    d_head = D // H
    assert qkv_layer(m.blocks[0]).weight.shape == (D + 2 * n_kv * d_head, D)
    cache = KVCache(m, 3, 20)
    assert cache.k.shape == (L, 3, n_kv, 20, d_head)
    assert cache.bytes_per_token_per_layer == 2 * n_kv * d_head * 4
    mha_bytes = KVCache(_lm("pre-ln"), 3, 20).nbytes
    assert cache.nbytes * H == mha_bytes * n_kv


def test_mean_pooled_conversion_equals_original_when_groups_identical():
    m = _lm("pre-ln")
    d_head = D // H
    with torch.no_grad():  # make heads (0, 1) and (2, 3) identical in W^K, W^V and their biases
        for blk in m.blocks:
            w, b = blk.qkv.weight, blk.qkv.bias
            for t in (w, b):
                for start in (D, 2 * D):
                    for g in (0, 2):
                        a = start + g * d_head
                        t[a + d_head: a + 2 * d_head] = t[a: a + d_head]
    pooled = mean_pool_kv_heads(m, 2)
    assert pooled.blocks[0].n_kv_heads == 2
    x = torch.randint(0, V, (2, 11))
    torch.testing.assert_close(pooled(x), m(x), atol=1e-6, rtol=1e-6)
    # in general the pooled keys are the group means
    m2 = _lm("parallel", seed=5)
    p2 = mean_pool_kv_heads(m2, 1)
    wk = m2.blocks[0].split_weights()["wk"]
    torch.testing.assert_close(p2.blocks[0].split_weights()["wk"], wk.reshape(H, d_head, D).mean(0))


# --------------------------------------------------------------------------- sampling

def test_top_k_and_top_p_against_hand_computed_cases():
    p = torch.tensor([[0.5, 0.25, 0.15, 0.1]])
    logits = p.log()
    torch.testing.assert_close(next_token_probs(logits, top_k=2), torch.tensor([[2 / 3, 1 / 3, 0.0, 0.0]]))
    # nucleus p = 0.7: 0.5 + 0.25 = 0.75 ≥ 0.7 already, so the third token goes
    torch.testing.assert_close(next_token_probs(logits, top_p=0.7), torch.tensor([[2 / 3, 1 / 3, 0.0, 0.0]]))
    torch.testing.assert_close(next_token_probs(logits, top_p=0.8), torch.tensor([[0.5, 0.25, 0.15, 0.0]]) / 0.9)
    torch.testing.assert_close(next_token_probs(logits, top_p=0.3), torch.tensor([[1.0, 0.0, 0.0, 0.0]]))
    torch.testing.assert_close(next_token_probs(logits, top_p=1.0), p)
    # temperature 2: p^(1/2) renormalised
    sq = p.sqrt()
    torch.testing.assert_close(next_token_probs(logits, temperature=2.0), sq / sq.sum())
    # order on a shuffled row; top-k then top-p
    perm = torch.tensor([2, 0, 3, 1])
    out = filter_logits(logits[:, perm], top_k=3, top_p=0.6)
    assert torch.isfinite(out).tolist() == [[False, True, False, True]]


def test_seeded_sampling_is_reproducible_and_cold_temperature_is_greedy():
    m = _lm()
    kw = dict(temperature=1.0, top_k=10, top_p=0.9)
    a = generate(m, [[1, 2], [3]], 10, generator=torch.Generator().manual_seed(7), **kw).tokens
    b = generate(m, [[1, 2], [3]], 10, generator=torch.Generator().manual_seed(7), **kw).tokens
    c = generate(m, [[1, 2], [3]], 10, generator=torch.Generator().manual_seed(8), **kw).tokens
    assert a == b and a != c
    greedy = generate(m, [[1, 2], [3]], 10, greedy=True).tokens
    cold = generate(m, [[1, 2], [3]], 10, temperature=1e-4, generator=torch.Generator().manual_seed(0)).tokens
    assert cold == greedy


# --------------------------------------------------------------------------- errors

@pytest.mark.parametrize("kw, match", [
    (dict(temperature=0.0), "temperature"), (dict(temperature=-1.0), "temperature"),
    (dict(top_p=0.0), "top_p"), (dict(top_p=1.5), "top_p"), (dict(top_k=0), "top_k"),
])
def test_bad_sampling_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        generate(_lm(), [[1, 2]], 3, **kw)


def test_bad_prompts_and_sizes():
    m = _lm()
    with pytest.raises(ValueError, match="empty"):
        generate(m, [[1], []], 3)
    with pytest.raises(ValueError, match="max_len"):
        generate(m, [list(range(30))], MAXLEN - 29)
    with pytest.raises(ValueError, match=r"\[0, 37\)"):
        generate(m, [[1, V]], 3)
    with pytest.raises(ValueError, match="max_new_tokens"):
        generate(m, [[1]], 0)
    with pytest.raises(ValueError, match="dividing n_heads=4"):
        DecoderOnlyLM("pre-ln", V, D, H, L, FF, MAXLEN, n_kv_heads=3)
    with pytest.raises(ValueError, match="no key/value projections"):
        DecoderOnlyLM("sas-p", V, D, H, L, FF, MAXLEN, n_kv_heads=2)
    with pytest.raises(ValueError, match="dividing the model's 2"):
        mean_pool_kv_heads(_lm("pre-ln", 2), 4)
    cache = KVCache(m, 1, 4)
    with pytest.raises(ValueError, match="max_len=4"):
        m(torch.ones(1, 5, dtype=torch.long), cache=cache)
    with torch.no_grad():
        assert math.isfinite(float(m(torch.ones(1, 4, dtype=torch.long), cache=cache).sum()))


def test_generate_benchmark_structure(capsys):
    """Structure of ``python -m efftx_mini.bench generate`` (not a speed claim): cache bytes are exact, every ratio
    carries median, bootstrap CI, min–max, quartiles, n and a verdict, and every group an A/A control."""
    from efftx_mini.bench import generate as bench
    assert bench.main(["--json", "--d", "32", "--heads", "4", "--layers", "1", "--new", "4,8", "--max-uncached", "4",
                       "--positions", "4,8", "--repeats", "3", "--position-repeats", "3"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert [r["new_tokens"] for r in res["generation"]] == [4, 8]
    g0, g1 = res["generation"]
    assert g1["nocache_tok_s"] is None and "speedup_median" not in g1 and g0["speedup_median"] > 0
    fields = ("median", "ci_lo", "ci_hi", "lo", "hi", "q1", "q3", "n", "verdict")
    for row, prefix in [(g0, "speedup_"), *[(r, "speedup_") for r in res["per_position"]],
                        *[(r, "cache_growth_") for r in res["per_position"]],
                        *[(r, "speed_vs_mha_") for r in res["kv_heads"]]]:
        assert all(f"{prefix}{f}" in row for f in fields), (prefix, row)
        assert row[f"{prefix}ci_lo"] <= row[f"{prefix}median"] <= row[f"{prefix}ci_hi"]
        assert row[f"{prefix}lo"] <= row[f"{prefix}q1"] <= row[f"{prefix}q3"] <= row[f"{prefix}hi"]
        assert row[f"{prefix}n"] == 3
    for aa in [res["aa"]["per_position"], res["aa"]["kv_heads"], *res["aa"]["generation"].values()]:
        assert aa["aa_ci_lo"] <= aa["aa_median"] <= aa["aa_ci_hi"] and aa["aa_n"] == 3
    assert res["per_position"][0]["cache_growth_median"] == 1.0  # the first position against itself
    # 2 (K and V) · n_kv_heads · d_head 8 · 4 bytes; H / 4 = 1 here, so GQA coincides with MQA
    assert {r["attention"]: r["bytes_per_token_per_layer"] for r in res["kv_heads"]} == {
        "MHA": 2 * 4 * 8 * 4, "MQA": 2 * 1 * 8 * 4}
    meta = res["meta"]
    assert meta["command"].startswith("python -m efftx_mini.bench generate --json")
    assert meta["commit"] and meta["hardware"]


def test_gqa_experiment_smoke_writes_paired_results_and_resumes(tmp_path):
    from efftx_mini.corpus import CodeCorpus
    from efftx_mini.experiments import gqa as experiment

    corpus = CodeCorpus(max_files=80)
    res = experiment.run("smoke", tmp_path, corpus=corpus)
    cfg = experiment.config_for("smoke")
    N, steps = cfg.steps, cfg.eval_steps
    assert steps == [N + cfg.uptrain(a) for a in cfg.alphas] and cfg.total == steps[-1]
    names = {(r["name"], r["steps"]) for r in res["summary"]}
    for s in steps:  # every variant at every evaluation step, uptrained models from N on
        assert {("MHA scratch", s), ("GQA-2 scratch", s), ("MQA scratch", s), ("LLaMA (GQA-2) scratch", s),
                ("GQA-2 + RoPE scratch", s),
                ("GQA-2 uptrained", s), ("MQA uptrained", s)} <= names
    assert all(r["seeds"] == len(cfg.seeds) == 3 for r in res["summary"])
    mqa_rows = [r for r in res["runs"] if r["name"] == "MQA scratch"]
    assert all(r["cache_bytes_per_token_per_layer"] * cfg.n_heads == 2 * cfg.d_model * 4 for r in mqa_rows)
    # paired differences: recomputed from the runs, with the verdict of their range
    val = {(r["name"], r["steps"], r["seed"]): r["valid_bpb"] for r in res["runs"]}
    for p in res["paired"]:
        diffs = [val[(p["a"], p["steps"], s)] - val[(p["b"], p["steps"], s)] for s in cfg.seeds]
        assert p["diff_min"] == round(min(diffs), 4) and p["diff_max"] == round(max(diffs), 4)
        assert (p["verdict"] == "indistinguishable") == (min(diffs) <= 0 <= max(diffs))
    again = experiment.run("smoke", tmp_path, corpus=corpus)  # every run is finished: read back, not retrained
    assert again["runs"] == res["runs"]
    loaded = experiment.load_results(tmp_path)
    assert loaded["summary"] == res["summary"] and "commit" in loaded and loaded["command"].startswith("python -m")
    assert not list(tmp_path.glob("*.pt"))  # no checkpoint left in the results folder
    # an interrupted seed resumes: delete one uptraining run, it is redone from the MHA run's state and matches
    victim = tmp_path / "run_MQA_uptrained_s1.json"
    def rows(path):
        return [{k: v for k, v in r.items() if k != "wall_s"} for r in json.loads(path.read_text())["rows"]]

    before = rows(victim)
    victim.unlink()
    experiment.run("smoke", tmp_path, corpus=corpus)
    assert rows(victim) == before


def test_continuing_a_checkpoint_is_the_same_run_as_not_stopping():
    """The schedule depends on the global step only, so saving (weights, AdamW state) at N and going on equals the
    uninterrupted run: the uptraining control (MHA continued) is well defined."""
    from efftx_mini.corpus import CodeCorpus
    from efftx_mini.experiments import gqa as experiment

    corpus = CodeCorpus(max_files=40)
    cfg = experiment.config_for("smoke")
    kw = dict(batch=2, T=16, seed=0, lr=cfg.lr, warmup=cfg.warmup, total=6)
    torch.manual_seed(0)
    a = experiment.build_model(cfg, cfg.n_heads)
    b = DecoderOnlyLM(**a.config)
    b.load_state_dict(a.state_dict())
    opt_a = experiment.make_optimizer(a, cfg.lr)
    experiment.train_steps(a, corpus, steps=6, optimizer=opt_a, **kw)
    opt_b = experiment.make_optimizer(b, cfg.lr)
    experiment.train_steps(b, corpus, steps=4, optimizer=opt_b, **kw)
    c = DecoderOnlyLM(**b.config)
    c.load_state_dict(b.state_dict())
    opt_c = experiment.make_optimizer(c, cfg.lr)
    opt_c.load_state_dict(opt_b.state_dict())
    experiment.train_steps(c, corpus, steps=2, start=4, optimizer=opt_c, **kw)
    for (n, pa), pc in zip(a.named_parameters(), c.parameters(), strict=True):
        torch.testing.assert_close(pa, pc, rtol=0, atol=0, msg=n)
    # pooled optimiser state: K/V moments are the group means, the rest copied
    pooled = mean_pool_kv_heads(c, 2)
    opt_p = experiment.pool_optimizer(opt_c, c, pooled, cfg.lr)
    m_old = opt_c.state[qkv_layer(c.blocks[0]).weight]["exp_avg"]
    m_new = opt_p.state[qkv_layer(pooled.blocks[0]).weight]["exp_avg"]
    d_head = cfg.d_model // cfg.n_heads
    k_old = m_old[cfg.d_model:2 * cfg.d_model].reshape(2, 2, d_head, -1).mean(1).reshape(2 * d_head, -1)
    torch.testing.assert_close(m_new[cfg.d_model:cfg.d_model + 2 * d_head], k_old)
    torch.testing.assert_close(m_new[:cfg.d_model], m_old[:cfg.d_model])
    assert float(opt_p.state[qkv_layer(pooled.blocks[0]).weight]["step"]) == 6


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (none on this machine)")
def test_cached_generation_on_cuda_equals_recomputation():
    m = _lm("parallel", 2).cuda()
    kw = dict(greedy=True, return_logits=True)
    a = generate(m, [[1, 2, 3], [4, 5]], 6, **kw)
    b = generate(m, [[1, 2, 3], [4, 5]], 6, use_cache=False, **kw)
    assert a.tokens == b.tokens
    torch.testing.assert_close(a.logits, b.logits, atol=1e-4, rtol=1e-4)


def test_gqa_experiment_logs_the_training_loss_of_each_evaluation(tmp_path):
    """train_bpb at an evaluation step is the mean training loss of the 10 steps before it (not a stale value)."""
    from efftx_mini.corpus import CodeCorpus
    from efftx_mini.experiments import gqa as experiment

    cfg = experiment.config_for("smoke")
    log: list[float] = []
    seen = {}

    def at(step):
        return lambda _model: seen.__setitem__(step, len(log))

    m = experiment.build_model(cfg, cfg.n_heads)
    experiment.train_steps(m, CodeCorpus(max_files=40), steps=6, batch=2, T=16, seed=0, lr=cfg.lr, warmup=1,
                           loss_log=log, eval_at={s: at(s) for s in (2, 4, 6)})
    assert seen == {2: 2, 4: 4, 6: 6} and len(log) == 6
