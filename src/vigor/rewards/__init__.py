"""The reward family: VIGOR, the intrinsic baselines, majority vote, random, the verifier, and TRL
reward functions.

Every reward implements the contract of `vigor.rewards.base.Reward`; built-in ones are registered
by name (`REWARDS`), TRL functions are given as 'path.py:function' or 'package.module:function'.
"""

from vigor.rewards.base import (REWARDS, TRUNCATED_POLICIES, GroupView, Reward, length_corrected,
                                length_uncorrected, make_reward, ranked_last, register_reward)
from vigor.rewards.combine import RewardSet, parse_reward_spec
from vigor.rewards.extrinsic import Accuracy, MajorityVote, RandomReward
from vigor.rewards.functions import FunctionReward, RewardFunctionError
from vigor.rewards.intrinsic import LogProb, NegEntropy, SelfCertainty, VigorReward
from vigor.rewards.rollouts import (Rollouts, StatisticsCollector, build_rollouts, repetition_ratio,
                                    statistics_from_logits, token_statistics)
from vigor.rewards.shaping import SHAPINGS, group_advantages, place_last, rank_shape, shape_rewards

__all__ = [
    "REWARDS", "TRUNCATED_POLICIES", "GroupView", "Reward", "length_corrected", "length_uncorrected",
    "make_reward", "ranked_last", "register_reward", "RewardSet", "parse_reward_spec",
    "Accuracy", "MajorityVote", "RandomReward", "FunctionReward", "RewardFunctionError", "LogProb", "NegEntropy", "SelfCertainty", "VigorReward",
    "Rollouts", "StatisticsCollector", "build_rollouts", "repetition_ratio", "statistics_from_logits",
    "token_statistics",
    "SHAPINGS", "group_advantages", "place_last", "rank_shape", "shape_rewards",
]
