"""Turning raw rewards into ranks and GRPO advantages, one group of completions at a time.

Groups are consecutive blocks of `group_size` entries (TRL's layout: prompt i's G completions
sit at rows i*G .. i*G+G-1 of the batch gathered over all processes).
"""

from __future__ import annotations

import torch

SHAPINGS = ("rank", "rank_avg_ties", "zscore", "none")
ADVANTAGE_SCALES = ("group", "batch", "none")


def _grouped(values: torch.Tensor, group_size: int, name: str) -> torch.Tensor:
    if values.dim() != 1:
        raise ValueError(f"{name} must be a 1-D tensor, got shape {tuple(values.shape)}")
    if group_size < 2:
        raise ValueError(f"group_size must be >= 2 to rank within a group, got {group_size}")
    if values.numel() % group_size:
        raise ValueError(f"{name} has {values.numel()} entries, not a multiple of group_size={group_size}")
    return values.reshape(-1, group_size)


def rank_shape(raw: torch.Tensor, group_size: int, ties: str = "position") -> torch.Tensor:
    """Map each raw reward to its rank in its group, scaled to [-1, 1]: rank / (G - 1) * 2 - 1.

    The largest raw reward gets +1 and the smallest -1. `ties="position"` (the reference):
    rank = argsort(argsort(raw, stable), stable), so equal rewards keep their position order.
    `ties="average"`: equal rewards share the mean of the ranks they span,
    rank = #{smaller} + (#{equal} - 1) / 2.
    """
    groups = _grouped(raw, group_size, "raw").double()
    if not bool(torch.isfinite(groups).all()):
        raise ValueError("raw rewards must be finite to be ranked (replace missing ones first, see place_last)")
    if ties == "position":
        order = torch.argsort(groups, dim=1, stable=True)
        ranks = torch.argsort(order, dim=1, stable=True).double()
    elif ties == "average":
        smaller = (groups.unsqueeze(1) < groups.unsqueeze(2)).sum(2)  # [g, i, j]: raw[j] < raw[i]
        equal = (groups.unsqueeze(2) == groups.unsqueeze(1)).sum(2)
        ranks = smaller.double() + (equal.double() - 1) / 2
    else:
        raise ValueError(f"ties must be 'position' or 'average', got {ties!r}")
    shaped = ranks / (group_size - 1) * 2 - 1
    return shaped.reshape(raw.shape).to(raw.dtype if raw.is_floating_point() else torch.float32)


def group_advantages(shaped: torch.Tensor, group_size: int, eps: float = 1e-4, *,
                     scale: str = "group") -> torch.Tensor:
    """GRPO advantages: (r - group mean) / (std + eps), std unbiased (n - 1), as TRL and the reference.

    `scale="group"` divides by the group's std, `"batch"` by the std of the whole batch, `"none"`
    only subtracts the group mean (Dr. GRPO). NaN entries (rewards a function could not give)
    are left out of the mean and std and come back as NaN.
    """
    groups = _grouped(shaped, group_size, "shaped").double()
    valid = ~torch.isnan(groups)
    count = valid.sum(1, keepdim=True)
    mean = torch.where(valid, groups, 0.0).sum(1, keepdim=True) / count.clamp(min=1)
    centred = groups - mean
    if scale == "group":
        var = torch.where(valid, centred, 0.0).pow(2).sum(1, keepdim=True) / (count - 1).clamp(min=1)
        advantages = centred / (var.sqrt() + eps)
    elif scale == "batch":
        flat = groups[valid]
        std = flat.std() if flat.numel() > 1 else torch.zeros((), dtype=torch.float64)
        advantages = centred / (std + eps)
    elif scale == "none":
        advantages = centred
    else:
        raise ValueError(f"scale must be one of {ADVANTAGE_SCALES}, got {scale!r}")
    return advantages.reshape(shaped.shape).to(torch.promote_types(shaped.dtype, torch.float32))


def place_last(raw: torch.Tensor, last: torch.Tensor, group_size: int, gap: float = 1e-3) -> torch.Tensor:
    """Give every entry flagged in `last` the value min(unflagged in its group) - gap, so it ranks
    below all the others (the reference does this for completions with no target token).
    A group with no unflagged entry gets 0 everywhere. Computed in float64 so `gap` survives."""
    groups = _grouped(raw, group_size, "raw").double()
    flags = _grouped(last.bool(), group_size, "last")
    free = ~flags & torch.isfinite(groups)
    floor = torch.where(free, groups, torch.inf).min(1, keepdim=True).values
    floor = torch.where(torch.isfinite(floor), floor - gap, 0.0)
    out = torch.where(flags | ~torch.isfinite(groups), floor.expand_as(groups), groups)
    return out.reshape(raw.shape)


def shape_rewards(raw: torch.Tensor, group_size: int, shaping: str) -> torch.Tensor:
    """Apply one of SHAPINGS: 'rank' (ties by position), 'rank_avg_ties', 'zscore' (within the
    group, eps 1e-4), 'none' (raw unchanged)."""
    if shaping == "rank":
        return rank_shape(raw, group_size, ties="position")
    if shaping == "rank_avg_ties":
        return rank_shape(raw, group_size, ties="average")
    if shaping == "zscore":
        return group_advantages(raw, group_size)
    if shaping == "none":
        _grouped(raw, group_size, "raw")
        return raw.clone()
    raise ValueError(f"shaping must be one of {SHAPINGS}, got {shaping!r}")
