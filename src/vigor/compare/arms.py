"""A study's arms: each entry of `vigor compare --rewards` is a reward with optional settings after '+'.

    ARM     = REWARD ['+' NAME=VALUE]...        e.g. vigor, vigor+length_correction=false,
                                                     self_certainty+learning_rate=2e-6+beta=0.01

NAME is one of the reward's own options (rewards/options.py: `self_certainty+positions=intuitor`) or a `vigor train`
field (VigorGRPOConfig). A name that is both (VIGOR's `length_correction`, whose option the field of the same name
supplies; VIGOR's `temperature`, the logit temperature, which the field `reward_temperature` supplies) is the
reward's option: the arm's reward spec is then exactly what `vigor train --reward` would read. Options stay in the
arm's reward spec (checked by `parse_rewards`); fields become typed overrides of that arm's config, converted by the
type the argument parser gives the field (the one conversion `vigor train --name value` uses).

The entry is the arm's label; its folder is the entry itself when that is a safe file name, else the entry with
every other character replaced and a short hash of the entry appended (so two entries never share a folder); the
manifest records both (`arm_record`). Every problem is a one-line UsageError naming the entry, found before
anything loads or trains.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re

SAFE = re.compile(r"[A-Za-z0-9_.+=-]+")
MAX_FOLDER = 80
# config fields vigor compare sets per run (neither a --field option nor an arm's setting may set them)
FORBIDDEN_FIELDS = {"seed": "--seeds", "reward": "--rewards", "resume": "(rerunning resumes by itself)",
                    "resume_from_checkpoint": "(rerunning resumes by itself)",
                    "overwrite": "(rerunning resumes by itself; delete OUT/<reward>/seed<k> to run one again)",
                    "eval_initial_dir": "(the base model's evaluation is shared by itself)",
                    "save_best": "(always on)"}
# fields an arm may not set: what vigor compare sets per run, and what every arm must share for the paired report
# (the same held-out problems and samples, the same training prompts)
SHARED_FIELDS = {"eval_benchmark": "every arm is evaluated on the same problems",
                 "eval_max_samples": "every arm is evaluated on the same problems",
                 "eval_seed": "every arm is evaluated on the same problems",
                 "eval_samples": "the paired tests need the same samples per problem",
                 "dataset": "every arm trains on the same prompts", "data_seed": "every arm trains on the same prompts",
                 "max_samples": "every arm trains on the same prompts", "model_name_or_path": "a study has one model",
                 "output_dir": "an arm's folder is OUT/<its entry>"}


@dataclasses.dataclass(frozen=True)
class Arm:
    entry: str                      # as given: the label
    reward: str                     # the reward spec the arm trains with (its options kept)
    fields: dict                    # typed config overrides
    options: dict                   # the reward options given, as text

    @property
    def folder(self) -> str:
        return arm_folder(self.entry)

    @property
    def reward_name(self) -> str:
        return self.reward.split("+")[0]


def arm_folder(entry: str) -> str:
    """A file-system-safe folder name for `entry`: the entry when safe, else a cleaned form plus a hash."""
    if SAFE.fullmatch(entry) and len(entry) <= MAX_FOLDER and entry not in (".", ".."):
        return entry
    cleaned = re.sub(r"[^A-Za-z0-9_.+=-]", "_", entry)[:MAX_FOLDER].strip(".")
    return f"{cleaned}-{hashlib.sha256(entry.encode()).hexdigest()[:8]}"


def field_converter():
    """(name -> argparse action) of VigorGRPOConfig, as `vigor train` parses `--name value`."""
    from transformers import HfArgumentParser

    from vigor.training.config import VigorGRPOConfig

    parser = HfArgumentParser(VigorGRPOConfig)
    # by its --name option (a bool field also has a --no_name action with the same dest and no type)
    return {a.dest: a for a in parser._actions if f"--{a.dest}" in a.option_strings}


def typed_value(entry: str, name: str, text: str, action, hint):
    """`text` as field `name`'s type (a list field: comma-separated), else a one-line UsageError."""
    from vigor.errors import UsageError
    from vigor.training.field_types import describe, fits

    if text.strip().lower() == "none" and fits(None, hint):
        return None
    convert = action.type or str
    try:
        value = [convert(v) for v in text.split(",")] if action.nargs in ("+", "*") else convert(text)
    except Exception:  # argparse type functions raise ValueError or ArgumentTypeError
        raise UsageError(f"--rewards {entry}: {name} must be {describe(hint)}, got {text!r}") from None
    if action.choices is not None and any(v not in action.choices for v in (value if isinstance(value, list) else [value])):
        raise UsageError(f"--rewards {entry}: {name} must be one of {', '.join(map(str, action.choices))}, got {text!r}")
    return value


