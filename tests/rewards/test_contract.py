"""The reward contract of vigor/rewards/base.py: what a reward declares is what RewardSet prepares and calls."""

import pathlib

import pytest
import torch

from vigor.rewards import Reward, RewardSet, build_rollouts

EOS, PAD = 2, 0
SRC = pathlib.Path(__file__).resolve().parents[2] / "src" / "vigor"


def rollouts(n=4):
    return build_rollouts([[5]] * n, [[6, 7, EOS]] * n, eos_token_ids=EOS, pad_token_id=PAD,
                          completions=[f"c{i}" for i in range(n)])


def test_needs_must_be_declared_and_gradients_need_grad_norms():
    with pytest.raises(TypeError, match="needs must be one of"):
        type("Odd", (Reward,), {"needs": "vibes"})
    with pytest.raises(TypeError, match="needs gradients but does not define grad_norms"):
        type("NoNorms", (Reward,), {"needs": "gradients"})


def test_score_calls_only_what_each_reward_declares():
    calls = []

    class Text(Reward):
        name, needs = "text_probe", "text"

        def score(self, rollouts, *, model=None, stats=None):
            calls.append(("text", stats))
            return torch.arange(len(rollouts), dtype=torch.float64)

    class Gradients(Reward):
        name, needs = "gradient_probe", "gradients"

        def grad_norms(self, rollouts, model, *, logits_callback=None):
            calls.append(("grad_norms", logits_callback))
            return torch.ones(len(rollouts), dtype=torch.float64)

        def score(self, rollouts, *, model=None, stats=None):
            return -stats[self.name]

    raw = RewardSet([Text()], [1.0]).score(rollouts(), model=None)  # no model needed: nothing model-based runs
    assert raw[:, 0].tolist() == [0.0, 1.0, 2.0, 3.0] and calls == [("text", {})]
    with pytest.raises(TypeError, match="not gradients"):
        Text().grad_norms(rollouts(), None)
    calls.clear()
    raw = RewardSet([Text(), Gradients()], [1.0, 1.0]).score(rollouts(), model=None)
    assert raw[:, 1].tolist() == [-1.0] * 4
    assert calls[0] == ("grad_norms", None)  # no logits reward: no statistics collected


def test_every_cli_takes_usage_error_from_vigor_errors():
    offenders = [str(p.relative_to(SRC)) for p in SRC.rglob("*.py") if "from vigor.cli import UsageError" in p.read_text()]
    assert offenders == []
