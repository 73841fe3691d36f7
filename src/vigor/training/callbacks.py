"""Callbacks: `metrics.jsonl` in the output folder, and the collapse guard."""

from __future__ import annotations

import json
import logging
import math
import os

from transformers import TrainerCallback

logger = logging.getLogger("vigor.training")

METRICS_FILE = "metrics.jsonl"
SAMPLED_FILES = ("rewards.jsonl", "completions.jsonl")  # one record per sampling, keyed by its step


def keep_records(path: str, keep) -> None:
    """Rewrite the JSONL file `path` (if any) with only the records for which `keep(record)` is true."""
    if not os.path.exists(path):
        return
    with open(path) as f:
        lines = [line for line in f if line.strip() and keep(json.loads(line))]
    with open(path, "w") as f:
        f.writelines(lines)


class MetricsFileCallback(TrainerCallback):
    """Appends one JSON object per logged step, with its `step`, to OUTPUT_DIR/metrics.jsonl.
    On resume, what the run does again is dropped first: metrics of steps after the checkpoint, and
    rows of rewards.jsonl / completions.jsonl sampled at or after it (their `step` counts the
    optimizer steps done before sampling). A fresh run in the same folder starts them anew."""

    def __init__(self, output_dir: str):
        self.output_dir = output_dir
        self.path = os.path.join(output_dir, METRICS_FILE)

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        keep_records(self.path, lambda record: record.get("step", 0) <= state.global_step)
        for name in SAMPLED_FILES:
            keep_records(os.path.join(self.output_dir, name), lambda record: record["step"] < state.global_step)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs or "train_runtime" in logs:
            return  # the end-of-training summary is not a step
        record = {"step": state.global_step}
        record.update({k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in logs.items()})
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")


class CollapseGuardCallback(TrainerCallback):
    """Warns (and with `collapse_stop` stops the run) when a logged step shows a collapse sign:
    token entropy below `collapse_min_entropy`, n-gram repetition above `collapse_max_repetition`,
    or mean completion length outside [`collapse_min_length`, `collapse_max_length`]."""

    def __init__(self, args):
        self.checks = [
            ("entropy", "entropy", args.collapse_min_entropy, "below"),
            ("repetition ratio", "completions/repetition_ratio", args.collapse_max_repetition, "above"),
            ("mean completion length", "completions/mean_length", args.collapse_min_length, "below"),
            ("mean completion length", "completions/mean_length", args.collapse_max_length, "above"),
        ]
        self.stop = args.collapse_stop
        self.reason: str | None = None

    def on_log(self, args, state, control, logs=None, **kwargs):
        for label, key, limit, side in self.checks:
            value = (logs or {}).get(key)
            if limit is None or value is None:
                continue
            if (value < limit) if side == "below" else (value > limit):
                message = f"collapse guard: {label} {value:.4g} is {side} {limit:g} at step {state.global_step}"
                logger.warning(message + ("; stopping the run" if self.stop else ""))
                if self.stop and self.reason is None:
                    self.reason = message
                    control.should_training_stop = True
                    control.should_save = True
