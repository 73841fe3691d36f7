"""`train(config) -> output folder`: check everything cheap first, then load, build and train.

Prompts are given to TRL as text with the chat template already applied once (`vigor.data.format_prompt`,
with the reference system prompt presets; a conversational row is templated as given), so a base model
without a template gets the plain prompt and the reward sees exactly the tokens the policy was sampled from.
The tokenizer alone templates and measures the prompts before the weights load.
"""

from __future__ import annotations

import logging
import os
from typing import Any, NamedTuple

from vigor.training.config import VigorGRPOConfig

logger = logging.getLogger("vigor.training")


class ConfigError(ValueError):
    """A problem found before the model loads (bad data, model path, rewards, resume); one line."""


class TrainingStopped(RuntimeError):
    """The collapse guard stopped the run; the message says which threshold and when."""



def load_prompt_records(config: VigorGRPOConfig):
    """(records, their DataFormat), checked: at least one prompt, and a full group's worth of batch."""
    from vigor.data import load_records_and_format

    if not config.dataset:
        raise ValueError("dataset: none given (a file, folder, shipped benchmark name or hub id)")
    records, data_format = load_records_and_format(
        config.dataset, prompt_column=config.prompt_column, answer_column=config.answer_column,
        split=config.dataset_split, limit=config.max_samples,
        seed=config.seed if config.data_seed is None else config.data_seed)
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
    from vigor.training.backends import check_backends
    from vigor.training.checkpoints import start_checkpoint

    try:
        checkpoint = start_checkpoint(config)  # refuses a folder holding another run without --resume/--overwrite
        rewards = parse_rewards(config.reward, config)  # the one parse of the spec: loaded, options checked
        check_backends(config, needs_gradients=any(r.needs == "gradients" for r in rewards))
        records, data_format = load_prompt_records(config)
        model_path = resolve_model_path(config.model_name_or_path)
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


def build_dataset(records, prompts):
    from datasets import Dataset

    from vigor.data.gold import Gold, gold_columns

    columns = gold_columns([Gold.from_record(r) for r in records])  # the trainer rebuilds each Gold from them
    return Dataset.from_list([{"prompt": p, **gold} for p, gold in zip(prompts, columns)])


def has_gold(records) -> bool:
    return any(r.answer is not None or r.tests for r in records)


def reward_spec(config: VigorGRPOConfig, records, rewards: tuple) -> tuple:
    """The parsed rewards, plus accuracy at weight 0 as a monitor when the data has answers or tests."""
    from vigor.rewards import with_monitor

    return with_monitor(rewards, "accuracy", config=config) if has_gold(records) and config.monitor_accuracy \
        else rewards


def peft_config(config: VigorGRPOConfig):
    if not config.use_peft:
        return None
    from peft import LoraConfig

    return LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=config.lora_target_modules, task_type="CAUSAL_LM")


def build_trainer(config: VigorGRPOConfig, *, callbacks=None, trainer_class=None):
    """Check everything cheap, then load the model and build the trainer; returns (trainer,
    checkpoint to resume from or None). `trainer_class` (a VigorGRPOTrainer subclass) is for
    instrumentation such as `vigor bench step`. A transformers ProgressCallback among `callbacks` (the demo's
    short line per step) replaces transformers' display of each step's whole log record."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    from vigor.models import load_model_and_tokenizer
    from vigor.precision import autocast_dtype, bf16_on_cpu_warning, show_banner
    from vigor.rewards import RewardSet
    from vigor.training.trainer import VigorGRPOTrainer

    from vigor.training.checkpoints import clear_for_overwrite

    checked = check_before_loading(config)
    clear_for_overwrite(config)  # every check has passed: now the earlier run may go
    main_process = os.environ.get("RANK", "0") == "0"
    if config.bf16 and config.device.type == "cpu" and bf16_on_cpu_warning() and main_process:
        logger.warning(bf16_on_cpu_warning())
    model, tokenizer = load_model_and_tokenizer(checked.model_path, dtype=config.model_dtype,
                                                attn_implementation=config.attn_implementation,
                                                tokenizer=checked.tokenizer)
    if main_process:
        show_banner(device=config.device, weights=model.dtype, autocast=autocast_dtype(config.bf16, config.fp16))
    dataset = build_dataset(checked.records, checked.prompts)
    reward_set = RewardSet.from_terms(checked.rewards, statistics_temperature=config.reward_temperature,
                                      micro_batch_size=config.grad_norm_micro_batch_size)
    callbacks = list(callbacks or [])
    if config.eval_benchmark:
        from vigor.training.heldout import HeldoutEvalCallback

        heldout = next((c for c in callbacks if isinstance(c, HeldoutEvalCallback)), None)
        if heldout is None:
            callbacks.append(heldout := HeldoutEvalCallback(config))
    trainer = (trainer_class or VigorGRPOTrainer)(
        model.train(), config, reward_set=reward_set, train_dataset=dataset, processing_class=tokenizer,
        peft_config=peft_config(config), callbacks=callbacks)
    if any(isinstance(c, ProgressCallback) for c in callbacks):  # the caller's own display replaces transformers'
        for default in [c for c in trainer.callback_handler.callbacks if type(c) in (ProgressCallback, PrinterCallback)]:
            trainer.remove_callback(default)
    if config.eval_benchmark:
        heldout.bind(trainer)
    return trainer, checked.checkpoint


def save_final_model(trainer, output_dir: str) -> None:
    """`trainer.save_model`, with whole weights under FSDP. transformers 5.24 saves an FSDP model only
    with FULL_STATE_DICT and otherwise writes nothing, silently; accelerate 1.15's FSDP2 default is
    SHARDED_STATE_DICT (an accelerate config without fsdp_state_dict_type). Checkpoints keep the
    configured type; the final model is always gathered whole (a collective: every process calls this), and
    gets its model card (README.md), which TRL writes only beside checkpoints."""
    plugin = getattr(trainer.accelerator.state, "fsdp_plugin", None)
    if trainer.is_fsdp_enabled and "FULL_STATE_DICT" not in str(plugin.state_dict_type):
        plugin.set_state_dict_type("FULL_STATE_DICT")
    trainer.save_model(output_dir)
    trainer.create_model_card(model_name=os.path.basename(os.path.normpath(output_dir)))


def train(config: VigorGRPOConfig, *, callbacks=None) -> str:
    """Train with GRPO and the configured rewards; return the folder holding the final model."""
    from vigor.training.checkpoints import train_from

    trainer, checkpoint = build_trainer(config, callbacks=callbacks)
    train_from(trainer, checkpoint)  # trainer.train, but not past the last step
    save_final_model(trainer, config.output_dir)
    if trainer.collapse_guard.reason:
        raise TrainingStopped(f"{trainer.collapse_guard.reason}; the model so far is in {config.output_dir}")
    return config.output_dir
