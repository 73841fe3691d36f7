"""Helpers of the training tests (imported as tests.training.training_helpers)."""

import json


def tiny_run_options(model_dir, data, out, **overrides):
    """Config fields of a seconds-long CPU run; `overrides` win."""
    options = dict(model_name_or_path=model_dir, dataset=data, output_dir=str(out), use_cpu=True,
                   per_device_train_batch_size=4, num_generations=4, max_completion_length=8,
                   max_steps=1, save_strategy="no", report_to="none", system_prompt="",
                   learning_rate=1e-2, warmup_steps=0, gradient_checkpointing=False, disable_tqdm=True,
                   dataloader_num_workers=0, monitor_accuracy=False)
    options.update(overrides)
    return options


def as_cli_args(options: dict) -> list[str]:
    args = []
    for key, value in options.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    return args


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]
