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

# Names a TRL user brings that are not config fields here: TRL's script arguments (ScriptArguments,
# ModelConfig, the GRPO script's reward_funcs) and TrainingArguments fields transformers 5 removed.
FOREIGN_NAMES = {
    "dataset_name": "TRL's dataset_name is dataset here", "dataset_train_split": "use dataset_split",
    "dtype": "use model_dtype", "torch_dtype": "use model_dtype",
    "reward_funcs": "use reward, with weights: vigor,accuracy:0.5,my_rewards.py:fmt",
    "logging_dir": "gone in transformers 5: TensorBoard writes to OUTPUT_DIR/runs/, or set TENSORBOARD_LOGGING_DIR",
    "overwrite_output_dir": "gone in transformers 5: vigor's --overwrite starts again in a used folder, --resume goes on",
    "no_progress": "vigor demo, analyze and eval's option; here TRL's --disable-tqdm true",
}


def unknown_field(name: str, fields: set[str]) -> str:
    """`name`, with what to use instead when that is known (a TRL name, or a near spelling of a field)."""
    import difflib

    hint = FOREIGN_NAMES.get(name)
    if hint is None:
        close = difflib.get_close_matches(name, fields, n=1, cutoff=0.8)
        hint = f"did you mean {close[0]}?" if close else None
    return f"{name} ({hint})" if hint else name


class _FieldOptionsParser(argparse.ArgumentParser):
    """Keeps options it does not know (config fields) in `field_options` instead of rejecting
    them; the handler checks them against the config dataclass, which imports TRL, so not here."""

    def parse_known_args(self, args=None, namespace=None):
        namespace, rest = super().parse_known_args(args, namespace)
        namespace.field_options = list(rest)
        return namespace, []


class _PrintFields(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):
        print(fields_help())
        parser.exit()


def fields_help() -> str:
    """vigor's own fields with default and help, then the names of the inherited TRL / transformers fields."""
    import dataclasses
    import textwrap

    from vigor.training.config import VigorGRPOConfig

    own, inherited = [], []
    for f in dataclasses.fields(VigorGRPOConfig):
        if not f.init:
            continue
        option = "--" + f.name.replace("_", "-")
        if f.name not in VigorGRPOConfig.__annotations__:  # declared by GRPOConfig or TrainingArguments
            inherited.append(option)
            continue
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        own.append(textwrap.fill(f"{option} (default {default!r}) {f.metadata.get('help', '')}".rstrip(), width=100,
                                 initial_indent="  ", subsequent_indent="      ", break_on_hyphens=False))
    return "\n".join([
        "vigor's fields, and TRL's that it gives the reference recipe's defaults:", *own, "",
        "TRL's GRPOConfig and transformers' TrainingArguments fields (see their documentation):",
        textwrap.fill(", ".join(inherited), width=100, initial_indent="  ", subsequent_indent="  ",
                      break_on_hyphens=False)])


def register(subparsers) -> None:
    from vigor.rewards import reward_help

    parser = subparsers.add_parser(
        "train", help="RL post-train a causal LM with VIGOR or a baseline reward",
        description="Train with GRPO and the VIGOR reward (or a baseline). Any config field can be given as "
                    "--field-name value or --field_name value (--help-fields lists them: vigor's, TRL's "
                    "GRPOConfig and transformers' TrainingArguments).")
    parser.__class__ = _FieldOptionsParser  # argparse offers no parser_class per sub-command
    parser.add_argument("--model", nargs="?", const="default", default=None, metavar="PATH_OR_NAME",
                        help="model folder or hub id (no value: the embedded SmolLM2-135M-Instruct)")
    parser.add_argument("--dataset", metavar="PATH_OR_NAME", help="data file/folder, benchmark name or hub id")
    parser.add_argument("--reward", help="reward(s) with weights, e.g. vigor or vigor,accuracy:0.5,my_rewards.py:fmt:0.2 "
                                         f"({reward_help()})")
    parser.add_argument("--output-dir", dest="output_dir", metavar="DIR", help="checkpoints, metrics.jsonl, logs")
    parser.add_argument("--config", metavar="RECIPE.yaml", help="YAML file whose keys are config fields")
    parser.add_argument("--max-steps", dest="max_steps", type=int, metavar="N",
                        help="optimizer steps (default: --num-train-epochs over the data)")
    parser.add_argument("--num-generations", dest="num_generations", type=int, metavar="G",
                        help="completions per prompt, the group VIGOR ranks (default 8); the batch "
                             "(--per-device-train-batch-size x processes x accumulation) must be a multiple of G")
    parser.add_argument("--log-completions", dest="log_completions", type=int, metavar="N",
                        help="every N steps, write each sampled completion with its rewards, rank and advantage "
                             "to completions.jsonl (and TensorBoard/W&B when on)")
    parser.add_argument("--resume", action="store_const", const=True, default=None,
                        help="continue from the last checkpoint in the output folder (TRL's "
                             "--resume-from-checkpoint DIR: from that checkpoint folder)")
    parser.add_argument("--help-fields", action=_PrintFields, nargs=0,
                        help="list every config field (--field-name value) with its default, and exit")
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
        raise UsageError(f"--config {path}: unknown config field(s): {', '.join(unknown_field(k, fields) for k in unknown)}")
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
    """Values that parse but cannot run: TRL's reward_weights (vigor's are in `reward`), an eval_strategy (there is
    no eval_dataset; held-out evaluation is eval_benchmark), an explicit max_steps below 1 (TrainingArguments reads any negative
    value as 'train by epochs', and 0 still runs a step)."""
    from vigor.errors import UsageError

    if "reward_weights" in given:  # the trainer sets them from `reward`; a value given here would be dropped
        raise UsageError("--reward-weights: vigor takes the weights in --reward, e.g. vigor,accuracy:0.5")
    strategy = getattr(config.eval_strategy, "value", config.eval_strategy)
    if strategy not in (None, "no"):  # transformers would ask for an eval_dataset once the model has loaded
        raise UsageError(f"--eval-strategy {strategy}: vigor evaluates held-out benchmarks with --eval-benchmark NAME "
                         "--eval-steps N (the loss on an eval_dataset is not used); leave --eval-strategy at no")
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
                hint = unknown_field(field, fields).removeprefix(field)
                raise UsageError(f"unknown option {name}: not a field of VigorGRPOConfig{hint}")
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
