"""A reward of your own, in one file: the share of a completion's characters that are digits.

    vigor train --reward docs/examples/my_reward.py:MyReward ...             # scale 1
    vigor train --reward docs/examples/my_reward.py:MyReward+scale=2:0.5 ... # an option, and a weight

`@register_reward` also makes it a name (`digit_share`) for the rest of the run: compare, demo and analyze
list it once the file is loaded. Without the decorator the class still loads by PATH.py:CLASS.
"""

from dataclasses import dataclass

import torch

from vigor.rewards import Reward, option, register_reward


@register_reward
class MyReward(Reward):
    """Share of the completion's characters that are digits (0 for an empty completion), times `scale`."""

    name = "digit_share"   # logged as rewards/digit_share/mean, .../std
    needs = "text"         # score reads rollouts.completions; no model forward is needed

    @dataclass(frozen=True)
    class Options:         # validated once, from the spec's '+scale=2'; each is also an attribute
        scale: float = option(1.0, help="multiplies the share")

    def score(self, rollouts, *, model=None, stats=None) -> torch.Tensor:
        shares = [sum(c.isdigit() for c in text) / max(len(text), 1) for text in rollouts.completions]
        return self.scale * torch.tensor(shares, dtype=torch.float64)
