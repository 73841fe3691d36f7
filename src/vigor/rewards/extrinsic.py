"""Rewards that read only the text: the verifier, majority vote (TTRL) and the random control."""

from __future__ import annotations

import hashlib
from collections import Counter

import torch

from vigor.rewards.base import Reward, register_reward


@register_reward
class Accuracy(Reward):
    """1 if the completion's final answer equals the gold answer (math-verify equivalence), 0 if not,
    NaN when the prompt has no gold answer. Give it weight 0 to use it as a monitor only."""

    name = "accuracy"

    def __init__(self, *, timeout_s: float = 5.0):
        self.timeout_s = timeout_s

    def score(self, rollouts, *, model=None, stats=None):
        from vigor.evaluation import grade_math

        answers = rollouts.answers or [None] * len(rollouts)
        out = torch.full((len(rollouts),), torch.nan, dtype=torch.float64)
        for i, (text, gold) in enumerate(zip(rollouts.completions, answers)):
            if gold is not None and str(gold).strip():
                out[i] = float(grade_math(text, str(gold), timeout_s=self.timeout_s).correct)
        return out


def answer_key(answer: str | None) -> float:
    """An exact float64 id of an extracted answer (48-bit hash of the answer without spaces)."""
    if answer is None or not answer.strip():
        return float("nan")
    digest = hashlib.blake2b("".join(answer.split()).encode(), digest_size=6).digest()
    return float(int.from_bytes(digest, "big"))


@register_reward
class MajorityVote(Reward):
    """TTRL: 1 when the completion's extracted final answer equals its group's most common answer
    (ties: the one seen first), else 0; a completion without an answer gets 0.

    `score` hashes each extracted answer to a float id so the group is compared after the
    gather, with all its completions present whatever process produced them."""

    name = "majority_vote"

    def score(self, rollouts, *, model=None, stats=None):
        from vigor.evaluation import extract_answer

        return torch.tensor([answer_key(extract_answer(t)) for t in rollouts.completions], dtype=torch.float64)

    def shape(self, raw, view, group_size):
        out = torch.zeros_like(raw, dtype=torch.float64)
        for start in range(0, raw.numel(), group_size):
            keys = [k for k in raw[start: start + group_size].tolist() if k == k]
            if keys:
                winner = Counter(keys).most_common(1)[0][0]
                out[start: start + group_size] = (raw[start: start + group_size] == winner).double()
        return out

    def metrics(self, raw, view):
        return {"answered": (~torch.isnan(raw)).double().mean().item()}


@register_reward
class RandomReward(Reward):
    """Uniform [0, 1) noise, seeded by (seed, step, process): the spurious-reward control."""

    name = "random"

    def __init__(self, *, seed: int = 0):
        self.seed = seed

    def score(self, rollouts, *, model=None, stats=None):
        generator = torch.Generator().manual_seed(
            (self.seed * 1_000_003 + rollouts.step * 1_009 + rollouts.process_index) % (2**63))
        return torch.rand(len(rollouts), generator=generator, dtype=torch.float64)
