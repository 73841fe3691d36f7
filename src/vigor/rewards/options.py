"""A reward's options: declared on the reward class as a frozen dataclass `Options`, validated once.

    @register_reward
    class MyReward(Reward):
        @dataclass(frozen=True)
        class Options:
            scale: float = option(1.0, help="multiplies the score")
            mode: str = option("a", choices=("a", "b"))
            seed: int = option(0, config_field="seed")   # `vigor train --seed` supplies it

An option's value comes, last one winning, from its default, from the training config field named by
`config_field` (so `vigor train --shaping zscore` reaches VIGOR), and from the reward spec
(`vigor+shaping=zscore`, given as text and converted to the declared type). `options_of` checks each
value once and returns the `Options` instance the reward is built with; every error is one line naming
the reward and the option.
"""

from __future__ import annotations

import dataclasses
import types
import typing

_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")
_EXPECTED = {bool: "true or false", int: "a whole number", float: "a number", str: "text"}


def option(default, *, choices: tuple | None = None, config_field: str | None = None, help: str = ""):
    """A dataclass field of a reward's `Options`: its default, its allowed values, the training config
    field that supplies it, and a help text."""
    return dataclasses.field(default=default, metadata={"choices": choices, "config_field": config_field,
                                                        "help": help})


@dataclasses.dataclass(frozen=True)
class NoOptions:
    """The `Options` of a reward that takes none."""


def declared(options_class) -> list[tuple[dataclasses.Field, object]]:
    """[(field, its type)] of an `Options` dataclass, the types resolved from their annotations."""
    hints = typing.get_type_hints(options_class)
    return [(f, hints[f.name]) for f in dataclasses.fields(options_class)]


def _allows_none(kind) -> tuple[bool, object]:
    """(None allowed, the type without None) for `int | None` and friends."""
    if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
        rest = [a for a in typing.get_args(kind) if a is not type(None)]
        return len(rest) < len(typing.get_args(kind)), rest[0] if len(rest) == 1 else object
    return False, kind


def convert(reward: str, key: str, kind, value):
    """`value` (a Python value, or text from the spec) as the declared type `kind`; else a one-line ValueError."""
    nullable, base = _allows_none(kind)
    where = f"reward {reward!r}: option {key}"
    if value is None or (nullable and isinstance(value, str) and value.strip().lower() == "none"):
        if nullable:
            return None
        raise ValueError(f"{where} must be {_EXPECTED.get(base, base)}, got None")
    if isinstance(value, str) and base is not str:
        text = value.strip().lower()
        if base is bool and text in _TRUE + _FALSE:
            return text in _TRUE
        if base in (int, float):
            try:
                return base(value)
            except ValueError:
                pass
        raise ValueError(f"{where} must be {_EXPECTED.get(base, base)}, got {value!r}")
    if base is bool and not isinstance(value, bool):
        raise ValueError(f"{where} must be true or false, got {value!r}")
    if base is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValueError(f"{where} must be a whole number, got {value!r}")
    if base is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{where} must be a number, got {value!r}")
        return float(value)
    if base is str and not isinstance(value, str):
        raise ValueError(f"{where} must be text, got {value!r}")
    return value


def options_of(reward_class, given: dict | None = None, *, config=None):
    """The validated `Options` of `reward_class`: defaults < `config`'s declared fields < `given`."""
    options_class = getattr(reward_class, "Options", NoOptions)
    fields = declared(options_class)
    names = [f.name for f, _ in fields]
    reward = reward_class.name or reward_class.__name__
    given = dict(given or {})
    for key in given:
        if key not in names:
            takes = f"it takes {', '.join(names)}" if names else "it takes no options"
            raise ValueError(f"reward {reward!r}: unknown option {key!r}; {takes}")
    values = {}
    for f, kind in fields:
        source = f.metadata.get("config_field")
        if f.name in given:
            value = given[f.name]
        elif config is not None and source and hasattr(config, source):
            value = getattr(config, source)
        else:
            continue  # the default, declared by the reward itself
        value = convert(reward, f.name, kind, value)
        choices = f.metadata.get("choices")
        if choices is not None and value not in choices:
            raise ValueError(f"reward {reward!r}: {f.name} must be one of {tuple(choices)}, got {value!r}")
        values[f.name] = value
    return options_class(**values)


def describe(reward_class) -> str:
    """'`name`=default (a, b; `--field`), ...': a reward's options, for the README's table."""
    options_class = getattr(reward_class, "Options", NoOptions)
    parts = []
    for f, _ in declared(options_class):
        choices, source = f.metadata.get("choices"), f.metadata.get("config_field")
        notes = ([", ".join(map(str, choices))] if choices else []) + ([f"`--{source.replace('_', '-')}`"] if source else [])
        parts.append(f"`{f.name}`={f.default}" + (f" ({'; '.join(notes)})" if notes else ""))
    return ", ".join(parts)
