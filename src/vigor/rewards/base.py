"""The reward interface and its registry (one small class per reward, Opacus-style).

A reward scores the completions of the local process (`score`, which may use the policy), then,
once the raw scores of every process are gathered so that whole groups are present, turns
them into the values whose group advantage trains the policy (`shape`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from vigor.rewards.rollouts import Rollouts


@dataclass
class GroupView:
    """Per-completion facts of the whole gathered batch, next to the raw rewards."""
    lengths: torch.Tensor    # [N] T, EOS included
    truncated: torch.Tensor  # [N] bool
    empty: torch.Tensor      # [N] bool


class Reward:
    """Base class. `needs` says what `score` reads: 'text' (decoded completions and columns),
    'logits' (the per-token statistics of one shared no-grad forward), or 'gradients' (the policy)."""

    name: ClassVar[str] = ""
    needs: ClassVar[str] = "text"

    def score(self, rollouts: Rollouts, *, model=None, stats: dict | None = None) -> torch.Tensor:
        """Raw reward per local completion, float64 [n]; NaN where the reward does not apply."""
        raise NotImplementedError

    def shape(self, raw: torch.Tensor, view: GroupView, group_size: int) -> torch.Tensor:
        """Values whose GRPO advantage is used; default: the raw rewards."""
        return raw

    def metrics(self, raw: torch.Tensor, view: GroupView) -> dict[str, float]:
        """Scalars logged every step under rewards/<name>/..."""
        valid = raw[~torch.isnan(raw)].double()
        if valid.numel() == 0:
            return {}
        return {"raw_mean": valid.mean().item(),
                "raw_std": valid.std().item() if valid.numel() > 1 else 0.0}


REWARDS: dict[str, type[Reward]] = {}


def register_reward(cls: type[Reward]) -> type[Reward]:
    """Class decorator: make `cls` available by `cls.name` to configs and the command line."""
    if not cls.name or cls.name in REWARDS:
        raise ValueError(f"reward name {cls.name!r} is empty or already registered")
    REWARDS[cls.name] = cls
    return cls


def make_reward(name: str, **options) -> Reward:
    if name not in REWARDS:
        raise ValueError(f"unknown reward {name!r}; choose from {sorted(REWARDS)}")
    return REWARDS[name](**options)
