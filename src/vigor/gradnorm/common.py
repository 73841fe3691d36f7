"""Pieces shared by the engine, the reference and the benchmark: input checks, parameter
selection, the loss, and the model mode used while computing norms."""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Iterable, Iterator

import torch
import torch.nn.functional as F


def validate_batch(input_ids, attention_mask, loss_mask):
    """Check shapes and values; return the three tensors (masks as int64 0/1)."""
    if not isinstance(input_ids, torch.Tensor) or input_ids.dim() != 2:
        raise ValueError(f"input_ids must be a 2-D tensor [batch, seq], got {_describe(input_ids)}")
    if input_ids.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"input_ids must hold integer token ids, got dtype {input_ids.dtype}")
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    for name, t in (("attention_mask", attention_mask), ("loss_mask", loss_mask)):
        if not isinstance(t, torch.Tensor) or t.shape != input_ids.shape:
            raise ValueError(
                f"{name} must be a tensor of the same shape as input_ids {tuple(input_ids.shape)}, "
                f"got {_describe(t)}"
            )
        if t.numel() and not bool(((t == 0) | (t == 1)).all()):
            raise ValueError(f"{name} must hold only 0 and 1")
    attention_mask = attention_mask.long()
    loss_mask = loss_mask.long()
    if input_ids.shape[0] == 0:
        raise ValueError("the batch is empty (input_ids has 0 rows)")
    if bool(loss_mask[:, 0].any()):
        raise ValueError(
            "loss_mask[:, 0] must be 0: the first token has no preceding position to predict it"
        )
    if bool((loss_mask.bool() & ~attention_mask.bool()).any()):
        raise ValueError("loss_mask marks a target at a padding position (attention_mask == 0)")
    return input_ids, attention_mask, loss_mask


def _describe(x) -> str:
    if isinstance(x, torch.Tensor):
        return f"tensor of shape {tuple(x.shape)}"
    return type(x).__name__


def resolve_params(model: torch.nn.Module, params=None) -> list[tuple[str, torch.nn.Parameter]]:
    """The parameters whose gradient norm is taken, as (qualified name, parameter).

    Default: every parameter with requires_grad (for a PEFT model, its adapters). A tensor
    shared by several modules (tied embeddings) appears once, as `named_parameters` gives it.
    `params` may be parameters or their names.
    """
    named = list(model.named_parameters())
    if params is None:
        chosen = [(n, p) for n, p in named if p.requires_grad]
        if not chosen:
            raise ValueError("the model has no trainable parameters (no parameter has requires_grad=True)")
        return chosen
    by_id = {id(p): n for n, p in named}
    by_name = dict(named)
    chosen, seen = [], set()
    for item in params:
        if isinstance(item, str):
            if item not in by_name:
                raise ValueError(f"params: {item!r} is not a parameter name of the model")
            name, p = item, by_name[item]
        elif isinstance(item, torch.Tensor):
            if id(item) not in by_id:
                raise ValueError(f"params: a tensor of shape {tuple(item.shape)} is not a parameter of the model")
            name, p = by_id[id(item)], item
        else:
            raise ValueError(f"params: expected parameters or names, got {type(item).__name__}")
        if id(p) not in seen:
            seen.add(id(p))
            chosen.append((name, p))
    if not chosen:
        raise ValueError("params is empty")
    return chosen


def parameter_pattern(pattern: str) -> re.Pattern:
    """The compiled regex of a `grad_params` selection, or a one-line error naming it (callable
    before any model loads)."""
    if not isinstance(pattern, str) or not pattern:
        raise ValueError(f"grad_params: expected a non-empty regular expression, got {pattern!r}")
    try:
        return re.compile(pattern)
    except re.error as err:
        raise ValueError(f"grad_params: '{pattern}' is not a valid regular expression ({err})") from None


