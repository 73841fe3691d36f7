"""The engine against the truth "each sample alone, its padding removed" (the reference loop),
on models outside the basic set: every covered normalisation family, the three model classes
that used to crash or give NaN, user-registered rules and refused modules.

Tolerance: relative 1e-9 in float64 (fresh random inputs; the seed is printed on failure).
"""

from __future__ import annotations

import pytest
import torch

from tests.gradnorm.test_engine import VOCAB, random_batch, rel_err
from tests.gradnorm.test_norm_rules import FAMILIES, family_model
from vigor.gradnorm import (
    GradNormEngine,
    Rule,
    UnsupportedParameterError,
    per_sample_grad_norms,
    reference_grad_norms,
    register_rule,
    unregister_rule,
)
from vigor.gradnorm import registry, rules
from vigor.tiny import tiny_causal_lm


def fresh_seed() -> int:
    return int(torch.randint(0, 2**31 - 1, (1,)))


def check_against_truth(model, padding="left", **batch_kwargs):
    seed = fresh_seed()
    ids, attention, loss = random_batch(seed, padding=padding, **batch_kwargs)
    ids = ids % model.config.vocab_size
    fast = per_sample_grad_norms(model, ids, attention, loss)
    slow = reference_grad_norms(model, ids, attention, loss)
    assert bool(torch.isfinite(slow).all()) and bool((slow > 0).all()), f"seed {seed}"
    assert bool(torch.isfinite(fast).all()), f"seed {seed}: {fast}"
    assert rel_err(fast, slow) <= 1e-9, f"seed {seed}"


@pytest.mark.parametrize("family", list(FAMILIES))
def test_engine_by_norm_family(family):
    model = family_model(family, fresh_seed() % 1000)
    engine = GradNormEngine(model)
    norm_sites = [s for s in engine.sites if "norm" in s.qualname.rsplit(".", 1)[-1]]
    assert norm_sites and all(isinstance(s.rule, rules.RMSNormRule) for s in norm_sites)
    check_against_truth(model)


def test_layernorm_model_gpt2_uses_closed_form():
    model = tiny_causal_lm("gpt2", vocab_size=VOCAB, dtype=torch.float64, seed=4)
    engine = GradNormEngine(model)
    assert {s.rule.name for s in engine.sites if "ln" in s.qualname} == {"layernorm"}
    check_against_truth(model, padding="left")


# ---------------------------------------------------------------- the three classes of model
def tiny_opt(seed=0):
    from transformers import OPTConfig, OPTForCausalLM

    torch.manual_seed(seed)
    config = OPTConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, ffn_dim=48, num_attention_heads=4,
                       max_position_embeddings=64, word_embed_proj_dim=32, pad_token_id=0, bos_token_id=1,
                       eos_token_id=2, dropout=0.0)
    return OPTForCausalLM(config).double().eval()


@pytest.mark.parametrize("padding", ["left", "right"])
def test_learned_positions_embedding_subclass_with_own_forward(padding):
    model = tiny_opt(fresh_seed() % 1000)
    positions = model.model.decoder.embed_positions
    assert type(positions).forward is not torch.nn.Embedding.forward  # (attention_mask, cache_length, position_ids)
    site = next(s for s in GradNormEngine(model).sites if s.module is positions)
    assert isinstance(site.rule, rules.LookupCapture)
    check_against_truth(model, padding=padding)


def test_inplace_modification_of_a_hooked_output():
    model = tiny_causal_lm("llama", vocab_size=VOCAB, dtype=torch.float64, seed=fresh_seed() % 1000)
    mlp = model.model.layers[0].mlp
    inner = mlp.forward

    def forward(x):
        out = inner(x)  # the output of down_proj, a hooked Linear
        out.mul_(0.5).add_(x.tanh())
        return out

    mlp.forward = forward
    check_against_truth(model)


