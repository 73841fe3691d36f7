"""The preflight of `vigor train`: every check that runs before the model's weights load.

`check_before_loading(config)` reads the data, resolves the model path, checks the rewards, backends, reporters,
held-out benchmarks, the sandbox (code tests under the accuracy reward) and the checkpoint to resume from, and
templates the prompts with the model's tokenizer alone, measuring them against the token budget. Any problem is a
one-line ConfigError. Prompts are given to TRL as text with the chat template already applied once
(`vigor.data.format_prompt`, with the reference system prompt presets; a conversational row is templated as
given), so a base model without a template gets the plain prompt and the reward sees exactly the tokens the
policy was sampled from.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

from vigor.training.config import VigorGRPOConfig


class ConfigError(ValueError):
    """A problem found before the model loads (bad data, model path, rewards, resume); one line."""


def load_prompt_records(config: VigorGRPOConfig):
    """(records, their DataFormat), checked: at least one prompt, and a full group's worth of batch."""
    from vigor.data import load_records_and_format

    if not config.dataset:
        raise ValueError("dataset: none given (a file, folder, shipped benchmark name or hub id)")
    records, data_format = load_records_and_format(
        config.dataset, prompt_column=config.prompt_column, answer_column=config.answer_column,
        split=config.dataset_split, limit=config.max_samples,
        seed=config.seed if config.data_seed is None else config.data_seed, category_column=config.category_column)
    if not records:
        raise ValueError(f"dataset {config.dataset}: no prompts")
    if config.answer_column and not any(r.answer is not None for r in records):
        raise ValueError(f"dataset {config.dataset}: answer column {config.answer_column!r} has no values")
    return records, data_format


class Checked(NamedTuple):
    """What `check_before_loading` found, for the rest of the start to reuse rather than load again."""
    records: list            # the training rows that fit the token budget
    prompts: list[str]       # their prompts, chat template applied
    model_path: str          # resolved (the default model converted if need be)
    checkpoint: str | None   # the checkpoint to resume from
    tokenizer: Any           # the model's tokenizer (vigor.models.load_tokenizer), which templated the prompts
    benchmark_kinds: dict    # {held-out benchmark: its kind} ({} without eval_benchmark)
    rewards: tuple = ()      # the parsed reward terms (vigor.rewards.RewardTerm), accuracy monitor included


def check_before_loading(config: VigorGRPOConfig) -> Checked:
    """Everything that can be checked without the model's weights (see `Checked` for what it returns).
    Any problem raises ConfigError with a one-line message."""
    from vigor.models import resolve_model_path
    from vigor.rewards import parse_rewards
    from vigor.rewards.intrinsic import check_grad_params
    from vigor.training.backends import check_backends
    from vigor.training.checkpoints import start_checkpoint

    try:
        checkpoint = start_checkpoint(config)  # refuses a folder holding another run without --resume/--overwrite
        rewards = parse_rewards(config.reward, config)  # the one parse of the spec: loaded, options checked
        check_backends(config, needs_gradients=any(r.needs == "gradients" for r in rewards))
        records, data_format = load_prompt_records(config)
        model_path = resolve_model_path(config.model_name_or_path)
        if not config.use_peft:  # under LoRA the trainable names are the adapters': checked at the first use
            check_grad_params(rewards, model_path)
        check_reporters(config.report_to)
        benchmark_kinds = {}
        if config.eval_benchmark:
            from vigor.training.heldout import check_heldout

            benchmark_kinds = check_heldout(config)
        rewards = reward_spec(config, records, rewards)
    except ConfigError:
        raise
    except (ValueError, OSError) as err:  # DataError is a ValueError
        raise ConfigError(str(err).strip().splitlines()[0]) from err
    if os.environ.get("RANK", "0") == "0":
        print(f"vigor train: data {config.dataset}: {len(records)} rows, {data_format.describe()}", flush=True)
    if any(r.tests for r in records) and any(t.name == "accuracy" for t in rewards):
        from vigor.evaluation.evaluate import check_sandbox

        try:
            check_sandbox(allow_weak=False)
        except Exception as err:  # the sandbox's own error says what is missing
            raise ConfigError(f"dataset {config.dataset} has code tests but {err}") from err
    from vigor.models import load_tokenizer_and_context

    try:
        tokenizer, context = load_tokenizer_and_context(model_path)
    except ValueError as err:
        raise ConfigError(str(err)) from err
    records, prompts = templated_prompts(records, tokenizer, context, config)
    return Checked(records, prompts, model_path, checkpoint, tokenizer, benchmark_kinds, rewards)


def check_reporters(report_to) -> None:
    """Each `--report-to` name is a transformers integration that is installed here; else a one-line ValueError
    now, not transformers' RuntimeError once the model has loaded."""
    from transformers.integrations import get_available_reporting_integrations
    from transformers.integrations.integration_utils import INTEGRATION_TO_CALLBACK

    for name in report_to or []:
        if name not in INTEGRATION_TO_CALLBACK:
            raise ValueError(f"--report-to {name}: unknown, expected none, all or one of {', '.join(INTEGRATION_TO_CALLBACK)}")
        if name not in get_available_reporting_integrations():
            raise ValueError(f"--report-to {name}: the {name} package is not installed here "
                             f"(pip install {name}, or --report-to none / tensorboard)")


def templated_prompts(records, tokenizer, context: int | None, config: VigorGRPOConfig):
    """(records, prompts) with the chat template applied, by the model's tokenizer alone (no weights load).
    A prompt over the token budget (`vigor.data.lengths.prompt_budget`: the model's context less
    max_completion_length, and max_prompt_length) is a ConfigError naming its row, or, with long_prompts='drop',
    is left out with a warning."""
    from vigor.data import format_prompt
    from vigor.data.lengths import fit_prompts, prompt_budget, row_name

    prompts = []
    for r in records:
        try:
            prompts.append(format_prompt(r.messages or r.prompt, tokenizer, system_prompt=config.system_prompt))
        except Exception as err:  # a template that rejects a conversation (roles, order): name the row
            raise ConfigError(f"{row_name(r)}: the chat template rejects this prompt: {str(err).splitlines()[0]}"
                              ) from err
    try:
        budget, what = prompt_budget(context, config.max_completion_length or 0,
                                     f"max_completion_length={config.max_completion_length or 0}",
                                     config.max_prompt_length)
        if budget is None:
            return records, prompts
        return fit_prompts(records, prompts, tokenizer, budget, what, drop=config.long_prompts == "drop",
                           drop_hint="pass --long-prompts drop to train on the others")
    except ValueError as err:
        raise ConfigError(str(err)) from err


def has_gold(records) -> bool:
    return any(r.answer is not None or r.tests for r in records)


def reward_spec(config: VigorGRPOConfig, records, rewards: tuple) -> tuple:
    """The parsed rewards, plus accuracy at weight 0 as a monitor when the data has answers or tests."""
    from vigor.rewards import with_monitor

    return with_monitor(rewards, "accuracy", config=config) if has_gold(records) and config.monitor_accuracy \
        else rewards


