"""The reward spec, parsed once into typed terms: `parse_rewards("vigor,accuracy:0", config)`.

    SPEC   = ENTRY [',' ENTRY]...
    ENTRY  = REWARD ['+' OPTION=VALUE]... [':' WEIGHT]
    REWARD = a registered name ('vigor', 'self_certainty', ...), or 'path.py:name' / 'package.module:name'
             naming a TRL reward function or a `Reward` subclass

e.g. 'vigor', 'vigor:1,accuracy:0', 'self_certainty+positions=intuitor', 'my_rewards.py:fmt:0.5',
'my_rewards.py:MyReward+scale=2'. Each entry becomes a `RewardTerm` (reward class or function, weight,
validated options); every caller (training, compare, demo, analyze) takes these terms, and
`RewardSet.from_terms` builds the rewards from them without checking anything again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

from vigor.rewards.base import NEEDS, REWARDS, Reward, reward_names
from vigor.rewards.functions import FunctionReward, check_signature, load_target
from vigor.rewards.options import options_of

ENTRY_FORMS = "NAME[+OPTION=VALUE...][:WEIGHT], path.py:name[:WEIGHT] or package.module:name[:WEIGHT]"


@dataclass(frozen=True)
class RewardTerm:
    """One reward of a spec: its name (logged as rewards/<name>/...), weight, the reward class and its
    validated options, or the TRL function (then `reward_class` is FunctionReward and options is None)."""
    name: str
    weight: float
    reward_class: type[Reward]
    options: object = None
    source: str = ""                                   # the entry as written, for messages
    function: Callable | None = field(default=None, compare=False)

    @property
    def needs(self) -> str:
        return self.reward_class.needs

    def build(self) -> Reward:
        if self.function is not None:
            return FunctionReward(self.function, self.source.split("+")[0], self.name)
        return self.reward_class(self.options)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def parse_reward_spec(spec: str | list) -> list[tuple[str, float]]:
    """The spec's entries as (reward with its '+' options, weight): the text step of `parse_rewards`.
    'vigor' / 'vigor,accuracy:0' / ['vigor', 'my_rewards.py:fmt:0.5'] -> [(reward, weight), ...]; the
    weight (1 by default) is a last ':number'."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    out = []
    for item in items:
        parts = str(item).strip().split(":")
        named = parts[0].split("+")[0] in REWARDS
        weight = parts.pop() if len(parts) > 1 and (_is_number(parts[-1]) or named) else None
        target = ":".join(parts)
        if not parts[0] or len(parts) > 2 or (len(parts) == 2 and not parts[1]):
            raise ValueError(f"reward {str(item).strip()!r}: expected {ENTRY_FORMS}")
        if weight is not None and not _is_number(weight):
            raise ValueError(f"reward {target!r}: weight {weight!r} is not a number")
        value = float(weight) if weight is not None else 1.0
        if not math.isfinite(value):
            raise ValueError(f"reward {target!r}: weight {weight!r} is not finite")
        out.append((target, value))
    if not out:
        raise ValueError("no reward given")
    return out


def split_options(entry: str) -> tuple[str, dict[str, str]]:
    """'self_certainty+positions=intuitor' -> ('self_certainty', {'positions': 'intuitor'})."""
    reward, *settings = entry.split("+")
    given = {}
    for setting in settings:
        key, eq, value = setting.partition("=")
        if not eq or not key.strip() or not value.strip():
            raise ValueError(f"reward {entry!r}: option {setting!r} is not OPTION=VALUE")
        if key.strip() in given:
            raise ValueError(f"reward {entry!r}: option {key.strip()!r} is given twice")
        given[key.strip()] = value.strip()
    return reward.strip(), given


def resolve(reward: str) -> tuple[type[Reward], Callable | None]:
    """(reward class, TRL function or None) for a registered name or a 'file.py:name' target."""
    if ":" not in reward:
        if reward not in REWARDS:
            raise ValueError(f"unknown reward {reward!r}; choose from {', '.join(REWARDS)}, or give a TRL reward "
                             f"function or Reward class as path.py:name or package.module:name")
        return REWARDS[reward], None
    found = load_target(reward)
    if isinstance(found, type):
        if not issubclass(found, Reward):
            raise ValueError(f"reward {reward!r}: class {found.__name__} is not a vigor.rewards.Reward subclass")
        if not found.name:
            raise ValueError(f"reward {reward!r}: class {found.__name__} has no name; set name = '...'")
        if REWARDS.get(found.name, found) is not found:
            raise ValueError(f"reward {reward!r}: its name {found.name!r} is a registered reward "
                             f"({REWARDS[found.name].__qualname__}); choose another name")
        if found.needs not in NEEDS:  # checked when the class was made; a class made otherwise
            raise ValueError(f"reward {reward!r}: needs must be one of {NEEDS}, got {found.needs!r}")
        return found, None
    check_signature(found, reward)
    return FunctionReward, found


