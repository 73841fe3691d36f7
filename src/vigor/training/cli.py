"""`vigor train`: GRPO with the vigor rewards from one command.

Options beyond those listed in --help are config fields: `--field-name value` (or
`--field_name value`) for any field of `vigor.training.VigorGRPOConfig`, TRL's GRPOConfig and
transformers' TrainingArguments included. Precedence: defaults < --config YAML < command line.
Everything is checked before the model loads.
"""

from __future__ import annotations

import argparse
import os

MAIN_OPTIONS = {  # command-line name -> config field
    "model": "model_name_or_path", "dataset": "dataset", "reward": "reward", "output_dir": "output_dir",
    "max_steps": "max_steps", "num_generations": "num_generations", "resume": "resume",
    "log_completions": "log_completions_every",
}


class _FieldOptionsParser(argparse.ArgumentParser):
    """Keeps options it does not know (config fields) in `field_options` instead of rejecting
    them; the handler checks them against the config dataclass, which imports TRL, so not here."""

    def parse_known_args(self, args=None, namespace=None):
        namespace, rest = super().parse_known_args(args, namespace)
        namespace.field_options = list(rest)
        return namespace, []


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train", help="RL post-train a causal LM with VIGOR or a baseline reward",
        description="Train with GRPO and the VIGOR reward (or a baseline). Any config field can be given as "
                    "--field-name value; see vigor.training.VigorGRPOConfig.")
    parser.__class__ = _FieldOptionsParser  # argparse offers no parser_class per sub-command
    parser.add_argument("--model", nargs="?", const="default", default=None, metavar="PATH_OR_NAME",
                        help="model folder or hub id (no value: the embedded SmolLM2-135M-Instruct)")
    parser.add_argument("--dataset", metavar="PATH_OR_NAME", help="data file/folder, benchmark name or hub id")
    parser.add_argument("--reward", help="reward(s) with weights, e.g. vigor or vigor,accuracy:0.5,my_rewards.py:fmt:0.2 "
                                         "(vigor, self_certainty, neg_entropy, logprob, majority_vote, random, accuracy, "
                                         "or a TRL reward function as path.py:function or package.module:function)")
    parser.add_argument("--output-dir", dest="output_dir", metavar="DIR", help="checkpoints, metrics.jsonl, logs")
    parser.add_argument("--config", metavar="RECIPE.yaml", help="YAML file whose keys are config fields")
    parser.add_argument("--max-steps", dest="max_steps", type=int, metavar="N")
    parser.add_argument("--num-generations", dest="num_generations", type=int, metavar="G")
    parser.add_argument("--log-completions", dest="log_completions", type=int, metavar="N",
                        help="every N steps, write each sampled completion with its rewards, rank and advantage "
                             "to completions.jsonl (and TensorBoard/W&B when on)")
    parser.add_argument("--resume", action="store_const", const=True, default=None,
                        help="continue from the last checkpoint in the output folder")
    parser.set_defaults(func=run)


def read_recipe(path: str, fields: set[str]) -> dict:
    import yaml

    from vigor.errors import UsageError

    try:
        with open(path) as f:
            values = yaml.safe_load(f) or {}
    except (OSError, yaml.YAMLError) as err:
        raise UsageError(f"--config {path}: cannot read: {str(err).splitlines()[0]}") from None
    if not isinstance(values, dict):
        raise UsageError(f"--config {path}: expected a mapping of config fields, got {type(values).__name__}")
    unknown = sorted(k for k in values if k not in fields)
    if unknown:
        raise UsageError(f"--config {path}: unknown config field(s): {', '.join(unknown)}")
    check_recipe_types(values, path)
    return values


def check_recipe_types(values: dict, path: str) -> None:
    """Each recipe value has its field's type (see vigor.training.field_types), else a one-line UsageError."""
    import typing

    from vigor.errors import UsageError
    from vigor.training.config import VigorGRPOConfig
    from vigor.training.field_types import type_problem

    hints = typing.get_type_hints(VigorGRPOConfig)
    for name, value in values.items():
        expected = type_problem(value, hints[name])
        if expected:
            raise UsageError(f"--config {path}: {name}: expected {expected}, got {type(value).__name__} {value!r:.60}")


def check_values(config, given: set[str]) -> None:
    """Values that parse but cannot run: an explicit max_steps below 1 (TrainingArguments reads any negative
    value as 'train by epochs', and 0 still runs a step)."""
    from vigor.errors import UsageError

    if "max_steps" in given and config.max_steps < 1:
        raise UsageError(f"--max-steps must be >= 1, got {config.max_steps} "
                         "(leave it out to train for num_train_epochs)")


def layered_values(args, defaults: dict | None = None) -> tuple[dict, set[str]]:
    """(values of `defaults` < the --config recipe < the main options, every config field given: those and the
    command line's `--field-name value` options). Raises UsageError for a recipe or option that is no field."""
    import dataclasses

    from vigor.errors import UsageError
    from vigor.training.config import VigorGRPOConfig

    fields = {f.name for f in dataclasses.fields(VigorGRPOConfig) if f.init}
    values = dict(defaults or {})
    values.update(read_recipe(args.config, fields) if getattr(args, "config", None) else {})
    values.update({field: getattr(args, option) for option, field in MAIN_OPTIONS.items()
                   if getattr(args, option, None) is not None})  # other commands' namespaces may lack some
    given = set(values)
    for token in args.field_options:
        name = token.split("=", 1)[0]
        if name.startswith("-"):
            field = name.lstrip("-").replace("-", "_")
            if field not in fields:
                raise UsageError(f"unknown option {name}: not a field of VigorGRPOConfig")
            given.add(field)
    return values, given


def given_fields(args, defaults: dict | None = None) -> set[str]:
    """The config fields a command line sets, through `defaults` (e.g. a preset's), its --config recipe, its
    main options or a `--field-name value`: what `vigor compare` and `vigor bench step` must not override."""
    return layered_values(args, defaults)[1]


def build_config(args, defaults: dict | None = None):
    """The VigorGRPOConfig of a parsed command line (raises UsageError on any problem).
    `defaults` (e.g. a preset's fields) sit below --config and the command line."""
    from transformers import HfArgumentParser

    from vigor.errors import UsageError
    from vigor.training.config import VigorGRPOConfig

    values, given = layered_values(args, defaults)
    for required in ("output_dir", "dataset"):  # TrainingArguments would default output_dir silently
        if required not in given:
            raise UsageError(f"--{required.replace('_', '-')} is required")

    def reject(message):
        raise UsageError(message)

    parser = HfArgumentParser(VigorGRPOConfig)
    parser.error = reject
    parser.set_defaults(**values)
    try:
        config, rest = parser.parse_args_into_dataclasses(args=args.field_options, return_remaining_strings=True)
    except ValueError as err:
        raise UsageError(str(err).strip().splitlines()[0]) from None
    if rest:
        raise UsageError(f"unexpected argument {rest[0]!r}")
    check_values(config, given)
    return config


def run(args) -> int:
    from vigor.errors import UsageError

    config = build_config(args)
    from vigor.training.run import ConfigError, TrainingStopped, train

    try:
        path = train(config)
    except ConfigError as err:
        raise UsageError(str(err)) from None
    except TrainingStopped as err:
        print(f"vigor train: stopped: {err}")
        return 3
    if os.environ.get("RANK", "0") == "0":  # one line, not one per process
        print(f"vigor train: model saved to {path}")
    return 0
