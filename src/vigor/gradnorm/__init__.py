"""Exact per-sample gradient norms of the token-mean NLL: the engine behind the VIGOR reward."""

from vigor.gradnorm.reference import reference_grad_norms

# Temporary until the batched engine lands (same contract, same numbers).
per_sample_grad_norms = reference_grad_norms

__all__ = ["per_sample_grad_norms", "reference_grad_norms"]
