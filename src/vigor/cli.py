"""The `vigor` command line.

Each subcommand lives beside the code it drives and exposes `register(subparsers)`,
which adds its parser and sets `func` (called with the parsed namespace, returns an exit
code). Modules listed here must import quickly: heavy imports go inside `func`.
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
    "vigor.gradnorm.bench",
    "vigor.training.bench",  # adds `bench step` to the `bench` parser made just above
    "vigor.analysis.cli",
    "vigor.evaluation.cli",
    "vigor.training.cli",
    "vigor.compare.cli",
    "vigor.sandbox.cli",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
