"""Exact per-sample gradient norms of the token-mean NLL: the engine behind the VIGOR reward.

    per_sample_grad_norms(model, input_ids, attention_mask, loss_mask, *, params=None,
                          micro_batch_size=None) -> Tensor[B]   # one batched pass
    reference_grad_norms(model, input_ids, attention_mask, loss_mask, *, params=None)
                                                                -> Tensor[B]   # slow loop
    per_sample_grad_norms(..., params=select_parameters(model, "lm_head|norm"))  # grad_params
    @register_rule(MyLayer)                                     # add a layer type (docs/gradnorm.md)
    class MyLayerRule(Rule): ...

Names are resolved lazily (PEP 562) so that `vigor --help` does not import torch.
"""

import importlib

_EXPORTS = {
    "EngineProfile": "vigor.gradnorm.engine",
    "GradNormEngine": "vigor.gradnorm.engine",
    "Rule": "vigor.gradnorm.rules",
    "register_rule": "vigor.gradnorm.registry",
    "registered_rules": "vigor.gradnorm.registry",
    "unregister_rule": "vigor.gradnorm.registry",
    "GradNormResult": "vigor.gradnorm.engine",
    "UnsupportedParameterError": "vigor.gradnorm.engine",
    "per_sample_grad_norm_breakdown": "vigor.gradnorm.engine",
    "per_sample_grad_norms": "vigor.gradnorm.engine",
    "reference_grad_norms": "vigor.gradnorm.reference",
    "select_parameters": "vigor.gradnorm.common",
    "parameter_pattern": "vigor.gradnorm.common",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'vigor.gradnorm' has no attribute {name!r}")
