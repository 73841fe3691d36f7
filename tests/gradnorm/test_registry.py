"""The one rule table: a rule registered from outside the package by qualified name (its module
not imported at registration) is found and used, exactly; keys by class and by name are one
registration; the engine names no concrete rule class.

Tolerance: relative 1e-9 against the reference loop in float64 (fresh random inputs).
"""

from __future__ import annotations

import importlib
import re
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from tests.gradnorm.test_engine import VOCAB, random_batch, rel_err
from vigor.gradnorm import GradNormEngine, Rule, per_sample_grad_norms, reference_grad_norms, register_rule, unregister_rule
from vigor.gradnorm import registry, rules
from vigor.tiny import tiny_causal_lm

LAYER_FILE = '''
import torch


class Gate(torch.nn.Module):
    """y = x * sigmoid(s): a layer defined outside vigor."""

    def __init__(self, dim):
        super().__init__()
        self.s = torch.nn.Parameter(torch.randn(dim))

    def forward(self, x):
        return x * torch.sigmoid(self.s)
'''


class GateRule(Rule):
    """dL/ds = sigmoid'(s) * sum_t G_t * A_t per sample (sigmoid' = sigmoid (1 - sigmoid))."""

    name = "gate"

    def __init__(self):
        self.calls = 0

    def sq_norms(self, module, a, g, wanted, acc):
        self.calls += 1
        sig = torch.sigmoid(module.s.detach().to(acc))
        grad = (g.to(acc) * a.to(acc)).reshape(a.shape[0], -1, a.shape[-1]).sum(1) * sig * (1 - sig)
        return {"s": grad.pow(2).sum(1)}


@pytest.fixture
def outside_module(tmp_path: Path):
    name = f"vigor_outside_layers_{abs(hash(tmp_path)) % 10**8}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(LAYER_FILE))
    sys.path.insert(0, str(tmp_path))
    try:
        yield name
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop(name, None)


def test_rule_registered_by_qualified_name_from_outside_is_found_and_used(outside_module, fresh_seed):
    qualified = f"{outside_module}.Gate"
    rule = GateRule()
    register_rule(qualified, rule)  # the layer's module is not imported yet
    try:
        assert outside_module not in sys.modules
        gate_cls = importlib.import_module(outside_module).Gate
        model = tiny_causal_lm("llama", vocab_size=VOCAB, dtype=torch.float64, seed=fresh_seed % 1000)
        mlp = model.model.layers[0].mlp
        mlp.gate = gate_cls(model.config.hidden_size).double()
        inner = mlp.forward
        mlp.forward = lambda x: inner(mlp.gate(x))
        site = next(s for s in GradNormEngine(model).sites if isinstance(s.module, gate_cls))
        assert site.rule is rule
        ids, attention, loss = random_batch(fresh_seed, padding="left")
        fast = per_sample_grad_norms(model, ids, attention, loss)
        assert rule.calls == 1
        slow = reference_grad_norms(model, ids, attention, loss)
        assert rel_err(fast, slow) <= 1e-9, f"seed {fresh_seed}"
        # Without the rule the generic per-sample rule covers it, exactly too: the rule was used.
        unregister_rule(qualified)
        other = next(s for s in GradNormEngine(model).sites if isinstance(s.module, gate_cls))
        assert other.rule.name == "per-sample vjp"
    finally:
        unregister_rule(qualified)


def test_class_and_qualified_name_are_one_registration():
    class Local(torch.nn.Linear):
        pass

    builtins = list(registry.registered_rules())
    first, second = rules.LinearRule(), rules.LinearRule()
    register_rule(Local, first)
    register_rule(registry.qualified_name(Local), second)  # replaces the class's entry
    try:
        assert list(registry.registered_rules()) == [registry.qualified_name(Local), *builtins]
        assert registry.find_rule(Local(2, 2)) is second
    finally:
        unregister_rule(Local)  # removes the name's entry too
    assert list(registry.registered_rules()) == builtins


def test_builtin_classes_by_name_and_the_roles_they_declare():
    from transformers.models.llama.modeling_llama import LlamaRMSNorm
    from transformers.pytorch_utils import Conv1D

    assert isinstance(registry.find_rule(LlamaRMSNorm(4)), rules.RMSNormRule)
    assert registry.find_rule(Conv1D(3, 2)).tie_role == "head"
    assert registry.find_rule(torch.nn.Embedding(5, 2)).tie_role == "embedding"

    class OwnForward(torch.nn.Embedding):
        def forward(self, ids):
            return super().forward(ids + 1)

    assert registry.find_rule(OwnForward(6, 2)).taps_lookups
    assert not registry.find_rule(torch.nn.Embedding(5, 2)).taps_lookups
    assert registry.find_rule(torch.nn.GroupNorm(1, 2)).single_input


@pytest.mark.parametrize("bad", ["LlamaRMSNorm", "a..b", "pkg.mod.Class name"])
def test_bad_qualified_name_is_a_one_line_error(bad):
    with pytest.raises(ValueError, match=r"^register_rule: .* is not a qualified class name") as info:
        register_rule(bad, rules.LinearRule())
    assert "\n" not in str(info.value)


def test_engine_names_no_concrete_rule_class():
    source = (Path(__file__).parents[2] / "src/vigor/gradnorm/engine.py").read_text()
    named = {n for n in re.findall(r"\b\w+Rule\b|\bLookupCapture\b|\bSampleInteraction\b", source)}
    assert named == set(), named
