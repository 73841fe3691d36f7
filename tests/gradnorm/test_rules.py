"""Each per-layer rule against an explicit per-sample gradient built the slow way."""

from __future__ import annotations

import pytest
import torch

from vigor.gradnorm import registry, rules


def explicit_linear(a, g):
    return torch.stack([(g[b].T @ a[b]).pow(2).sum() for b in range(a.shape[0])])


@pytest.mark.parametrize(
    "shape, ghost", [((3, 4, 30, 50), True), ((3, 40, 5, 7), False)], ids=["ghost", "direct"]
)
def test_linear_weight_both_paths_and_chunking(shape, ghost, monkeypatch):
    batch, tokens, d_in, d_out = shape
    taken = []  # which path really ran: Grams (ghost) or per-sample weight gradients (direct)
    gram, cross = rules.gram, rules.cross
    monkeypatch.setattr(rules, "gram", lambda *a: taken.append("ghost") or gram(*a))
    monkeypatch.setattr(rules, "cross", lambda *a: taken.append("direct") or cross(*a))
    seed = int(torch.randint(0, 2**31 - 1, (1,)))
    gen = torch.Generator().manual_seed(seed)
    a = torch.randn(batch, tokens, d_in, dtype=torch.float64, generator=gen)
    g = torch.randn(batch, tokens, d_out, dtype=torch.float64, generator=gen)
    want = explicit_linear(a, g)
    got = rules.linear_weight_sq_norms(a, g, torch.float64)
    assert set(taken) == {"ghost" if ghost else "direct"}
    assert torch.allclose(got, want, rtol=1e-12, atol=0), f"seed {seed}"
    taken.clear()
    monkeypatch.setattr(rules, "SCRATCH_BYTES", 1)  # one sample at a time
    assert torch.allclose(rules.linear_weight_sq_norms(a, g, torch.float64), want, rtol=1e-12, atol=0)
    assert taken == ["ghost" if ghost else "direct"] * (2 * batch if ghost else batch)


def test_linear_bf16_accumulates_in_fp32():
    a = torch.randn(2, 16, 8).bfloat16()
    g = torch.randn(2, 16, 12).bfloat16()
    got = rules.linear_weight_sq_norms(a, g, torch.float32)
    assert got.dtype == torch.float32
    want = explicit_linear(a.double(), g.double())
    assert torch.allclose(got.double(), want, rtol=1e-5)


def test_bias():
    g = torch.randn(4, 9, 6, dtype=torch.float64)
    assert torch.allclose(rules.bias_sq_norms(g, torch.float64), g.sum(1).pow(2).sum(1))


def test_embedding_with_repeats_and_padding_idx():
    vocab, dim = 11, 5
    module = torch.nn.Embedding(vocab, dim, padding_idx=0).double()
    ids = torch.tensor([[0, 3, 3, 5, 0, 3], [7, 7, 7, 0, 1, 2]])
    g = torch.randn(2, 6, dim, dtype=torch.float64)
    dense = torch.zeros(2, vocab, dim, dtype=torch.float64)
    for b in range(2):
        for t in range(6):
            if ids[b, t] != 0:
                dense[b, ids[b, t]] += g[b, t]
    got = rules.EmbeddingRule().sq_norms(module, ids, g, {"weight"}, torch.float64)["weight"]
    assert torch.allclose(got, dense.pow(2).sum((1, 2)), rtol=1e-12)


def test_tied_head_rows():
    batch, seq, keep, dim, vocab = 2, 6, 4, 3, 9
    ids = torch.randint(0, vocab, (batch, seq))
    a = torch.randn(batch, keep, dim, dtype=torch.float64)
    g = torch.randn(batch, keep, vocab, dtype=torch.float64)
    rows = rules.tied_head_rows(ids, a, g, torch.float64)
    head_grad = torch.einsum("bsv,bsd->bvd", g, a)  # dense per-sample gradient of the head
    assert torch.allclose(rows, torch.stack([head_grad[b, ids[b]] for b in range(batch)]), rtol=1e-12)


def test_generic_rule_layernorm_and_loop_fallback():
    module = torch.nn.LayerNorm(6).double()
    with torch.no_grad():
        module.weight.normal_()
        module.bias.normal_()
    a = torch.randn(3, 5, 6, dtype=torch.float64)
    g = torch.randn(3, 5, 6, dtype=torch.float64)
    want = {}
    for b in range(3):
        out = module(a[b : b + 1])
        gw, gb = torch.autograd.grad(out, [module.weight, module.bias], g[b : b + 1])
        want.setdefault("weight", []).append(gw.pow(2).sum())
        want.setdefault("bias", []).append(gb.pow(2).sum())
    rule = rules.GenericRule()
    got = rule.sq_norms(module, a, g, {"weight", "bias"}, torch.float64)
    for name in ("weight", "bias"):
        assert torch.allclose(got[name], torch.stack(want[name]), rtol=1e-12)
    module._vigor_vmap_failed = True  # force the per-sample loop
    got = rule.sq_norms(module, a, g, {"weight", "bias"}, torch.float64)
    for name in ("weight", "bias"):
        assert torch.allclose(got[name], torch.stack(want[name]), rtol=1e-12)


def test_rule_lookup():
    from transformers.pytorch_utils import Conv1D

    assert isinstance(registry.find_rule(torch.nn.Linear(2, 3)), rules.LinearRule)
    assert isinstance(registry.find_rule(Conv1D(3, 2)), rules.LinearRule)
    assert isinstance(registry.find_rule(torch.nn.Embedding(4, 2)), rules.EmbeddingRule)
    assert isinstance(registry.find_rule(torch.nn.LayerNorm(2)), rules.LayerNormRule)
    assert isinstance(registry.find_rule(torch.nn.GroupNorm(1, 2)), rules.GenericRule)

    class Scaled(torch.nn.Linear):  # overrides forward: the linear rule must not apply
        def forward(self, x):
            return 2 * super().forward(x)

    assert isinstance(registry.find_rule(Scaled(2, 3)), rules.GenericRule)
