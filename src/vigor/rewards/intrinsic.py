"""Rewards computed from the policy itself: VIGOR and the intrinsic baselines it is compared with."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vigor.rewards.base import (TRUNCATED_POLICIES, GroupView, Reward, length_corrected, length_uncorrected,
                                ranked_last, register_reward)
from vigor.rewards.options import option
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
    summary = ("`-‖∇ mean-NLL‖·√T`; empty completions (nothing before the EOS) always rank last (the reference "
               "scores an EOS-only completion by its EOS gradient)")

    @dataclass(frozen=True)
    class Options:
        length_correction: bool = option(True, config_field="length_correction", help="multiply the norm by sqrt(T)")
        shaping: str = option("rank", choices=SHAPINGS, config_field="shaping", help="group shaping")
        truncated: str = option("keep", choices=TRUNCATED_POLICIES, config_field="truncated",
                                help="'last' ranks truncated completions last")
        micro_batch_size: int | None = option(None, config_field="grad_norm_micro_batch_size",
                                              help="completions per engine micro-batch (None = all)")
        temperature: float = option(1.0, config_field="reward_temperature", help="logit temperature")
        grad_params: str | None = option(None, help="regex: the norm over the trainable parameters whose names "
                                                    "match (re.search; None = all)")

        def __post_init__(self):
            # the regex's syntax now, at parse time; whether it matches a parameter at the first use
            # (and, for a local model folder, in `vigor train`'s preflight, before the weights load)
            if self.grad_params is not None:
                from vigor.gradnorm import parameter_pattern

                try:
                    parameter_pattern(self.grad_params)
                except ValueError as err:
                    raise ValueError(f"reward 'vigor': {err}") from None

    def grad_norms(self, rollouts, model, *, logits_callback=None) -> torch.Tensor:
        """||grad mean-NLL|| per completion from the engine (float64 [n]), over `grad_params`' parameters if set."""
        from vigor.gradnorm import per_sample_grad_norms, select_parameters

        params = None if self.grad_params is None else select_parameters(model, self.grad_params)
        return per_sample_grad_norms(model, rollouts.input_ids, rollouts.attention_mask, rollouts.loss_mask,
                                     params=params, micro_batch_size=self.micro_batch_size,
                                     temperature=self.temperature, logits_callback=logits_callback).double().cpu()

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
    """A reward read off the shared forward: the per-completion mean of one token statistic
    (`vigor.rewards.rollouts.STATISTICS`)."""

    needs = "logits"
    statistic = ""
    sign = 1.0

    def score(self, rollouts, *, model=None, stats=None):
        raw = self.sign * stats[self.statistic].double()
        raw[rollouts.completion_lengths == 0] = torch.nan
        return raw


@register_reward
class SelfCertainty(_TokenStatistic):
    """INTUITOR's self-certainty: the mean over T positions of logsumexp(z_j) - mean_v(z_j,v), which is
    KL(U || p_j) + log V (U uniform over the V-token vocabulary; the constant log V changes no rank).

    Which T positions j (option `positions`; prompt tokens 0..P-1, completion tokens P..P+T-1, EOS last):
    'paper'     j = P-1 .. P+T-2: the distributions that predict the completion's tokens, EOS included
                (the paper's formula, and the default);
    'intuitor'  j = P .. P+T-1: one later, as INTUITOR's released code scores them: the distribution
                before the first completion token is left out and the one after the EOS is counted.
    """
    name, statistic = "self_certainty", "self_certainty"
    summary = ("INTUITOR: mean over tokens of `logsumexp(z) - mean(z)`; `positions=paper` (default) scores the "
               "distributions that predict the completion's tokens, `positions=intuitor` those one later, as "
               "INTUITOR's released code (after the EOS, not before the first token)")

    @dataclass(frozen=True)
    class Options:
        positions: str = option("paper", choices=("paper", "intuitor"),
                                help="'paper': the distributions predicting the completion; 'intuitor': one later")

    def __init__(self, options=None, **given):
        super().__init__(options, **given)
        self.statistic = "self_certainty" if self.positions == "paper" else "self_certainty_intuitor"


@register_reward
class NegEntropy(_TokenStatistic):
    """RENT / entropy minimisation: minus the mean token entropy."""
    name, statistic, sign = "neg_entropy", "entropy", -1.0
    summary = "RENT / entropy minimisation: minus the mean token entropy"


@register_reward
class LogProb(_TokenStatistic):
    """Length-normalised log-likelihood of the completion (the likelihood-only control)."""
    name, statistic = "logprob", "logprob"
    summary = "length-normalised log-likelihood (does the gradient norm add anything beyond likelihood?)"


def check_grad_params(terms, model_path: str) -> None:
    """Before the weights load: each VIGOR term's `grad_params` regex matches a trainable parameter of the model in
    the local folder `model_path` (`check_parameter_patterns`)."""
    patterns = [t.options.grad_params for t in terms
                if t.reward_class is VigorReward and getattr(t.options, "grad_params", None) is not None]
    check_parameter_patterns(patterns, model_path, what="reward 'vigor'")


def check_parameter_patterns(patterns, model_path: str, *, what: str) -> None:
    """Each regex matches a parameter of the model in the local folder `model_path`, checked on the model built from
    its config on the meta device (no weights read, no memory); else the one-line ValueError of `select_parameters`,
    prefixed by `what`. A hub id, or a config transformers cannot build, is left to the check at the first use.
    (Under LoRA the trainable parameters are the adapters, whose names differ: callers skip this check then.)"""
    import os

    if not patterns or not os.path.isdir(model_path):
        return
    from transformers import AutoConfig, AutoModelForCausalLM

    from vigor.gradnorm import select_parameters

    try:
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(model_path))
    except Exception:  # noqa: BLE001 - an unusual model: its first use checks the regex
        return
    for pattern in patterns:
        try:
            select_parameters(model, pattern)
        except ValueError as err:
            raise ValueError(f"{what}: {err} in {model_path}") from None
