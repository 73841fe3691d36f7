"""Closed-form normalisation rules, by model family, against the per-sample autograd loop.

Modules are the real transformers classes, taken from small random configs of each family.
Tolerance: relative 1e-9 in float64, except Gemma's RMSNorm, which computes in float32 whatever
the model dtype (`x.float()`, `1.0 + weight.float()`), so its own per-sample gradients carry
float32 rounding: 1e-6 there.
"""

from __future__ import annotations

import copy
import functools

import pytest
import torch

from vigor.gradnorm import registry, rules

COMMON = dict(vocab_size=61, hidden_size=32, num_hidden_layers=1, num_attention_heads=4, num_key_value_heads=2,
              intermediate_size=48, max_position_embeddings=128, pad_token_id=0, bos_token_id=1, eos_token_id=2)
FAMILIES = {  # family: (config model_type, extra config, norm modules to check with their input shape)
    "llama": ("llama", {}, {"model.layers.0.input_layernorm": "hidden", "model.norm": "hidden"}),
    "qwen2": ("qwen2", {}, {"model.layers.0.post_attention_layernorm": "hidden"}),
    "qwen3": ("qwen3", {"head_dim": 8}, {"model.layers.0.input_layernorm": "hidden",
                                          "model.layers.0.self_attn.q_norm": "heads",
                                          "model.layers.0.self_attn.k_norm": "kv_heads"}),
    "mistral": ("mistral", {}, {"model.layers.0.input_layernorm": "hidden"}),
    "phi3": ("phi3", {}, {"model.layers.0.input_layernorm": "hidden"}),
    "olmo2": ("olmo2", {}, {"model.layers.0.post_attention_layernorm": "hidden",
                            "model.layers.0.self_attn.q_norm": "hidden",
                            "model.layers.0.self_attn.k_norm": "kv_width"}),
    "gemma": ("gemma", {"head_dim": 8}, {"model.layers.0.input_layernorm": "hidden"}),
    "gemma3": ("gemma3_text", {"head_dim": 8, "query_pre_attn_scalar": 8},
               {"model.layers.0.input_layernorm": "hidden", "model.layers.0.self_attn.q_norm": "heads"}),
}
TOL = {"gemma": 1e-6, "gemma3": 1e-6}


def family_model(family: str, seed: int):
    from transformers import AutoConfig, AutoModelForCausalLM

    model_type, extra, _ = FAMILIES[family]
    torch.manual_seed(seed)
    config = AutoConfig.for_model(model_type, **COMMON, rms_norm_eps=1e-5 + seed % 7 * 1e-6, **extra)
    model = AutoModelForCausalLM.from_config(config).double().eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.normal_(0.0, 0.5)  # not the initial ones/zeros
    return model


