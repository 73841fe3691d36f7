"""Rewards that read only the text: the verifier, majority vote (TTRL) and the random control."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass

import torch

from vigor.rewards.base import Reward, register_reward
from vigor.rewards.options import option


@register_reward
class Accuracy(Reward):
    """The verifier: 1 if the completion is right, 0 if not, NaN when there is no gold.

    Each completion is graded by the grader of its gold's kind (`vigor.evaluation.graders`, the
    dispatch `vigor eval` uses): math (gold 'answer'): the extracted final answer is equivalent to
    the gold (math-verify, in time-limited worker processes); code (gold 'tests'): the program built
    from the completion passes its tests in `vigor.sandbox` (never in this process); CRUXEval and
    IFEval rows of a registered benchmark: by execution / by the instructions' checkers. Sandboxed
    kinds get `code_timeout_s`, the others `timeout_s`. Give it weight 0 to use it as a monitor only."""

    name = "accuracy"
    uses_gold = True
    summary = "verifier: math by equivalence (math-verify), code by its tests in the sandbox"

    @dataclass(frozen=True)
    class Options:
        timeout_s: float = option(5.0, config_field="accuracy_timeout_s", help="time limit of one answer check")
        code_timeout_s: float = option(10.0, help="time limit of one program's tests")

    def score(self, rollouts, *, model=None, stats=None):
        from vigor.evaluation.graders import grader_of

        golds = rollouts.golds or [None] * len(rollouts)
        by_kind: dict[str, list[int]] = {}
        for i, gold in enumerate(golds):
            if gold is not None and gold.kind is not None:
                by_kind.setdefault(gold.kind, []).append(i)
        out = torch.full((len(rollouts),), torch.nan, dtype=torch.float64)
        for kind, rows in by_kind.items():  # one grader dispatch, the one `vigor eval` uses
            grader = grader_of(kind, "accuracy reward")
            verdicts = grader.grade([golds[i].record(str(i)) for i in rows], [rollouts.completions[i] for i in rows],
                                    timeout_s=self.code_timeout_s if grader.sandboxed else self.timeout_s)
            out[rows] = torch.tensor([float(v.correct) for v in verdicts], dtype=torch.float64)
        return out

    def metrics(self, raw, view):
        """`gold_accuracy`: the share of the step's completions with a gold that are right."""
        valid = raw[~torch.isnan(raw)]
        return {"gold_accuracy": valid.mean().item()} if valid.numel() else {}


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
    summary = "TTRL: 1 when the extracted answer equals the group's most common answer"

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

    def reported(self, raw, shaped):
        """The 0/1 agreement with the majority (the raw score is only a hash of the answer)."""
        return shaped

    def metrics(self, raw, view):
        return {self.metric_key("answered"): (~torch.isnan(raw)).double().mean().item()}


@register_reward
class RandomReward(Reward):
    """Uniform [0, 1) noise, seeded by (seed, step, process): the spurious-reward control."""

    name = "random"
    summary = "seeded uniform reward, the spurious-reward control"

    @dataclass(frozen=True)
    class Options:
        seed: int = option(0, config_field="seed", help="seeds the noise with the step and process")

    def score(self, rollouts, *, model=None, stats=None):
        generator = torch.Generator().manual_seed(
            (self.seed * 1_000_003 + rollouts.step * 1_009 + rollouts.process_index) % (2**63))
        return torch.rand(len(rollouts), generator=generator, dtype=torch.float64)
