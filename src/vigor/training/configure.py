"""A run's VigorGRPOConfig from what a command gives, in layers (lowest first):

    defaults (e.g. a preset's)  <  the --config recipe  <  the named options (`MAIN_OPTIONS`)
        <  the command's own `overrides` (typed values: `vigor compare`'s per-run seed, `vigor bench step`'s run length)
        <  the `--field-name value` options the user typed

The config is built once, from typed values and the user's own tokens (never from a config written back to
tokens). `given_fields` answers "did the user set this field" for every layer the user controls, the recipe
included, so a command's own defaults never override a recipe's `save_steps` or `max_samples`.
Everything here is checked before the model loads; problems are one-line UsageErrors.
"""

from __future__ import annotations

MAIN_OPTIONS = {  # a command's named option (its argparse dest) -> the config field it sets
    "model": "model_name_or_path", "dataset": "dataset", "reward": "reward", "output_dir": "output_dir",
    "max_steps": "max_steps", "num_generations": "num_generations", "resume": "resume",
    "log_completions": "log_completions_every",
    "eval_benchmark": "eval_benchmark", "eval_steps": "eval_steps", "eval_max_samples": "eval_max_samples",
    "eval_samples": "eval_samples",  # vigor compare's named evaluation options
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


def config_fields() -> set[str]:
    import dataclasses

    from vigor.training.config import VigorGRPOConfig

    return {f.name for f in dataclasses.fields(VigorGRPOConfig) if f.init}


def typed_field_name(token: str, fields: set[str]) -> str | None:
    """The config field a `--field-name[=value]` token names (None for a value token); UsageError for no field."""
    from vigor.errors import UsageError

    name = token.split("=", 1)[0]
    if not name.startswith("-"):
        return None
    field = name.lstrip("-").replace("-", "_")
    if field not in fields:
        hint = unknown_field(field, fields).removeprefix(field)
        raise UsageError(f"unknown option {name}: not a field of VigorGRPOConfig{hint}")
    return field


def layered_values(args, defaults: dict | None = None) -> tuple[dict, set[str]]:
    """(values of `defaults` < the --config recipe < the named options, every config field the user gave: those and
    the command line's `--field-name value` options). Raises UsageError for a recipe or option that is no field."""
    fields = config_fields()
    values = dict(defaults or {})
    values.update(read_recipe(args.config, fields) if getattr(args, "config", None) else {})
    values.update({field: getattr(args, option) for option, field in MAIN_OPTIONS.items()
                   if getattr(args, option, None) is not None})  # other commands' namespaces may lack some
    given = set(values)
    given.update(typed_field_name(token, fields) for token in args.field_options)
    given.discard(None)
    return values, given


def given_fields(args, defaults: dict | None = None) -> set[str]:
    """The config fields the user sets, through `defaults` (e.g. a preset's), the --config recipe, the named
    options or a `--field-name value`: the one answer to "did the user give this field", which `vigor compare`
    and `vigor bench step` ask before setting a default of their own."""
    return layered_values(args, defaults)[1]


def build_config(args, defaults: dict | None = None, overrides: dict | None = None):
    """The VigorGRPOConfig of a parsed command line (raises UsageError on any problem). `defaults` (e.g. a
    preset's fields) sit below --config and the named options; `overrides` (typed values a command sets, e.g.
    `{"seed": 3}`) above them, and below the user's `--field-name value` options."""
    from transformers import HfArgumentParser

    from vigor.errors import UsageError
    from vigor.training.config import VigorGRPOConfig

    values, given = layered_values(args, defaults)
    values.update(overrides or {})
    for required in ("output_dir", "dataset"):  # TrainingArguments would default output_dir silently
        if required not in given and required not in values:
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
