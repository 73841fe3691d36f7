"""`DemoSettings` and its presets: how big a `vigor demo` run is.

Measured 2026-11-26 (docs/benchmarks.md), default preset, float32, torch kernels limited to AVX2, on 2
shared cores: 12.0 min wall at load average 3-7 and 38.8 min at 12-17, 9.5-10.2 min of CPU time either
way. A training step (G = 8 x 96 tokens) cost ~32 CPU-seconds (18-65 s wall at load 3-7); a greedy
evaluation of 40 problems x 128 tokens ~1 CPU-minute. Measured on an idle 2-core machine with AVX2 only (emulated): 6.1 minutes, 18 s per step.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass
class DemoSettings:
    reward: str = "vigor"             # any reward spec of `vigor train` (e.g. self_certainty, random)
    task: str = "single_digit_addition"  # reasoning-gym dataset or vigor alias (vigor.data.procedural.ALIASES);
                                      # chosen by measurement: SmolLM2-135M solves part of it (docs/benchmarks.md)
    steps: int = 16                   # optimizer steps (one generation round each)
    num_generations: int = 8          # G, completions per prompt
    prompts_per_step: int = 1         # prompts per step (batch = prompts_per_step * G completions)
    train_size: int = 56              # training prompts (train split; single_digit_addition has 59)
    eval_size: int = 40               # held-out problems evaluated before and after (greedy; 62 exist)
    max_new_tokens: int = 96          # completion length limit during training
    eval_max_new_tokens: int = 128    # completion length limit during evaluation
    lora: bool = False                # LoRA adapters instead of all weights
    learning_rate: float = 1e-5       # full fine-tuning; LoRA uses lora_learning_rate
    lora_learning_rate: float = 1e-4
    beta: float = 0.0                 # KL to the initial model: the reference uses 0.01; over a few dozen
                                      # steps it barely acts, and its reference-model forward costs ~10 %
    warmup_steps: float = 0.0         # the reference warms up over 10 % of its steps; with a dozen steps
                                      # that is one step at learning rate 0, so the demo skips it
    temperature: float = 0.9          # sampling temperature during training
    eval_batch_size: int = 16
    step_budget_s: float = 40.0       # expected wall seconds per training step on 2 idle AVX2 cores (~32
                                      # CPU-seconds measured); the demo warns when a step takes over 3x this
    model: str | None = None          # None = the embedded SmolLM2-135M-Instruct
    seed: int = 0

    def check(self) -> None:
        """One-line errors for impossible settings, before any work starts."""
        for name in ("steps", "prompts_per_step", "train_size", "eval_size", "max_new_tokens",
                     "eval_max_new_tokens", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.num_generations < 2:
            raise ValueError(f"--num-generations must be >= 2 (rewards rank completions within a group), "
                             f"got {self.num_generations}")
        if self.train_size < self.prompts_per_step:
            raise ValueError(f"--train-size {self.train_size} is smaller than one step's "
                             f"{self.prompts_per_step} prompt(s)")
        if not self.task or not self.task.replace("_", "").isalnum():
            raise ValueError(f"--task must be a reasoning-gym dataset name such as gsm_symbolic, got {self.task!r}")
        if not self.temperature > 0:
            raise ValueError(f"--temperature must be > 0, got {self.temperature}")
        if not self.learning_rate > 0 or not self.lora_learning_rate > 0:
            raise ValueError("learning rates must be > 0")
        if not self.step_budget_s > 0:
            raise ValueError(f"step_budget_s must be > 0, got {self.step_budget_s}")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0 (a count, or a fraction of the steps below 1), "
                             f"got {self.warmup_steps}")


PRESETS: dict[str, dict] = {
    # end-to-end check in CI: every stage runs, nothing is learned (well under 2 minutes)
    "ci": dict(steps=2, num_generations=4, train_size=2, eval_size=4, max_new_tokens=32, eval_max_new_tokens=32,
               eval_batch_size=4, step_budget_s=10),
    # a first look in ~5 minutes
    "quick": dict(steps=6, num_generations=4, train_size=32, eval_size=16, max_new_tokens=96,
                  eval_max_new_tokens=192, step_budget_s=30),
    # the README's demo: at most 20 minutes on 2 CPU cores without native bf16 (see the docstring)
    "default": dict(),
    # a longer, larger run (hours on a CPU; minutes on a GPU)
    "long": dict(steps=200, num_generations=8, prompts_per_step=2, train_size=59, eval_size=62,
                 max_new_tokens=256, eval_max_new_tokens=384, beta=0.01, warmup_steps=0.1, step_budget_s=200),
}


def preset_settings(name: str, **overrides) -> DemoSettings:
    """The preset's settings with `overrides` (None values ignored) applied on top."""
    if name not in PRESETS:
        raise ValueError(f"--preset must be one of {', '.join(PRESETS)}, got {name!r}")
    values = dict(PRESETS[name])
    values.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name for f in dataclasses.fields(DemoSettings)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown demo setting(s): {', '.join(unknown)}")
    return DemoSettings(**values)
