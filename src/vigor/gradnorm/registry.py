"""The one table of gradient-norm rules: which `Rule` accounts for the parameters a module owns
directly, and which modules the engine refuses because samples interact in them.

The table maps keys to rules in lookup order: the newest registration first, the built-in
rules last. A key is a module class, or a class's qualified name "package.module.QualName",
matched by name against the classes of a module's MRO, so that the model code need not be
imported to register or look it up (the transformers RMSNorm classes, Conv1D, Gemma 3's scaled
embedding and the sample-interacting modules are keyed so). An entry applies to a module whose
class is the key's, or a subclass that keeps the key's forward; to a subclass with a forward of
its own, the rule's `for_own_forward(module)` answers (by default: the entry does not apply; the
embedding rule answers with its lookup-tapping variant, a `SampleInteraction` with itself).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from torch import nn

from vigor.gradnorm.rules import (
    GENERIC,
    EmbeddingRule,
    LayerNormRule,
    LinearRule,
    RMSNormRule,
    Rule,
    SampleInteraction,
    UnsupportedModuleError,
)

_QUALIFIED = re.compile(r"^\w+(\.[\w<>]+)+$")


def qualified_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _same_key(a, b) -> bool:
    if isinstance(a, type) and isinstance(b, type):
        return a is b
    name = lambda k: qualified_name(k) if isinstance(k, type) else k  # noqa: E731
    return name(a) == name(b)


class RuleRegistry:
    """Keys (classes or qualified names) to rules, in lookup order."""

    def __init__(self, entries: dict | None = None):
        self._entries: dict = dict(entries or {})

    def register(self, key, rule: Rule) -> None:
        """Put `rule` first for `key`, replacing an earlier registration of the same class (by
        the class or by its qualified name)."""
        self._entries = {key: rule, **{k: r for k, r in self._entries.items() if not _same_key(k, key)}}

    def unregister(self, key) -> None:
        self._entries = {k: r for k, r in self._entries.items() if not _same_key(k, key)}

    def entries(self) -> dict:
        return dict(self._entries)

    def matching(self, module: nn.Module) -> Iterator[Rule]:
        """The rule of each entry that applies to `module`, in lookup order."""
        by_name = {qualified_name(c): c for c in type(module).__mro__}
        for key, rule in self._entries.items():
            cls = key if isinstance(key, type) else by_name.get(key)
            if cls is None or not isinstance(module, cls):
                continue
            if type(module) is cls or type(module).forward is cls.forward:
                yield rule
            else:
                own = rule.for_own_forward(module)
                if own is not None:
                    yield own

    def find(self, module: nn.Module) -> Rule:
        rule = next(self.matching(module), GENERIC)
        problem = rule.check(module)
        if problem is None:
            return rule
        if rule.falls_back_to_generic:
            return GENERIC
        raise UnsupportedModuleError(f"{type(module).__name__}: {problem}")

    def interaction(self, module: nn.Module) -> str | None:
        for rule in self.matching(module):
            problem = rule.interaction(module)
            if problem:
                return problem
        return None


def _batchnorm_problem(module) -> str | None:
    if module.track_running_stats and module.running_mean is not None:
        return None  # eval mode (the engine's) normalises with the running statistics
    return "normalises with batch statistics (track_running_stats=False), so samples interact"


def _moe_capacity(module) -> str:
    return "routes tokens to experts with a capacity limit: one sample's tokens can displace another's"


# The RMSNorm classes the closed form applies to (each still probed by the rule's `check`).
RMSNORM_CLASSES = tuple(
    f"transformers.models.{family}.modeling_{family}.{name}"
    for family, name in (
        ("llama", "LlamaRMSNorm"), ("qwen2", "Qwen2RMSNorm"), ("qwen3", "Qwen3RMSNorm"),
        ("mistral", "MistralRMSNorm"), ("phi3", "Phi3RMSNorm"), ("olmo2", "Olmo2RMSNorm"),
        ("gemma", "GemmaRMSNorm"), ("gemma2", "Gemma2RMSNorm"), ("gemma3", "Gemma3RMSNorm"),
    )
)


def _builtin_entries() -> dict:
    rmsnorm = RMSNormRule()
    entries: dict = {
        # before nn.Embedding's entry, which would otherwise answer for this subclass's own forward
        "transformers.models.gemma3.modeling_gemma3.Gemma3TextScaledWordEmbedding":
            EmbeddingRule(scale_attr="embed_scale"),
        nn.Linear: LinearRule(),
        "transformers.pytorch_utils.Conv1D": LinearRule(),
        nn.Embedding: EmbeddingRule(),
        nn.LayerNorm: LayerNormRule(),
    }
    if hasattr(nn, "RMSNorm"):
        entries[nn.RMSNorm] = rmsnorm
    entries.update({name: rmsnorm for name in RMSNORM_CLASSES})
    # Modules in which samples interact: refused wherever they appear in the model.
    entries.update({
        "torch.nn.modules.batchnorm._BatchNorm": SampleInteraction(_batchnorm_problem),
        "torch.nn.modules.batchnorm.SyncBatchNorm": SampleInteraction(
            lambda m: "synchronises batch statistics across samples and processes"),
        "transformers.models.switch_transformers.modeling_switch_transformers.SwitchTransformersTop1Router":
            SampleInteraction(_moe_capacity),
        "transformers.models.nllb_moe.modeling_nllb_moe.NllbMoeTop2Router": SampleInteraction(_moe_capacity),
    })
    return entries


RULES = RuleRegistry(_builtin_entries())


def register_rule(module_class, rule: Rule | None = None):
    """Register the rule for `module_class` (a class, or its qualified name "pkg.module.Class",
    so that the module need not be imported), applying to it and to its subclasses that keep its
    forward:

        @register_rule(MyNorm)                      # or @register_rule("my_pkg.layers.MyNorm")
        class MyNormRule(Rule):
            def sq_norms(self, module, a, g, wanted, acc): ...

    Used as a decorator on a `Rule` subclass (instantiated without arguments) or called as
    `register_rule(MyNorm, MyNormRule(...))`. A later registration replaces an earlier one for
    the same class and is looked up first: before every earlier registration (the newest, not the
    most specific class, wins when several match) and the built-in rules."""
    if isinstance(module_class, str):
        if not _QUALIFIED.match(module_class):
            raise ValueError(f"register_rule: {module_class!r} is not a qualified class name like 'pkg.module.Class'")
    elif not isinstance(module_class, type) or not issubclass(module_class, nn.Module):
        raise TypeError(f"register_rule: expected an nn.Module subclass or its qualified name, got {module_class!r}")

    def add(item):
        instance = item() if isinstance(item, type) else item
        if not isinstance(instance, Rule):
            label = module_class if isinstance(module_class, str) else module_class.__name__
            raise TypeError(f"register_rule({label}): expected a Rule, got {item!r}")
        RULES.register(module_class, instance)
        return item

    return add if rule is None else add(rule)


def unregister_rule(module_class) -> None:
    """Remove the rule registered for exactly this class (by the class or its qualified name;
    built-in ones included)."""
    RULES.unregister(module_class)


def registered_rules() -> dict:
    """The registry, key (class or qualified name) -> rule, in lookup order (a copy)."""
    return RULES.entries()


def find_rule(module: nn.Module) -> Rule:
    """The rule for a module that owns selected parameters: the first entry that applies (see
    the module docstring), else the generic per-sample rule. Raises `UnsupportedModuleError` if
    the rule's `check` refuses the module (unless the rule falls back to the generic one)."""
    return RULES.find(module)


def sample_interaction(module: nn.Module) -> str | None:
    """Why samples interact in this module's forward (any applicable entry says so), or None."""
    return RULES.interaction(module)
