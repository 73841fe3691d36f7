"""Rewards computed from the policy itself: VIGOR and the intrinsic baselines it is compared with."""

from __future__ import annotations

import torch

from vigor.rewards.base import (TRUNCATED_POLICIES, GroupView, Reward, length_corrected, length_uncorrected,
                                ranked_last, register_reward)
from vigor.rewards.shaping import SHAPINGS, place_last, shape_rewards

__all__ = ["TRUNCATED_POLICIES", "VigorReward", "SelfCertainty", "NegEntropy", "LogProb"]


@register_reward
class VigorReward(Reward):
    """raw = -||grad_theta mean-NLL(completion | prompt)|| * sqrt(T)  (T = completion tokens incl. EOS).

    Smaller corrected norm = better. Shaping ('rank' by default) happens on whole groups after
    the gather; empty completions (nothing before the EOS) always rank last (min of the group's
    others - 1e-3), truncated ones too when `truncated='last'`. The reference places only completions
    with no target token at all there; it scores an EOS-only completion (T = 1) by its EOS gradient.
    """

    name = "vigor"
    needs = "gradients"

    def __init__(self, *, length_correction: bool = True, shaping: str = "rank", truncated: str = "keep",
                 micro_batch_size: int | None = None, temperature: float = 1.0):
        if shaping not in SHAPINGS:
            raise ValueError(f"vigor shaping must be one of {SHAPINGS}, got {shaping!r}")
        if truncated not in TRUNCATED_POLICIES:
            raise ValueError(f"vigor truncated must be one of {TRUNCATED_POLICIES}, got {truncated!r}")
        self.length_correction, self.shaping, self.truncated = length_correction, shaping, truncated
        self.micro_batch_size, self.temperature = micro_batch_size, temperature

    def grad_norms(self, rollouts, model, *, logits_callback=None) -> torch.Tensor:
        """||grad mean-NLL|| per completion from the engine (float64 [n])."""
        from vigor.gradnorm import per_sample_grad_norms

        return per_sample_grad_norms(model, rollouts.input_ids, rollouts.attention_mask, rollouts.loss_mask,
                                     micro_batch_size=self.micro_batch_size, temperature=self.temperature,
                                     logits_callback=logits_callback).double().cpu()

    def score(self, rollouts, *, model=None, stats=None):
        # RewardSet.score runs the engine once (sharing its forward); alone, compute here.
        norms = stats[self.name] if stats and self.name in stats else self.grad_norms(rollouts, model)
        if self.length_correction:
            norms = length_corrected(norms, rollouts.completion_lengths.double())
        raw = -norms.clone()
        raw[rollouts.empty] = torch.nan  # no meaningful norm: placed last by `shape`
        return raw

    def shape(self, raw, view, group_size):
        return shape_rewards(place_last(raw, ranked_last(view, self.truncated), group_size), group_size,
                             self.shaping)

    def metrics(self, raw, view: GroupView):
        """Statistics of the positive norms, raw ||g|| and corrected ||g|| sqrt(T), over the non-empty completions."""
        out = {}
        valid = ~torch.isnan(raw)
        if not bool(valid.any()):
            return out
        lengths, given = view.lengths[valid].double(), -raw[valid]
        norm = length_uncorrected(given, lengths) if self.length_correction else given
        for key, values in (("grad_norm", norm), ("grad_norm_corrected", length_corrected(norm, lengths))):
            out[self.metric_key(f"{key}_mean")] = values.mean().item()
            out[self.metric_key(f"{key}_std")] = values.std().item() if values.numel() > 1 else 0.0
            out[self.metric_key(f"{key}_min")] = values.min().item()
            out[self.metric_key(f"{key}_max")] = values.max().item()
        return out


class _TokenStatistic(Reward):
    """A reward read off the shared forward: the per-completion mean of one token statistic."""

    needs = "logits"
    statistic = ""
    sign = 1.0

    def score(self, rollouts, *, model=None, stats=None):
        raw = self.sign * stats[self.statistic].double()
        raw[rollouts.completion_lengths == 0] = torch.nan
        return raw


@register_reward
class SelfCertainty(_TokenStatistic):
    """INTUITOR: mean over completion tokens of logsumexp(logits) - mean(logits)."""
    name, statistic = "self_certainty", "self_certainty"


@register_reward
class NegEntropy(_TokenStatistic):
    """RENT / entropy minimisation: minus the mean token entropy."""
    name, statistic, sign = "neg_entropy", "entropy", -1.0


@register_reward
class LogProb(_TokenStatistic):
    """Length-normalised log-likelihood of the completion (the likelihood-only control)."""
    name, statistic = "logprob", "logprob"
