"""The assembly of `vigor train`, after the preflight: the dataset, the rewards, PEFT, the trainer, and saving
the final model (whole under FSDP)."""

from __future__ import annotations

import json
import logging
import os

from vigor.training.config import VigorGRPOConfig
from vigor.training.premise import CATEGORY_COLUMN
from vigor.training.preflight import check_before_loading

logger = logging.getLogger("vigor.training")


def build_dataset(records, prompts):
    from datasets import Dataset

    from vigor.data.gold import Gold, gold_columns

    columns = gold_columns([Gold.from_record(r) for r in records])  # the trainer rebuilds each Gold from them
    if any(r.categories for r in records):  # one JSON string a row ({axis: value}): the premise monitor's groups
        columns = [{**gold, CATEGORY_COLUMN: json.dumps(r.categories, sort_keys=True)}
                   for gold, r in zip(columns, records)]
    return Dataset.from_list([{"prompt": p, **gold} for p, gold in zip(prompts, columns)])


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
    from vigor.training.checkpoints import clear_for_overwrite
    from vigor.training.trainer import VigorGRPOTrainer

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
        model.train(), args=config, reward_set=reward_set, train_dataset=dataset, processing_class=tokenizer,
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
