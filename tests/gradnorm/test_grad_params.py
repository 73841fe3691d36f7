"""grad_params: the per-sample norm over the trainable parameters whose names match a regex,
by the engine, against the reference loop restricted to the same parameters; the forward
records no graph below the earliest selected layer; a regex that selects nothing is a one-line
error.

Tolerance: relative 1e-9 in float64 (fresh random inputs, padding on either side, mixed lengths).
"""

from __future__ import annotations

import re

import pytest
import torch

from tests.gradnorm.test_engine import VOCAB, lora_model, random_batch, rel_err
from vigor.gradnorm import GradNormEngine, per_sample_grad_norms, reference_grad_norms, select_parameters
from vigor.gradnorm.common import parameter_pattern
from vigor.tiny import tiny_causal_lm


def model_of(arch: str, seed: int):
    return tiny_causal_lm(arch, vocab_size=VOCAB, dtype=torch.float64, seed=seed, layers=3)


CASES = [
    ("llama", r"layers\.[12]\."),            # the last two blocks
    ("llama", r"\.mlp\."),                    # every MLP, no attention, no norms
    ("llama", r"lm_head"),                    # tied: the shared matrix, both of its uses
    ("llama", r"layers\.2\.input_layernorm|norm\.weight$"),
    ("qwen2", r"layers\.2\.|lm_head"),        # untied head with the last block
    ("qwen2", r"^lm_head\."),                 # untied head alone: nothing below the logits
    ("qwen2", r"self_attn\.[qkv]_proj\.bias"),
    ("gpt2", r"h\.2\.|ln_f"),                 # Conv1D and LayerNorm of the last block
    ("gpt2", r"wpe"),                         # learned positions: the first module, no saving
    ("gemma3", r"layers\.2\.(mlp|self_attn\.[qk]_norm)"),
]


@pytest.mark.parametrize("padding", ["left", "right"])
@pytest.mark.parametrize("arch, pattern", CASES, ids=[f"{a}:{p}" for a, p in CASES])
def test_grad_params_against_the_restricted_reference(arch, pattern, padding, fresh_seed):
    model = model_of(arch, fresh_seed % 1000)
    names = select_parameters(model, pattern)
    every_alias = {n for n, _ in model.named_parameters(remove_duplicate=False) if re.search(pattern, n)}
    canonical = {id(p): n for n, p in model.named_parameters()}
    assert set(names) == {canonical[id(model.get_parameter(n))] for n in every_alias}
    assert len(names) < len(canonical)
    ids, attention, loss = random_batch(fresh_seed, batch=6, padding=padding)
    ids = ids % model.config.vocab_size
    fast = per_sample_grad_norms(model, ids, attention, loss, params=names)
    slow = reference_grad_norms(model, ids, attention, loss, params=names)
    assert bool((slow > 0).all()), f"seed {fresh_seed}"
    assert rel_err(fast, slow) <= 1e-9, f"seed {fresh_seed}"


def test_tied_head_selects_the_shared_matrix():
    model = model_of("llama", 0)
    assert select_parameters(model, r"lm_head") == ["model.embed_tokens.weight"]


def record_requires_grad(modules):
    """Whether each module's output records a graph (a forward hook that returns None)."""
    seen = {}

    def watch(key):
        def hook(mod, args, out):
            seen[key] = (out[0] if isinstance(out, tuple) else out).requires_grad

        return hook

    return seen, [m.register_forward_hook(watch(key)) for key, m in modules.items()]


@pytest.mark.parametrize("pattern, first_recorded", [(r"layers\.2\.", 2), (r"layers\.1\.mlp\.", 1)])
def test_no_graph_below_the_earliest_selected_layer(pattern, first_recorded, fresh_seed):
    model = model_of("llama", fresh_seed % 1000)
    layers = model.model.layers
    watched = {"embed": model.model.embed_tokens, **{f"layer{i}": layer for i, layer in enumerate(layers)}}
    ids, attention, loss = random_batch(fresh_seed, padding="left")
    seen, handles = record_requires_grad(watched)
    per_sample_grad_norms(model, ids, attention, loss, params=select_parameters(model, pattern))
    for h in handles:
        h.remove()
    # Below the earliest selected layer nothing records a graph, so the backward cannot reach it.
    assert seen == {"embed": False, **{f"layer{i}": i >= first_recorded for i in range(len(layers))}}
    # The full norm's path is unchanged: everything records.
    seen, handles = record_requires_grad(watched)
    per_sample_grad_norms(model, ids, attention, loss)
    for h in handles:
        h.remove()
    assert all(seen.values()) and len(seen) == len(watched)


def test_subset_under_gradient_checkpointing_stays_exact(fresh_seed):
    model = model_of("llama", fresh_seed % 1000)
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    names = select_parameters(model, r"layers\.[12]\.")
    ids, attention, loss = random_batch(fresh_seed, padding="left")
    fast = per_sample_grad_norms(model, ids, attention, loss, params=names)
    slow = reference_grad_norms(model, ids, attention, loss, params=names)
    assert rel_err(fast, slow) <= 1e-9, f"seed {fresh_seed}"


def test_peft_adapters_by_regex(fresh_seed):
    model = lora_model(torch.float64)
    names = select_parameters(model, r"layers\.1\..*lora_B")
    assert names and all("lora_B" in n and ".layers.1." in n for n in names)
    ids, attention, loss = random_batch(fresh_seed, padding="right")
    fast = per_sample_grad_norms(model, ids, attention, loss, params=names)
    slow = reference_grad_norms(model, ids, attention, loss, params=names)
    assert rel_err(fast, slow) <= 1e-9, f"seed {fresh_seed}"
    with pytest.raises(ValueError, match=r"matches no trainable parameter"):
        select_parameters(model, r"embed_tokens")  # frozen under LoRA


def test_engine_reports_only_the_selected_parameters():
    model = model_of("qwen2", 1)
    names = select_parameters(model, r"layers\.2\.mlp")
    assert [n for n, _ in GradNormEngine(model, names).named_params] == names


@pytest.mark.parametrize("pattern, message", [
    (r"transformer\.h\.", r"^grad_params: 'transformer\\\.h\\\.' matches no trainable parameter of the model "
                          r"\(names look like 'model\.embed_tokens\.weight', 'model\.norm\.weight'\)$"),
    (r"layers\.(", r"^grad_params: 'layers\\\.\(' is not a valid regular expression \("),
    ("", r"^grad_params: expected a non-empty regular expression"),
])
def test_bad_pattern_is_a_one_line_error(pattern, message):
    model = model_of("llama", 0)
    with pytest.raises(ValueError, match=message) as info:
        select_parameters(model, pattern)
    assert "\n" not in str(info.value)
    if pattern != r"transformer\.h\.":  # a malformed regex is refused before any model is needed
        with pytest.raises(ValueError, match=message):
            parameter_pattern(pattern)