def select_parameters(model: torch.nn.Module, pattern: str) -> list[str]:
    """The names (as `named_parameters` gives them) of the trainable parameters any of whose names
    matches `pattern` (`re.search`). A weight shared by two modules answers to both names: in a
    model with tied embeddings, "lm_head" selects the shared matrix, and its norm is that of the
    whole tensor's gradient (embedding and head uses together). Pass the result as `params=`."""
    regex = parameter_pattern(pattern)
    trainable = {id(p): n for n, p in model.named_parameters() if p.requires_grad}
    chosen = {id(p) for n, p in model.named_parameters(remove_duplicate=False)
              if id(p) in trainable and regex.search(n)}
    if not chosen:
        names = list(trainable.values())
        examples = ", ".join(repr(n) for n in dict.fromkeys(names[:1] + names[-1:])) or "none are trainable"
        raise ValueError(f"grad_params: '{pattern}' matches no trainable parameter of the model (names look like "
                         f"{examples})")
    return [n for i, n in trainable.items() if i in chosen]


def masked_mean_nll(
    logits: torch.Tensor, input_ids: torch.Tensor, loss_mask: torch.Tensor, *, temperature: float = 1.0
) -> torch.Tensor:
    """Per-sample mean negative log-likelihood over target tokens, shape [B].

    `logits` [B, K, V] are the logits of the last K positions (K = T when the model returned
    all of them); position t - 1 predicts token t, so targets are tokens T-K+1 .. T-1.
    Computed in float32 (float64 for a float64 model). A sample with no target gets 0.
    """
    batch, seq = input_ids.shape
    keep = logits.shape[1]
    start = seq - keep + 1
    if bool(loss_mask[:, :start].any()):
        raise ValueError("loss_mask marks targets before the positions covered by the logits")
    compute_dtype = torch.promote_types(logits.dtype, torch.float32)
    scores = logits[:, :-1].to(compute_dtype)
    if temperature != 1.0:
        scores = scores / temperature
    targets = input_ids[:, start:]
    nll = F.cross_entropy(scores.flatten(0, 1), targets.flatten(), reduction="none").view_as(targets)
    mask = loss_mask[:, start:].bool()
    # where(), not nll * mask: a non-finite logit at an unused position must not leak in.
    total = torch.where(mask, nll, torch.zeros((), dtype=nll.dtype, device=nll.device)).sum(1)
    return total / mask.sum(1).clamp(min=1).to(compute_dtype)


def real_token_positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position ids that count real tokens only (cumsum of the mask - 1, 0 on leading padding),
    so a left-padded sample is computed exactly as it would be alone (learned absolute positions
    included)."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def _non_reentrant_checkpoint(function, *args, **kwargs):
    from torch.utils.checkpoint import checkpoint

    kwargs["use_reentrant"] = False
    return checkpoint(function, *args, **kwargs)


@contextlib.contextmanager
def model_mode_for_norms(model: torch.nn.Module, *, keep_checkpointing: bool) -> Iterator[None]:
    """Dropout off (the norm must be a deterministic function of the sample) and, when
    asked, gradient checkpointing kept on; every module's mode is restored afterwards.

    transformers only checkpoints a layer whose `training` flag is set, so with
    `keep_checkpointing` those layers alone stay in training mode, with any float
    `*dropout*` attribute of theirs set to 0 meanwhile. Reentrant checkpointing does not
    support `torch.autograd.grad`, so the layers use the non-reentrant variant meanwhile
    (same numbers, same memory).
    """
    modes = [(m, m.training) for m in model.modules()]
    patched: list[tuple[object, str, object]] = []
    try:
        model.eval()
        if keep_checkpointing:
            for module in model.modules():
                if getattr(module, "gradient_checkpointing", False) is True:
                    module.training = True
                    for attr, value in list(vars(module).items()):
                        if "dropout" in attr and isinstance(value, float) and value != 0.0:
                            patched.append((module, attr, value))
                            setattr(module, attr, 0.0)
                    func = getattr(module, "_gradient_checkpointing_func", None)
                    if func is not None:
                        patched.append((module, "_gradient_checkpointing_func", func))
                        kwargs = dict(getattr(func, "keywords", {}) or {})
                        kwargs.pop("use_reentrant", None)
                        module._gradient_checkpointing_func = functools.partial(
                            _non_reentrant_checkpoint, **kwargs
                        )
        yield
    finally:
        for obj, attr, value in reversed(patched):
            setattr(obj, attr, value)
        for module, mode in modes:
            module.training = mode


def iter_chunks(n: int, size: int | None) -> Iterable[slice]:
    size = n if not size or size <= 0 else size
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))
