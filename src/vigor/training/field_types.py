"""Does a recipe (YAML) value fit its config field's type? Checked before anything runs, so that
`learning_rate: [1, 2]` is a one-line error naming the field and the expected type, not a traceback after the
model has loaded.

A string is what the command line gives too: the argument parser converts it to the field's type and rejects it
with its own one-line message, so a string value is left to it (not a string inside a list: lists pass as is). Any other YAML value (number, bool, list, mapping,
null) must already have the field's type: an int fits a float field, a bool fits no number field.
"""

from __future__ import annotations

import enum
import types
import typing


def type_problem(value, hint) -> str | None:
    """None when `value` fits the type `hint`, else the expected type in words ("a float", "a list of str")."""
    if isinstance(value, str) or fits(value, hint):
        return None
    return describe(hint)


def fits(value, hint) -> bool:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is typing.Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(fits(value, arg) for arg in args)
    if origin is typing.Literal:
        return value in args
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if origin in (list, tuple, set) or hint in (list, tuple, set):
        return isinstance(value, list) and all(fits(v, args[0]) for v in value) if args else isinstance(value, list)
    if origin is dict or hint is dict:
        return isinstance(value, dict)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return isinstance(value, hint) or value in {member.value for member in hint}
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True  # a typing construct not used by the config's fields: no opinion


def describe(hint) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe(arg) for arg in args)
    if origin is typing.Literal:
        return "one of " + ", ".join(map(repr, args))
    if hint is type(None):
        return "null"
    if origin in (list, tuple, set):
        return f"a list of {describe(args[0]).removeprefix('a ').removeprefix('an ')}" if args else "a list"
    if origin is dict or hint is dict:
        return "a mapping"
    name = getattr(hint, "__name__", str(hint))
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"
