"""The reward family: VIGOR, the intrinsic baselines, majority vote, random and the verifier.

Every reward implements `vigor.rewards.base.Reward` and is registered by name (`REWARDS`).
"""

from vigor.rewards.base import REWARDS, GroupView, Reward, make_reward, register_reward
from vigor.rewards.combine import RewardSet, parse_reward_spec
from vigor.rewards.extrinsic import Accuracy, MajorityVote, RandomReward
from vigor.rewards.intrinsic import LogProb, NegEntropy, SelfCertainty, VigorReward
from vigor.rewards.rollouts import (Rollouts, StatisticsCollector, build_rollouts, repetition_ratio,
                                    statistics_from_logits, token_statistics)
from vigor.rewards.shaping import SHAPINGS, group_advantages, place_last, rank_shape, shape_rewards

__all__ = [
    "REWARDS", "GroupView", "Reward", "make_reward", "register_reward", "RewardSet", "parse_reward_spec",
    "Accuracy", "MajorityVote", "RandomReward", "LogProb", "NegEntropy", "SelfCertainty", "VigorReward",
    "Rollouts", "StatisticsCollector", "build_rollouts", "repetition_ratio", "statistics_from_logits",
    "token_statistics",
    "SHAPINGS", "group_advantages", "place_last", "rank_shape", "shape_rewards",
]
