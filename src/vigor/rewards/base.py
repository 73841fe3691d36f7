"""The reward contract, its registry, and the VIGOR length correction and ranking policies.

A reward goes through four steps; RewardSet (vigor.rewards.combine) calls them in this order:

1. inputs, declared by `needs` (RewardSet prepares exactly that, nothing else):
   'text'       `score` reads the decoded completions, their typed gold (`Rollouts.golds`, a
                `vigor.data.gold.Gold` each) and, for TRL reward functions, `Rollouts.reward_kwargs`;
   'logits'     `score` reads `stats[<statistic>]`, per-completion token means of one no-grad
                forward shared by every such reward;
   'gradients'  RewardSet first calls `grad_norms` (one engine pass, whose forward also feeds the
                'logits' rewards), then `score` reads `stats[self.name]`.
2. `score`: raw reward of each local completion (float64 [n]; NaN where it does not apply).
3. after the gather over processes (whole groups present): `shape` (default: the raw values),
   whose GRPO group advantage trains the policy, and `reported` (default: the raw values), the
   value logged as this reward (`reward`, `rewards/<name>/mean`, completions.jsonl).
4. `metrics`: extra scalars to log, keyed by their full log name.

A reward declares its options as a frozen dataclass `Options` (see vigor.rewards.options), and
`uses_gold` when it reads the gold answers (it then needs a dataset with answers or tests). Every
list of rewards (the command lines' help, the demo's monitors, `vigor analyze`'s signals, the
README's table) is read from the registry below by `reward_names`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from vigor.rewards.options import NoOptions, options_of
from vigor.rewards.rollouts import Rollouts

NEEDS = ("text", "logits", "gradients")
TRUNCATED_POLICIES = ("keep", "last")


@dataclass
class GroupView:
    """Per-completion facts of the whole gathered batch, next to the raw rewards."""
    lengths: torch.Tensor    # [N] T, EOS included
    truncated: torch.Tensor  # [N] bool
    empty: torch.Tensor      # [N] bool


def length_corrected(norm, lengths):
    """VIGOR's length correction, ||g|| * sqrt(T) (T = completion tokens incl. EOS): the norm of the
    gradient of a token *mean* shrinks like 1/sqrt(T) for independent token gradients, which would
    reward length. Works on torch tensors and numpy arrays alike."""
    return norm * lengths ** 0.5


def length_uncorrected(corrected, lengths):
    """The inverse of `length_corrected` (T = 0, an empty completion with no token, counts as 1)."""
    return corrected / (lengths + (lengths == 0)) ** 0.5


def ranked_last(view: GroupView, truncated: str) -> torch.Tensor:
    """Completions that rank last in their group whatever their score: the empty ones always (nothing
    before the EOS: no content to judge; the reference does this only for a completion with no target
    token and scores an EOS-only one), the truncated ones too when `truncated == 'last'`."""
    if truncated not in TRUNCATED_POLICIES:
        raise ValueError(f"truncated must be one of {TRUNCATED_POLICIES}, got {truncated!r}")
    return view.empty | view.truncated if truncated == "last" else view.empty.clone()


class Reward:
    """Base class of every reward; see the module docstring for the contract."""

    name: ClassVar[str] = ""
    needs: ClassVar[str] = "text"
    uses_gold: ClassVar[bool] = False  # reads Rollouts.golds: trains or monitors only where answers exist
    summary: ClassVar[str] = ""        # one line for the README's table (default: the docstring's first line)
    Options: ClassVar[type] = NoOptions

    def __init__(self, options=None, **given):
        """`options`: an `Options` instance already validated (by `vigor.rewards.spec`); or the options
        as keywords, validated here. Each option is also set as an attribute (`self.shaping`)."""
        if options is None:
            options = options_of(type(self), given)
        elif given:
            raise TypeError(f"reward {self.name!r}: give options either validated or as keywords, not both")
        self.options = options
        for key, value in vars(options).items():
            setattr(self, key, value)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.needs not in NEEDS:
            raise TypeError(f"reward class {cls.__name__}: needs must be one of {NEEDS}, got {cls.needs!r}")
        if cls.needs == "gradients" and cls.grad_norms is Reward.grad_norms:
            raise TypeError(f"reward class {cls.__name__} needs gradients but does not define grad_norms")

    def grad_norms(self, rollouts: Rollouts, model, *, logits_callback=None) -> torch.Tensor:
        """needs == 'gradients' only: the per-completion gradient norms (float64 [n]); the engine passes
        each micro-batch's logits to `logits_callback`, so the 'logits' rewards share its forward."""
        raise TypeError(f"reward {self.name!r} needs {self.needs!r}, not gradients: grad_norms is not defined")

    def score(self, rollouts: Rollouts, *, model=None, stats: dict | None = None) -> torch.Tensor:
        """Raw reward per local completion, float64 [n]; NaN where the reward does not apply."""
        raise NotImplementedError

    def shape(self, raw: torch.Tensor, view: GroupView, group_size: int) -> torch.Tensor:
        """Values whose GRPO group advantage is used; default: the raw rewards."""
        return raw

    def reported(self, raw: torch.Tensor, shaped: torch.Tensor) -> torch.Tensor:
        """The value logged as this reward, as a user reads it; default: the raw reward."""
        return raw

    def metrics(self, raw: torch.Tensor, view: GroupView) -> dict[str, float]:
        """Extra scalars logged every step, by full log key (mean and std are logged for every reward)."""
        return {}

    def metric_key(self, key: str) -> str:
        return f"rewards/{self.name}/{key}"


REWARDS: dict[str, type[Reward]] = {}


def register_reward(cls: type[Reward]) -> type[Reward]:
    """Class decorator: make `cls` available by `cls.name` to configs and the command line (train,
    compare, demo and analyze all read this registry)."""
    where = f"reward class {cls.__qualname__} (module {cls.__module__})"
    if not isinstance(cls, type) or not issubclass(cls, Reward):
        raise TypeError(f"register_reward: {cls!r} is not a vigor.rewards.Reward subclass")
    if not cls.name:
        raise ValueError(f"{where}: empty name; set the class attribute name = '...'")
    other = REWARDS.get(cls.name)
    if other is not None and other is not cls:
        raise ValueError(f"{where}: the name {cls.name!r} is already registered by {other.__module__}."
                         f"{other.__qualname__}; choose another name")
    options_of(cls)  # the declared options (types, defaults) must be readable now, not at the first run
    REWARDS[cls.name] = cls
    return cls


def reward_names(*, needs: tuple[str, ...] = NEEDS, gold: bool | None = None) -> list[str]:
    """Registered rewards in registration order, those whose `needs` is in `needs` and, unless `gold` is
    None, whose `uses_gold` equals it. `reward_names(needs=("logits", "gradients"))`: the model-based ones."""
    return [n for n, cls in REWARDS.items() if cls.needs in needs and (gold is None or cls.uses_gold == gold)]
