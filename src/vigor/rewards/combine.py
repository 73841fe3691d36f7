"""Several rewards with weights: one scoring pass, then per-reward shaping and GRPO advantages.

Hybrid rewards follow the reference: each reward gets its usual GRPO advantage within the group,
and the policy's advantage is the weighted sum  A = sum_k w_k * A_k  (so a verifier with a
non-zero weight adds its advantage to VIGOR's; weight 0 is a pure monitor). This differs from
TRL's default sum-the-rewards-then-normalise, which would let the scale of one reward swamp
another's ranks.
"""

from __future__ import annotations

import math

import torch

from vigor.rewards.base import REWARDS, GroupView, Reward, make_reward
from vigor.rewards.rollouts import Rollouts, StatisticsCollector, token_statistics


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def parse_reward_spec(spec: str | list) -> list[tuple[str, float]]:
    """'vigor' / 'vigor,accuracy:0' / ['vigor', 'my_rewards.py:fmt:0.5'] -> [(reward, weight), ...].

    A reward is a registered name or a TRL reward function, 'path.py:function' or
    'package.module:function'; the weight (1 by default) is a last ':number'."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    out = []
    for item in items:
        parts = str(item).strip().split(":")
        weight = parts.pop() if len(parts) > 1 and (_is_number(parts[-1]) or parts[0] in REWARDS) else None
        target = ":".join(parts)
        if not parts[0] or len(parts) > 2 or (len(parts) == 2 and not parts[1]):
            raise ValueError(f"reward {str(item).strip()!r}: expected NAME[:WEIGHT], path.py:function[:WEIGHT] "
                             f"or package.module:function[:WEIGHT]")
        if weight is not None and not _is_number(weight):
            raise ValueError(f"reward {target!r}: weight {weight!r} is not a number")
        value = float(weight) if weight is not None else 1.0
        if not math.isfinite(value):
            raise ValueError(f"reward {target!r}: weight {weight!r} is not finite")
        out.append((target, value))
    if not out:
        raise ValueError("no reward given")
    return out


class RewardSet:
    def __init__(self, rewards: list[Reward], weights: list[float], *, statistics_temperature: float = 1.0,
                 micro_batch_size: int | None = None):
        if len(rewards) != len(weights):
            raise ValueError(f"{len(rewards)} rewards but {len(weights)} weights")
        names = [r.name for r in rewards]
        if len(set(names)) != len(names):
            raise ValueError(f"a reward is listed twice (TRL reward functions are named by their __name__): {names}")
        self.rewards, self.weights = rewards, [float(w) for w in weights]
        self.statistics_temperature, self.micro_batch_size = statistics_temperature, micro_batch_size
        self.last_statistics: dict = {}  # the token statistics (and norms) of the last `score`

    @classmethod
    def from_spec(cls, spec, options: dict[str, dict] | None = None, **kwargs) -> RewardSet:
        pairs = parse_reward_spec(spec)
        options = options or {}
        return cls([make_reward(n, **options.get(n, {})) for n, _ in pairs], [w for _, w in pairs], **kwargs)

    @property
    def names(self) -> list[str]:
        return [r.name for r in self.rewards]

    def score(self, rollouts: Rollouts, model=None, *, statistics: bool = False) -> torch.Tensor:
        """Raw rewards of the local completions, float64 [n, R]. One forward serves every
        model-based reward: with a 'gradients' reward (VIGOR) the engine's forward also yields
        the token statistics (through its `logits_callback`); otherwise one no-grad forward does.
        `statistics`: collect the token statistics from the engine's forward even when no reward reads
        them (the premise monitor does). What was computed is kept in `self.last_statistics`."""
        needs = {r.needs for r in self.rewards}
        stats: dict = {}
        wanted = "logits" in needs or (statistics and "gradients" in needs)
        collect = StatisticsCollector(rollouts, self.statistics_temperature) if wanted else None
        for r in self.rewards:
            if r.needs == "gradients":
                stats[r.name] = r.grad_norms(rollouts, model, logits_callback=collect)
                if collect is not None:
                    stats.update(collect.means())
                    collect = None
        if collect is not None:
            stats.update(token_statistics(model, rollouts, temperature=self.statistics_temperature,
                                          micro_batch_size=self.micro_batch_size))
        self.last_statistics = stats
        columns = [r.score(rollouts, model=model, stats=stats).double().cpu() for r in self.rewards]
        return torch.stack(columns, dim=1)

    def advantages(self, raw: torch.Tensor, view: GroupView, group_size: int, *, scale: str = "group"):
        """(shaped [N, R], per-reward advantages [N, R]) for the gathered raw rewards."""
        from vigor.rewards.shaping import group_advantages

        shaped = torch.stack([r.shape(raw[:, k], view, group_size).double()
                              for k, r in enumerate(self.rewards)], dim=1)
        advantages = torch.stack([group_advantages(shaped[:, k], group_size, scale=scale).double()
                                  for k in range(len(self.rewards))], dim=1)
        return shaped, advantages

    def combined_advantage(self, advantages: torch.Tensor) -> torch.Tensor:
        """sum_k w_k A_k, a reward that did not apply (NaN) contributing 0, and 0 where none applied
        (TRL's "unscorable" completion: no learning signal)."""
        weights = torch.tensor(self.weights, dtype=advantages.dtype)
        return torch.nan_to_num(advantages, nan=0.0) @ weights

    def reported(self, raw: torch.Tensor, shaped: torch.Tensor) -> torch.Tensor:
        """[N, R] the value of each reward as a user reads it (`Reward.reported`: the raw reward, or
        majority vote's 0/1)."""
        return torch.stack([r.reported(raw[:, k], shaped[:, k]).double() for k, r in enumerate(self.rewards)], dim=1)

    def weighted_reward(self, reported: torch.Tensor) -> torch.Tensor:
        """[N] sum_k w_k r_k over the rewards that apply (TRL's `reward`), NaN where none applies."""
        weights = torch.tensor(self.weights, dtype=reported.dtype)
        out = (reported * weights).nansum(dim=1)
        out[torch.isnan(reported).all(dim=1)] = torch.nan
        return out
