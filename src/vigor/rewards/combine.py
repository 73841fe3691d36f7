"""Several rewards with weights: one scoring pass, then per-reward shaping and GRPO advantages.

Hybrid rewards follow the reference: each reward gets its usual GRPO advantage within the group,
and the policy's advantage is the weighted sum  A = sum_k w_k * A_k  (so a verifier with a
non-zero weight adds its advantage to VIGOR's; weight 0 is a pure monitor). This differs from
TRL's default sum-the-rewards-then-normalise, which would let the scale of one reward swamp
another's ranks.
"""

from __future__ import annotations

import torch

from vigor.rewards.base import GroupView, Reward
from vigor.rewards.rollouts import STATISTICS, Rollouts, StatisticsCollector, token_statistics
from vigor.rewards.spec import RewardTerm, check_distinct_names, parse_rewards


class RewardSet:
    def __init__(self, rewards: list[Reward], weights: list[float], *, statistics_temperature: float = 1.0,
                 micro_batch_size: int | None = None):
        if len(rewards) != len(weights):
            raise ValueError(f"{len(rewards)} rewards but {len(weights)} weights")
        check_distinct_names([r.name for r in rewards])
        self.rewards, self.weights = rewards, [float(w) for w in weights]
        self.statistics_temperature, self.micro_batch_size = statistics_temperature, micro_batch_size
        self.last_statistics: dict = {}  # the token statistics (and norms) of the last `score`

    @classmethod
    def from_terms(cls, terms: tuple[RewardTerm, ...], **kwargs) -> RewardSet:
        """The rewards of already parsed and validated terms (`vigor.rewards.spec.parse_rewards`)."""
        return cls([t.build() for t in terms], [t.weight for t in terms], **kwargs)

    @classmethod
    def from_spec(cls, spec, options: dict[str, dict] | None = None, *, config=None, **kwargs) -> RewardSet:
        """Parse `spec` (see `parse_rewards`, which `options` and `config` are passed to) and build it."""
        return cls.from_terms(parse_rewards(spec, config, overrides=options), **kwargs)

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
        extra = tuple(sorted({r.statistic for r in self.rewards if r.needs == "logits"
                              and getattr(r, "statistic", None) not in (None, *STATISTICS)}))
        stats: dict = {}
        wanted = "logits" in needs or (statistics and "gradients" in needs)
        collect = StatisticsCollector(rollouts, self.statistics_temperature, extra) if wanted else None
        for r in self.rewards:
            if r.needs == "gradients":
                stats[r.name] = r.grad_norms(rollouts, model, logits_callback=collect)
                if collect is not None:
                    stats.update(collect.means())
                    collect = None
        if collect is not None:
            stats.update(token_statistics(model, rollouts, temperature=self.statistics_temperature,
                                          micro_batch_size=self.micro_batch_size, extra=extra))
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