@pytest.mark.parametrize("arch", ["llama", "gpt2"])  # gpt2: absolute positions under left padding
def test_nan_in_fully_masked_left_padding_rows(arch):
    from transformers import AutoModelForCausalLM

    from vigor.tiny import tiny_config

    torch.manual_seed(fresh_seed() % 1000)
    config = tiny_config(arch, vocab_size=VOCAB)
    # Eager attention in float64: a fully masked row is softmax over -inf only, NaN; the plain
    # batched forward then gives NaN logits at real positions too (0 * NaN).
    model = AutoModelForCausalLM.from_config(config, attn_implementation="eager").double().eval()
    ids, attention, loss = random_batch(3, padding="left")
    assert bool((attention[:, 0] == 0).any())
    with torch.no_grad():
        plain = model(input_ids=ids, attention_mask=attention).logits
    if arch == "llama":
        assert bool(plain.isnan().any()), "the case is not exercised: no NaN in the plain forward"
    seen, forwards = {}, []
    handle = model.register_forward_pre_hook(lambda *a: forwards.append(1))
    fast = per_sample_grad_norms(model, ids, attention, loss, logits_callback=lambda rows, lg: seen.update(lg=lg))
    handle.remove()
    if arch == "llama":
        assert len(forwards) == 2, "the padding-moved recompute did not run"
    slow = reference_grad_norms(model, ids, attention, loss)
    assert rel_err(fast, slow) <= 1e-9
    # The logits handed to the caller are those of each sample alone, at the original positions.
    logits = seen["lg"]
    keep = logits.shape[1]
    for b in range(ids.shape[0]):
        real = attention[b].bool()
        with torch.no_grad():
            alone = model(input_ids=ids[b, real][None]).logits[0]
        cols = real.nonzero()[:, 0]
        inside = cols >= ids.shape[1] - keep
        got = logits[b, cols[inside] - (ids.shape[1] - keep)]
        assert torch.allclose(got, alone[inside], rtol=1e-10, atol=1e-10)
    check_against_truth(model)


def test_sample_with_only_padding_gets_zero_not_nan():
    from transformers import AutoModelForCausalLM

    from vigor.tiny import tiny_config

    model = AutoModelForCausalLM.from_config(tiny_config("llama", vocab_size=VOCAB),
                                             attn_implementation="eager").double().eval()
    ids, attention, loss = random_batch(4, padding="left")
    attention[1], loss[1], ids[1] = 0, 0, 0
    fast = per_sample_grad_norms(model, ids, attention, loss)
    assert fast[1] == 0 and bool(torch.isfinite(fast).all())


# ---------------------------------------------------------------- the registry
class Scale(torch.nn.Module):
    """y = x * s (per feature), a layer no built-in rule knows."""

    def __init__(self, dim):
        super().__init__()
        self.s = torch.nn.Parameter(torch.randn(dim))

    def forward(self, x):
        return x * self.s


class ScaleRule(Rule):
    """dL/ds = sum_t G_t * A_t per sample."""

    name = "scale"

    def sq_norms(self, module, a, g, wanted, acc):
        grad = (g.to(acc) * a.to(acc)).reshape(a.shape[0], -1, a.shape[-1]).sum(1)
        return {"s": grad.pow(2).sum(1)}


def model_with_scale():
    model = tiny_causal_lm("llama", vocab_size=VOCAB, dtype=torch.float64, seed=fresh_seed() % 1000)
    mlp = model.model.layers[1].mlp
    mlp.scale = Scale(model.config.hidden_size).double()
    inner = mlp.forward
    mlp.forward = lambda x: inner(mlp.scale(x))
    return model


def test_register_rule_adds_a_layer_type():
    model = model_with_scale()
    assert GenericRule_name(model) == "per-sample vjp"  # exact before registration, by vmap
    register_rule(Scale)(ScaleRule)
    try:
        assert GenericRule_name(model) == "scale"
        check_against_truth(model)
    finally:
        unregister_rule(Scale)
    assert GenericRule_name(model) == "per-sample vjp"


