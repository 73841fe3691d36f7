"""What the demo shows while it trains: one short line per step (or a progress bar), and a warning when a step
is far over the preset's budget, with the likely cause."""

from __future__ import annotations

import os
import time

from transformers import TrainerCallback
from transformers.trainer_callback import ProgressCallback

SLOW_FACTOR = 3  # a step over SLOW_FACTOR x the preset's budget is reported


def likely_cause(*, bf16_on_cpu: bool) -> str:
    """The most likely reason a CPU step is slow, checked in order of how much each costs (measured)."""
    from vigor.precision import cpu_capability, cpu_has_native_bf16

    if bf16_on_cpu and not cpu_has_native_bf16():
        return (f"bf16 autocast on a CPU without native bfloat16 (torch CPU capability {cpu_capability()}) "
                "emulates every matrix product")
    cores = os.cpu_count() or 1
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if load > cores:
        return f"the CPU is shared: load average {load:.1f} on {cores} cores"
    return (f"a slower CPU than the budget's (torch CPU capability {cpu_capability()}, {cores} cores); "
            "--preset quick or a smaller --max-new-tokens runs shorter")


class StepTimeWatch(TrainerCallback):
    """Times each optimizer step (generation, rewards and update); warns once when one is slow."""

    def __init__(self, budget_s: float, *, bf16_on_cpu: bool = False, log=print):
        self.budget_s, self.bf16_on_cpu, self.log = budget_s, bf16_on_cpu, log
        self.started = None
        self.warned = False

    def on_step_begin(self, args, state, control, **kwargs):
        self.started = time.time()

    def on_step_end(self, args, state, control, **kwargs):
        took = time.time() - self.started
        if took > SLOW_FACTOR * self.budget_s and not self.warned:
            self.warned = True
            left_min = took * (state.max_steps - state.global_step) / 60
            self.log(f"warning: step {state.global_step} took {took:.0f} s, over {SLOW_FACTOR}x this preset's "
                     f"budget of {self.budget_s:.0f} s (about {left_min:.0f} min more for the remaining steps); "
                     f"likely cause: {likely_cause(bf16_on_cpu=self.bf16_on_cpu)}")


def step_summary(logs: dict, reward_name: str) -> str:
    """A few of a step's logged metrics in words; metrics.jsonl and TensorBoard keep all of them."""
    parts = []
    for key, show in ((f"rewards/{reward_name}/mean", lambda v: f"reward {reward_name} {v:.4g}"),
                      ("gold_accuracy", lambda v: f"gold accuracy {v:.0%}"),
                      ("completions/mean_length", lambda v: f"length {v:.0f} tokens"),
                      ("step_time", lambda v: f"{v:.0f} s")):
        if isinstance(logs.get(key), (int, float)):
            parts.append(show(logs[key]))
    return ", ".join(parts)


class StepProgress(ProgressCallback):
    """A progress bar over the training steps with the last step's `step_summary` beside it, or without a bar
    one `step_summary` line per step. It replaces transformers' display (`vigor.training.build_trainer` drops
    that when given a ProgressCallback), which prints every step's whole log record, some sixty metrics."""

    def __init__(self, reward_name: str, *, bar: bool = True, log=print):
        super().__init__()
        self.reward_name, self.bar, self.log = reward_name, bar, log

    def on_train_begin(self, args, state, control, **kwargs):
        if self.bar:
            super().on_train_begin(args, state, control, **kwargs)

    def on_step_end(self, args, state, control, **kwargs):
        if self.training_bar is not None:
            super().on_step_end(args, state, control, **kwargs)

    def on_train_end(self, args, state, control, **kwargs):
        if self.training_bar is not None:
            super().on_train_end(args, state, control, **kwargs)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs or "train_runtime" in logs:
            return  # the end-of-training summary is not a step
        summary = step_summary(logs, self.reward_name)
        if self.training_bar is not None:
            self.training_bar.set_postfix_str(summary)
        else:
            self.log(f"step {state.global_step}/{state.max_steps}: {summary}")
