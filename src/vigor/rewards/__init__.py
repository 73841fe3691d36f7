"""The reward family: VIGOR, the intrinsic baselines, majority vote, random, the verifier, and TRL
reward functions.

Every reward implements the contract of `vigor.rewards.base.Reward`; built-in ones are registered
by name (`REWARDS`); a user's TRL function or `Reward` subclass is given as 'path.py:name' or
'package.module:name'. A spec is parsed once, by `parse_rewards` (vigor.rewards.spec).
"""

from vigor.rewards.base import (NEEDS, REWARDS, TRUNCATED_POLICIES, GroupView, Reward, length_corrected,
                                length_uncorrected, ranked_last, register_reward, reward_names)
from vigor.rewards.combine import RewardSet
from vigor.rewards.options import option
from vigor.rewards.spec import (RewardTerm, make_reward, parse_reward_spec, parse_rewards, reward_help, reward_table,
                                term_for,
                                with_monitor)
# registration order is the order of every list of rewards: VIGOR and the intrinsic ones first
from vigor.rewards.intrinsic import LogProb, NegEntropy, SelfCertainty, VigorReward  # noqa: I001
from vigor.rewards.extrinsic import Accuracy, MajorityVote, RandomReward
from vigor.rewards.functions import FunctionReward, RewardFunctionError
from vigor.rewards.rollouts import (Rollouts, StatisticsCollector, build_rollouts, repetition_ratio,
                                    statistics_from_logits, token_statistics)
from vigor.rewards.shaping import SHAPINGS, group_advantages, place_last, rank_shape, shape_rewards

__all__ = [
    "REWARDS", "TRUNCATED_POLICIES", "GroupView", "Reward", "length_corrected", "length_uncorrected",
    "make_reward", "ranked_last", "register_reward", "RewardSet", "parse_reward_spec",
    "NEEDS", "reward_names", "option", "RewardTerm", "parse_rewards", "term_for", "with_monitor", "reward_help", "reward_table",
    "Accuracy", "MajorityVote", "RandomReward", "FunctionReward", "RewardFunctionError", "LogProb", "NegEntropy", "SelfCertainty", "VigorReward",
    "Rollouts", "StatisticsCollector", "build_rollouts", "repetition_ratio", "statistics_from_logits",
    "token_statistics",
    "SHAPINGS", "group_advantages", "place_last", "rank_shape", "shape_rewards",
]