def term_for(reward: str, weight: float = 1.0, *, config=None, given: dict | None = None,
             source: str | None = None) -> RewardTerm:
    """One validated term: `reward` a registered name or a 'file.py:name' target, its options from
    `config`'s declared fields and `given`."""
    reward_class, function = resolve(reward)
    if function is not None:
        if given:
            raise ValueError(f"reward {reward!r}: a TRL reward function takes no options, got {', '.join(given)}")
        return function_term(function, weight, source=source or reward)
    options = options_of(reward_class, given, config=config)
    return RewardTerm(reward_class.name, float(weight), reward_class, options, source or reward)


def function_term(function: Callable, weight: float = 1.0, *, source: str | None = None) -> RewardTerm:
    """The term of a TRL reward function (a 'file.py:name' target's, or a callable given as is, e.g. in
    `VigorGRPOTrainer(reward_funcs=[...])`), named by its `__name__` as TRL names it."""
    source = source or getattr(function, "__qualname__", None) or type(function).__name__
    check_signature(function, source)
    name = getattr(function, "__name__", None) or source.rpartition(":")[2]
    if name in REWARDS:
        raise ValueError(f"reward {source!r}: its name {name!r} is a built-in reward; rename the function")
    return RewardTerm(name, float(weight), FunctionReward, None, source, function)


def parse_rewards(spec, config=None, *, overrides: dict[str, dict] | None = None) -> tuple[RewardTerm, ...]:
    """The spec as validated terms, each reward loaded and each option checked, here and only here.
    `config` (a training config) supplies the options its reward fields declare; `overrides`
    ({reward name: {option: value}}) wins over it, and the spec's own '+option=value' over both."""
    terms = []
    for entry, weight in parse_reward_spec(spec):
        reward, given = split_options(entry)
        given = {**(overrides or {}).get(reward, {}), **given}
        terms.append(term_for(reward, weight, config=config, given=given, source=entry))
    check_distinct_names([t.name for t in terms])
    return tuple(terms)


def check_distinct_names(names: list[str]) -> None:
    """A one-line ValueError unless each reward is named once (its name keys its logs, rewards/<name>/...)."""
    if len(set(names)) != len(names):
        raise ValueError(f"a reward is listed twice (TRL reward functions are named by their __name__): {names}")


def reward_help() -> str:
    """The rewards a spec may name, for help texts: the registry's, then the forms of a user's own."""
    return (f"{', '.join(reward_names())}, or a TRL reward function or Reward class as path.py:name or "
            f"package.module:name; options as self_certainty+positions=intuitor")


def reward_table() -> str:
    """The README's table of rewards, from the registry (tests/rewards/test_registry.py keeps them equal)."""
    from vigor.rewards.options import describe

    rows = ["| reward | what it scores | options (`name+option=value`, or the train field) |", "| --- | --- | --- |"]
    for name, cls in REWARDS.items():
        summary = cls.summary or (cls.__doc__ or "").strip().splitlines()[0]
        rows.append(f"| `{name}` | {summary} | {describe(cls) or '-'} |")
    rows.append("| `path.py:name`, `package.module:name` | your TRL reward function or `Reward` subclass (below) | "
                "a `Reward` subclass's own |")
    return "\n".join(rows) + "\n"


def make_reward(name: str, **options) -> Reward:
    """One reward by registered name or 'path.py:name' target, options as keywords (a shortcut of
    `term_for(...).build()`)."""
    return term_for(name, given=options).build()


def with_monitor(terms: tuple[RewardTerm, ...], name: str, *, config=None) -> tuple[RewardTerm, ...]:
    """`terms` plus the registered reward `name` at weight 0 (a monitor), unless it is already there."""
    if any(t.name == name for t in terms):
        return tuple(terms)
    return (*terms, term_for(name, 0.0, config=config))