def parse_arm(entry: str, actions=None) -> Arm:
    """One `--rewards` entry as an Arm; UsageError for an unknown reward, a setting that is neither an option of
    the reward nor a settable field, or a value of the wrong type."""
    import typing

    from vigor.errors import UsageError
    from vigor.rewards import REWARDS
    from vigor.rewards.options import NoOptions, declared, options_of
    from vigor.rewards.spec import split_options
    from vigor.training.config import VigorGRPOConfig

    try:
        name, given = split_options(entry)
    except ValueError as err:
        raise UsageError(f"--rewards: {err}") from None
    if name not in REWARDS:
        raise UsageError(f"--rewards {entry}: unknown reward {name!r}; choose from {', '.join(sorted(REWARDS))}")
    option_names = [f.name for f, _ in declared(getattr(REWARDS[name], "Options", NoOptions))]
    actions = actions if actions is not None else field_converter()
    hints = typing.get_type_hints(VigorGRPOConfig)
    options, fields = {}, {}
    for key, text in given.items():
        if key in option_names:
            options[key] = text
        elif key in FORBIDDEN_FIELDS or key in SHARED_FIELDS:
            why = SHARED_FIELDS.get(key) or f"set per run by vigor compare; use {FORBIDDEN_FIELDS[key]}"
            raise UsageError(f"--rewards {entry}: {key} cannot differ between arms ({why})")
        elif key in actions and key in hints:
            fields[key] = typed_value(entry, key, text, actions[key], hints[key])
        else:
            takes = f"its options are {', '.join(option_names)}" if option_names else "it takes no options"
            raise UsageError(f"--rewards {entry}: {key!r} is neither a vigor train field nor an option of {name} "
                             f"({takes})")
    try:  # each option's type and choices (parse_rewards checks them again with the arm's config)
        options_of(REWARDS[name], options)
    except ValueError as err:
        raise UsageError(f"--rewards {entry}: {err}") from None
    spec = "+".join([name] + [f"{k}={v}" for k, v in options.items()])
    return Arm(entry, spec, fields, options)


def parse_arms(entries: list[str]) -> list[Arm]:
    from vigor.errors import UsageError

    if len(set(entries)) != len(entries):
        raise UsageError(f"--rewards: an entry is listed twice: {entries}")
    actions = field_converter()
    arms = [parse_arm(e, actions) for e in entries]
    folders = [a.folder for a in arms]
    if len(set(folders)) != len(folders):  # only by a hash collision
        raise UsageError(f"--rewards: two entries share a folder name: {folders}")
    return arms


def without_fields(tokens: list[str], names: set[str]) -> list[str]:
    """The command line's `--field value...` tokens less those setting a field in `names` (with their values:
    the tokens up to the next `--option`), so that an arm's own value of a field wins over the study's."""
    kept, skipping = [], False
    for token in tokens:
        if token.startswith("--"):
            skipping = token[2:].split("=", 1)[0].replace("-", "_") in names
        if not skipping:
            kept.append(token)
    return kept


def differing_settings(arm: Arm, arm_config, study_config) -> dict:
    """{name: the arm's value} of the arm's settings that differ from the study's: its fields against the study's
    config, its reward options against the options the study's config gives the same reward."""
    from vigor.rewards.spec import term_for

    out = {k: getattr(arm_config, k) for k in arm.fields if getattr(study_config, k) != getattr(arm_config, k)}
    if arm.options:
        mine = term_for(arm.reward_name, config=arm_config, given=arm.options).options
        study = term_for(arm.reward_name, config=study_config).options
        out.update({k: getattr(mine, k) for k in arm.options if getattr(mine, k) != getattr(study, k)})
    return out


def arm_record(arm: Arm, arm_config, study_config) -> dict:
    """The manifest's entry of an arm: its folder, reward spec, typed settings and those that differ."""
    import json

    record = {"folder": arm.folder, "reward": arm.reward, "fields": arm.fields, "options": arm.options,
              "differs": differing_settings(arm, arm_config, study_config)}
    return json.loads(json.dumps(record, default=str))
