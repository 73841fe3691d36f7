"""The slow, obviously-right per-sample gradient norm (the reference loop).

For each sample on its own: strip its padding, run a batch-size-1 forward, take the mean
negative log-likelihood over its target tokens and `torch.autograd.grad` with respect to
every selected parameter, then sum the squares (in float64) and take the square root.
This is what the public VIGOR implementation does, except that it accumulates in bf16.
The fast engine (`engine.py`) must reproduce these numbers.
"""

from __future__ import annotations

import torch

from vigor.gradnorm.common import (
    masked_mean_nll,
    model_mode_for_norms,
    resolve_params,
    validate_batch,
)


def reference_grad_norms(
    model: torch.nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    loss_mask: torch.Tensor,
    *,
    params=None,
    temperature: float = 1.0,
) -> torch.Tensor:
    """Per-sample L2 norm of grad(mean NLL over targets), one sample at a time.

    Returns a float32 tensor of shape [B] (float64 when the model computes in float64).
    A sample without targets gets 0.
    """
    input_ids, attention_mask, loss_mask = validate_batch(input_ids, attention_mask, loss_mask)
    named = resolve_params(model, params)
    tensors = [p for _, p in named]
    out_dtype = torch.float64 if tensors[0].dtype == torch.float64 else torch.float32
    norms = torch.zeros(input_ids.shape[0], dtype=torch.float64)
    with model_mode_for_norms(model, keep_checkpointing=False), torch.enable_grad():
        for b in range(input_ids.shape[0]):
            keep = attention_mask[b].bool()
            if not bool(loss_mask[b].any()):
                continue
            ids = input_ids[b, keep].unsqueeze(0)
            mask = loss_mask[b, keep].unsqueeze(0)
            logits = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
            loss = masked_mean_nll(logits, ids, mask, temperature=temperature)[0]
            grads = torch.autograd.grad(loss, tensors, allow_unused=True)
            norms[b] = sum(
                (g.detach().double().pow(2).sum() for g in grads if g is not None),
                torch.zeros((), dtype=torch.float64, device=ids.device),
            ).cpu()
    return norms.sqrt().to(out_dtype).to(input_ids.device)
