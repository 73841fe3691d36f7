"""Exact per-sample gradient norms of the token-mean NLL: the engine behind the VIGOR reward.

    per_sample_grad_norms(model, input_ids, attention_mask, loss_mask, *, params=None,
                          micro_batch_size=None) -> Tensor[B]   # one batched pass
    reference_grad_norms(model, input_ids, attention_mask, loss_mask, *, params=None)
                                                                -> Tensor[B]   # slow loop
"""

from vigor.gradnorm.engine import (
    GradNormEngine,
    GradNormResult,
    UnsupportedParameterError,
    per_sample_grad_norm_breakdown,
    per_sample_grad_norms,
)
from vigor.gradnorm.reference import reference_grad_norms

__all__ = [
    "GradNormEngine",
    "GradNormResult",
    "UnsupportedParameterError",
    "per_sample_grad_norm_breakdown",
    "per_sample_grad_norms",
    "reference_grad_norms",
]
