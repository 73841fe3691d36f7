"""The batched engine against the slow reference loop, on fresh random inputs.

Tolerances: relative error <= 1e-9 in float64 and <= 1e-4 in float32 (the issue's bounds).
"""

from __future__ import annotations

import copy

import pytest
import torch

from vigor.gradnorm import (
    UnsupportedParameterError,
    per_sample_grad_norm_breakdown,
    per_sample_grad_norms,
    reference_grad_norms,
)
from vigor.tiny import tiny_causal_lm

VOCAB = 97
TOL = {torch.float64: 1e-9, torch.float32: 1e-4}


def random_batch(seed: int, *, batch=5, seq=26, padding="left"):
    """Prompt + completion rows of different lengths, padded on one side (pad id 0)."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, VOCAB, (batch, seq), generator=g)
    attention = torch.ones(batch, seq, dtype=torch.long)
    loss = torch.zeros(batch, seq, dtype=torch.long)
    for b in range(batch):
        pad = int(torch.randint(0, 8, (1,), generator=g))
        prompt = int(torch.randint(1, 7, (1,), generator=g))
        lo, hi = (pad, seq) if padding == "left" else (0, seq - pad)
        attention[b, :lo] = 0
        attention[b, hi:] = 0
        ids[b, :lo] = 0
        ids[b, hi:] = 0
        loss[b, lo + prompt : hi] = 1
    return ids, attention, loss


def lora_model(dtype):
    from peft import LoraConfig, get_peft_model

    base = tiny_causal_lm("llama", vocab_size=VOCAB, dtype=dtype, seed=3)
    model = get_peft_model(
        base, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.2, target_modules=["q_proj", "v_proj", "down_proj"])
    )
    with torch.no_grad():  # PEFT starts lora_B at zero; make the adapters do something
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.2)
    return model


MODELS = {
    "llama-tied": lambda dt: tiny_causal_lm("llama", vocab_size=VOCAB, dtype=dt, seed=1),
    "qwen2-untied-bias": lambda dt: tiny_causal_lm("qwen2", vocab_size=VOCAB, dtype=dt, seed=2),
    "gpt2": lambda dt: tiny_causal_lm("gpt2", vocab_size=VOCAB, dtype=dt, seed=4),
    "gemma3": lambda dt: tiny_causal_lm("gemma3", vocab_size=VOCAB, dtype=dt, seed=5),
    "peft-lora": lora_model,
}


def rel_err(a, b):
    return float(((a.double() - b.double()).abs() / b.double().abs().clamp(min=1e-30)).max())


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("padding", ["left", "right"])
@pytest.mark.parametrize("arch", list(MODELS))
def test_engine_matches_reference(arch, padding, dtype):
    model = MODELS[arch](dtype)
    seed = int(torch.randint(0, 2**31 - 1, (1,)))  # fresh inputs on every run
    ids, attention, loss = random_batch(seed, padding=padding)
    fast = per_sample_grad_norms(model, ids, attention, loss)
    slow = reference_grad_norms(model, ids, attention, loss)
    assert fast.shape == (ids.shape[0],)
    assert fast.dtype == (torch.float64 if dtype == torch.float64 else torch.float32)
    assert bool((slow > 0).all())
    assert rel_err(fast, slow) <= TOL[dtype], f"seed {seed}"


def test_tied_embeddings_really_tied_and_counted_once():
    model = MODELS["llama-tied"](torch.float64)
    assert model.lm_head.weight is model.model.embed_tokens.weight
    ids, attention, loss = random_batch(11)
    res = per_sample_grad_norm_breakdown(model, ids, attention, loss)
    assert "lm_head.weight" not in res.sq_norms_by_param
    assert "model.embed_tokens.weight" in res.sq_norms_by_param
    # Without the cross term the total would differ: check against the reference exactly.
    assert rel_err(res.norms, reference_grad_norms(model, ids, attention, loss)) <= 1e-9


@pytest.mark.parametrize("reentrant", [False, True])
@pytest.mark.parametrize("arch", ["llama-tied", "gpt2"])
def test_gradient_checkpointing(arch, reentrant):
    model = MODELS[arch](torch.float64)
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": reentrant})
    model.train()  # checkpointing only acts in training mode; GPT-2 also has dropout 0.1 here
    calls = []
    layer_mlp = model.get_submodule("transformer.h.0.mlp" if arch == "gpt2" else "model.layers.0.mlp")
    # A pre-hook: the recompute may stop early inside the module, before its forward hooks.
    handle = layer_mlp.register_forward_pre_hook(lambda *a: calls.append(1))
    ids, attention, loss = random_batch(int(torch.randint(0, 10**6, (1,))))
    fast = per_sample_grad_norms(model, ids, attention, loss)
    handle.remove()
    assert len(calls) == 2, "the layer was not recomputed: checkpointing was not active"
    assert model.training
    assert rel_err(fast, reference_grad_norms(model, ids, attention, loss)) <= 1e-9


def test_dropout_is_disabled_and_mode_restored():
    model = MODELS["gpt2"](torch.float64)
    model.train()
    assert model.config.resid_pdrop > 0
    ids, attention, loss = random_batch(5)
    a = per_sample_grad_norms(model, ids, attention, loss)
    b = per_sample_grad_norms(model, ids, attention, loss)
    assert torch.equal(a, b)
    assert all(m.training for m in model.modules())


def test_params_grads_and_mode_untouched():
    model = MODELS["qwen2-untied-bias"](torch.float32)
    model.train()
    for p in model.parameters():
        p.grad = torch.full_like(p, 0.5)
    before = copy.deepcopy(model.state_dict())
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    ids, attention, loss = random_batch(6)
    per_sample_grad_norms(model, ids, attention, loss)
    for n, t in model.state_dict().items():
        assert torch.equal(t, before[n]), n
    for n, p in model.named_parameters():
        assert torch.equal(p.grad, grads[n]), n
    assert model.training


def test_micro_batches_params_subset_and_temperature():
    model = MODELS["qwen2-untied-bias"](torch.float64)
    ids, attention, loss = random_batch(7, batch=7)
    whole = per_sample_grad_norms(model, ids, attention, loss)
    assert rel_err(per_sample_grad_norms(model, ids, attention, loss, micro_batch_size=3), whole) <= 1e-12
    subset = ["model.layers.1.mlp.up_proj.weight", "model.layers.0.self_attn.q_proj.bias", "lm_head.weight"]
    assert rel_err(
        per_sample_grad_norms(model, ids, attention, loss, params=subset),
        reference_grad_norms(model, ids, attention, loss, params=subset),
    ) <= 1e-9
    assert rel_err(
        per_sample_grad_norms(model, ids, attention, loss, temperature=0.7),
        reference_grad_norms(model, ids, attention, loss, temperature=0.7),
    ) <= 1e-9


def test_sample_without_targets_gets_zero():
    model = MODELS["llama-tied"](torch.float64)
    ids, attention, loss = random_batch(8)
    loss[2] = 0
    fast = per_sample_grad_norms(model, ids, attention, loss)
    assert fast[2] == 0
    assert rel_err(fast[[0, 1, 3, 4]], reference_grad_norms(model, ids, attention, loss)[[0, 1, 3, 4]]) <= 1e-9


def test_frozen_parameters_are_excluded():
    model = MODELS["llama-tied"](torch.float64)
    for name, p in model.named_parameters():
        p.requires_grad_("mlp" in name)
    ids, attention, loss = random_batch(9)
    res = per_sample_grad_norm_breakdown(model, ids, attention, loss)
    assert all("mlp" in n for n in res.sq_norms_by_param)
    assert rel_err(res.norms, reference_grad_norms(model, ids, attention, loss)) <= 1e-9


class ScaleBoth(torch.nn.Module):
    """A trainable module called with two arguments: no rule can account for it."""

    def __init__(self, dim):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(dim))

    def forward(self, x, unused):
        return x * self.scale


def test_unaccountable_parameter_raises_with_names():
    model = MODELS["llama-tied"](torch.float32)
    mlp = model.model.layers[0].mlp
    mlp.extra = ScaleBoth(model.config.hidden_size)
    inner = mlp.forward
    mlp.forward = lambda x: inner(mlp.extra(x, None))
    ids, attention, loss = random_batch(10)
    with pytest.raises(UnsupportedParameterError, match=r"model\.layers\.0\.mlp\.extra.*ScaleBoth.*scale"):
        per_sample_grad_norms(model, ids, attention, loss)


def test_reused_module_and_foreign_sharing_raise():
    model = MODELS["qwen2-untied-bias"](torch.float32)
    ids, attention, loss = random_batch(12)
    mlp = model.model.layers[0].mlp
    inner = mlp.forward
    # down_proj runs inside the MLP and once more here: the module is reused.
    mlp.forward = lambda x: inner(x) + mlp.down_proj(x.new_zeros(*x.shape[:-1], mlp.down_proj.in_features))
    with pytest.raises(UnsupportedParameterError, match="ran 2 times"):
        per_sample_grad_norms(model, ids, attention, loss)

    model = MODELS["qwen2-untied-bias"](torch.float32)
    model.model.layers[1].mlp.up_proj.weight = model.model.layers[0].mlp.up_proj.weight
    with pytest.raises(UnsupportedParameterError, match="shared by"):
        per_sample_grad_norms(model, ids, attention, loss)


def test_bad_inputs_are_named():
    model = MODELS["llama-tied"](torch.float32)
    ids, attention, loss = random_batch(13)
    with pytest.raises(ValueError, match="loss_mask must be a tensor of the same shape"):
        per_sample_grad_norms(model, ids, attention, loss[:, :-1])
    bad = loss.clone()
    bad[0, 0] = 1
    with pytest.raises(ValueError, match=r"loss_mask\[:, 0\]"):
        per_sample_grad_norms(model, ids, attention, bad)
    bad = loss.clone()
    bad[:, 1:][attention[:, 1:] == 0] = 1
    with pytest.raises(ValueError, match="padding position"):
        per_sample_grad_norms(model, ids, attention, bad)
    with pytest.raises(ValueError, match="not a parameter name"):
        per_sample_grad_norms(model, ids, attention, loss, params=["nope.weight"])
    frozen = MODELS["llama-tied"](torch.float32).requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        per_sample_grad_norms(frozen, ids, attention, loss)


def test_logits_callback_sees_the_same_forward():
    model = MODELS["qwen2-untied-bias"](torch.float64)
    ids, attention, loss = random_batch(14, batch=6)
    loss[4] = 0
    seen = {}
    per_sample_grad_norms(model, ids, attention, loss, micro_batch_size=4,
                          logits_callback=lambda rows, lg: seen.setdefault(rows.start, (rows, lg)))
    assert sorted(seen) == [0, 4]
    positions = (attention.cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        full = model(input_ids=ids, attention_mask=attention, position_ids=positions).logits
    for rows, logits in seen.values():
        assert not logits.requires_grad
        keep = logits.shape[1]
        assert torch.allclose(logits, full[rows, -keep:], rtol=1e-10, atol=1e-10)