def test_the_newest_registration_is_looked_up_first():
    """The lookup order: the newest registration first (not the most specific class), then the built-in rules
    in their order; registering a class again moves it to the front, unregistering it restores the rest."""
    builtins = list(registry.registered_rules())

    class Base(torch.nn.Linear):  # keeps nn.Linear's forward, so nn.Linear's rule would match it too
        pass

    class Sub(Base):
        pass

    for_sub, for_base = rules.LinearRule(), rules.LinearRule()
    register_rule(Sub, for_sub)
    register_rule(Base, for_base)
    try:
        assert list(registry.registered_rules()) == [Base, Sub, *builtins]
        assert registry.find_rule(Sub(2, 2)) is for_base
        register_rule(Sub, for_sub)
        assert list(registry.registered_rules()) == [Sub, Base, *builtins]
        assert registry.find_rule(Sub(2, 2)) is for_sub and registry.find_rule(Base(2, 2)) is for_base
        assert registry.find_rule(torch.nn.Linear(2, 2)) is registry.registered_rules()[torch.nn.Linear]
    finally:
        unregister_rule(Sub)
        unregister_rule(Base)
    assert list(registry.registered_rules()) == builtins


def GenericRule_name(model) -> str:
    return next(s.rule.name for s in GradNormEngine(model).sites if isinstance(s.module, Scale))


class TwoInputs(torch.nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.s = torch.nn.Parameter(torch.ones(dim))

    def forward(self, x, y):
        return x * self.s + y


def test_unsupported_module_fails_before_any_forward_and_names_the_registry():
    model = tiny_causal_lm("llama", vocab_size=VOCAB, dtype=torch.float32, seed=1)
    model.model.layers[0].extra = TwoInputs(model.config.hidden_size)
    forwards = []
    model.register_forward_pre_hook(lambda *a: forwards.append(1))
    ids, attention, loss = random_batch(5)
    with pytest.raises(UnsupportedParameterError) as info:
        per_sample_grad_norms(model, ids, attention, loss)
    message = str(info.value)
    assert "\n" not in message and "model.layers.0.extra" in message and "TwoInputs" in message
    assert "register_rule" in message
    assert forwards == []


def test_check_hook_refuses_with_the_modules_name():
    class Picky(ScaleRule):
        def check(self, module):
            return "scale vectors longer than 8 are not supported"

    model = model_with_scale()
    register_rule(Scale, Picky())
    try:
        with pytest.raises(UnsupportedParameterError,
                           match=r"^module 'model\.layers\.1\.mlp\.scale' \(Scale: scale vectors"):
            GradNormEngine(model)
    finally:
        unregister_rule(Scale)


def test_sample_interacting_modules_are_refused_by_name():
    model = tiny_causal_lm("llama", vocab_size=VOCAB, dtype=torch.float32, seed=1)
    model.model.layers[1].bn = torch.nn.BatchNorm1d(4, track_running_stats=False)
    with pytest.raises(UnsupportedParameterError,
                       match=r"module 'model\.layers\.1\.bn' \(BatchNorm1d\) normalises with batch"):
        GradNormEngine(model)
    model.model.layers[1].bn = torch.nn.BatchNorm1d(4)  # running statistics in eval mode: fine
    GradNormEngine(model)

    from transformers import SwitchTransformersConfig
    from transformers.models.switch_transformers.modeling_switch_transformers import SwitchTransformersTop1Router

    router = SwitchTransformersTop1Router(SwitchTransformersConfig(d_model=32, num_experts=4, expert_capacity=2))
    model.model.layers[0].router = router
    with pytest.raises(UnsupportedParameterError,
                       match=r"module 'model\.layers\.0\.router' \(SwitchTransformersTop1Router\) routes tokens"):
        GradNormEngine(model)


def test_no_second_pass_without_nan():
    """The padding-moved recompute runs only when a norm is not finite: one forward otherwise."""
    model = tiny_causal_lm("llama", vocab_size=VOCAB, dtype=torch.float64, seed=1)  # SDPA: no NaN rows
    forwards = []
    handle = model.register_forward_pre_hook(lambda *a: forwards.append(1))
    ids, attention, loss = random_batch(6, padding="left")
    assert bool((attention[:, 0] == 0).any())
    per_sample_grad_norms(model, ids, attention, loss)
    handle.remove()
    assert len(forwards) == 1