def input_shape(kind: str, model, batch: int, tokens: int):
    c = model.config
    return {
        "hidden": lambda: (batch, tokens, c.hidden_size),
        "heads": lambda: (batch, tokens, c.num_attention_heads, c.head_dim),
        "kv_heads": lambda: (batch, tokens, c.num_key_value_heads, c.head_dim),
        "kv_width": lambda: (batch, tokens, c.num_key_value_heads * (c.hidden_size // c.num_attention_heads)),
    }[kind]()


def per_sample_loop(module, a, g):
    """The slow truth: autograd on one sample at a time, squared norm of each parameter."""
    out = {}
    for b in range(a.shape[0]):
        params = [p for _, p in module.named_parameters()]
        grads = torch.autograd.grad(module(a[b : b + 1]), params, g[b : b + 1])
        for (name, _), grad in zip(module.named_parameters(), grads):
            out.setdefault(name, []).append(grad.pow(2).sum())
    return {n: torch.stack(v) for n, v in out.items()}


CASES = [(f, m) for f, (_, _, mods) in FAMILIES.items() for m in mods]


@pytest.mark.parametrize("family, module_name", CASES, ids=[f"{f}-{m.split('.')[-1]}" for f, m in CASES])
def test_rmsnorm_rule_by_family(family, module_name):
    seed = int(torch.randint(0, 2**31 - 1, (1,)))
    model = family_model(family, seed)
    module = model.get_submodule(module_name)
    rule = registry.find_rule(module)
    assert isinstance(rule, rules.RMSNormRule), f"{type(module).__name__} fell back to {rule.name}"
    gen = torch.Generator().manual_seed(seed)
    shape = input_shape(FAMILIES[family][2][module_name], model, 3, 7)
    a = torch.randn(shape, dtype=torch.float64, generator=gen) * 2
    a[1] *= 1e-3  # a sample at the scale where epsilon matters
    g = torch.randn(shape, dtype=torch.float64, generator=gen)
    got = rule.sq_norms(module, a, g, {"weight"}, torch.float64)["weight"]
    want = per_sample_loop(module, a, g)["weight"]
    err = float(((got - want).abs() / want).max())
    assert err <= TOL.get(family, 1e-9), f"seed {seed}: relative error {err:.2e}"


@pytest.mark.parametrize("bias", [True, False], ids=["layernorm-bias", "layernorm-no-bias"])
def test_layernorm_rule(bias):
    seed = int(torch.randint(0, 2**31 - 1, (1,)))
    torch.manual_seed(seed)
    module = torch.nn.LayerNorm(12, eps=3e-4, bias=bias).double()
    with torch.no_grad():
        for p in module.parameters():
            p.normal_()
    rule = registry.find_rule(module)
    assert isinstance(rule, rules.LayerNormRule)
    a = torch.randn(4, 5, 12, dtype=torch.float64) * 3 + 1
    g = torch.randn(4, 5, 12, dtype=torch.float64)
    names = {"weight", "bias"} if bias else {"weight"}
    got = rule.sq_norms(module, a, g, names, torch.float64)
    want = per_sample_loop(module, a, g)
    assert set(got) == names == set(want)
    for name in names:
        assert torch.allclose(got[name], want[name], rtol=1e-9, atol=0), f"seed {seed} {name}"


class OddEpsNorm(torch.nn.Module):
    """Declares eps 1e-6 but normalises with 1e-2: the probe must not trust the attribute."""

    def __init__(self, dim):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(dim))
        self.eps = 1e-6

    def forward(self, x):
        return self.weight * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-2)


class ShiftedNorm(OddEpsNorm):
    """Right epsilon, different formula (adds a constant)."""

    def forward(self, x):
        return self.weight * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) + 0.1


@pytest.mark.parametrize("cls", [OddEpsNorm, ShiftedNorm])
def test_rmsnorm_probe_rejects_other_eps_or_formula_and_falls_back(cls):
    rule = rules.RMSNormRule()
    module = cls(8).double()
    assert rule.check(module) is not None
    registry.register_rule(cls, rule)
    try:
        assert isinstance(registry.find_rule(module), rules.GenericRule)  # exact, just slower
    finally:
        registry.unregister_rule(cls)
    assert isinstance(registry.find_rule(module), rules.GenericRule)


def test_rmsnorm_probe_reads_the_eps_attribute():
    from transformers.models.llama.modeling_llama import LlamaRMSNorm

    module = LlamaRMSNorm(8, eps=1e-6).double()
    assert rules.RMSNormRule().check(module) is None
    module.variance_epsilon = 0.5  # the forward reads it: still consistent
    assert rules.RMSNormRule().check(module) is None


@functools.lru_cache(maxsize=None)
def _cached_family_model(family):
    return family_model(family, 0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16], ids=["f32", "bf16", "f16"])
@pytest.mark.parametrize("family", list(FAMILIES))
def test_probe_accepts_every_family_in_low_precision(family, dtype):
    """The probe's tolerance must accept the module's own rounding (else the slow fallback)."""
    model = _cached_family_model(family)
    for name in FAMILIES[family][2]:
        module = copy.deepcopy(model.get_submodule(name)).to(dtype)
        assert isinstance(registry.find_rule(module), rules.RMSNormRule), f"{family} {name} {dtype}"
