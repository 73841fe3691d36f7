"""The `vigor` command line.

Each subcommand lives beside the code it drives and exposes `register(subparsers)`,
which adds its parser and sets `func` (called with the parsed namespace, returns an exit
code). Modules listed here must import quickly: heavy imports go inside `func`.

Every parser here is a `CommandParser`: a sub-command added with `field_options=True` (train, compare, bench
step) takes any config field as `--field-name value` (see vigor.training.configure).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from vigor import __version__
from vigor.errors import UsageError  # caught here; every subcommand imports it from vigor.errors

COMMAND_MODULES = [
    "vigor.demo.cli",
    "vigor.bench_cli",
    "vigor.analysis.cli",
    "vigor.evaluation.cli",
    "vigor.training.cli",
    "vigor.compare.cli",
    "vigor.sandbox.cli",
]


class CommandParser(argparse.ArgumentParser):
    """An ArgumentParser whose sub-commands may keep the options they do not know: made with
    `subparsers.add_parser(name, field_options=True)`, it puts them in `args.field_options` (config fields,
    checked by the handler against the config dataclass, which imports TRL, so not while parsing). Sub-parsers
    are of the class of their parent, so every level of `vigor` takes the keyword."""

    def __init__(self, *args, field_options: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.keeps_field_options = field_options

    def parse_known_args(self, args=None, namespace=None):
        namespace, rest = super().parse_known_args(args, namespace)
        if not self.keeps_field_options:
            return namespace, rest
        namespace.field_options = list(rest)
        return namespace, []


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="vigor",
        description="Verifier-free RL post-training with the VIGOR gradient-norm reward.",
    )
    parser.add_argument("--version", action="version", version=f"vigor {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


# TRL 1.16 sets and calls the gradient-checkpointing names that transformers 5 renamed: every run printed these
# FutureWarnings, and nothing a user passes would silence them (vigor's --gradient-checkpointing is TRL's field).
TRL_DEPRECATION_NOISE = r"`(is_)?gradient_checkpointing(_enable|_disable)?` is deprecated"


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore", message=TRL_DEPRECATION_NOISE, category=FutureWarning)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UsageError as err:
        print(f"vigor {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
