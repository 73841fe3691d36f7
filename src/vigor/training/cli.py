"""`vigor train`: GRPO with the vigor rewards from one command.

Options beyond those listed in --help are config fields: `--field-name value` (or
`--field_name value`) for any field of `vigor.training.VigorGRPOConfig`, TRL's GRPOConfig and
transformers' TrainingArguments included. Precedence: defaults < --config YAML < command line.
Everything is checked before the model loads (vigor.training.configure builds the config).
"""

from __future__ import annotations

import argparse
import os

from vigor.training.configure import build_config


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
                    "GRPOConfig and transformers' TrainingArguments).", field_options=True)
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
