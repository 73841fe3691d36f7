"""Held-out evaluation while training: `--eval-benchmark NAME ... --eval-steps N [--save-best]` (NAME: anything
`vigor eval --benchmark` takes, your own `my_bench.py:MyBench` included).

At step 0, every `eval_steps` steps and at the last step, the policy is evaluated with
`vigor.evaluation.evaluate` (the code behind `vigor eval`: same prompts, generation and grading) and

  eval/<benchmark>/accuracy   avg@S over the (fixed, seeded) problem subset, S = eval_samples
  eval/mean_accuracy          the unweighted mean over the benchmarks

join that step's log record (metrics.jsonl, TensorBoard, W&B; they are logged as 'eval_...', which
transformers' reporters and vigor's metrics.jsonl write as 'eval/...'). Every evaluation's per-sample verdicts
are kept in OUTPUT_DIR/eval/step-N/. With `save_best`, the model with the highest eval/mean_accuracy
(the earliest on ties; step 0 included) is saved in OUTPUT_DIR/best/ with best.json.

Evaluation runs on the main process only (others wait at their next collective) and inside
`torch.random.fork_rng`, so it leaves training's random stream untouched.
"""

from __future__ import annotations

import json
import logging
import os
import shutil

from transformers import TrainerCallback

logger = logging.getLogger("vigor.training")

EVAL_DIR = "eval"
BEST_DIR = "best"
BEST_FILE = "best.json"
MEAN_KEY = "eval/mean_accuracy"


def step_dir(output_dir: str, step: int) -> str:
    return os.path.join(output_dir, EVAL_DIR, f"step-{step}")


def evaluation_settings(config):
    """The `vigor.evaluation.evaluate.EvalSettings` of this config's held-out evaluation."""
    from vigor.evaluation.evaluate import EvalSettings
    from vigor.training.config import heldout_token_limit

    greedy = config.eval_samples == 1
    return EvalSettings(samples=config.eval_samples, temperature=0.0 if greedy else config.eval_temperature,
                        max_new_tokens=heldout_token_limit(config.eval_max_new_tokens, config.max_completion_length),
                        limit=config.eval_max_samples, subset_seed=config.eval_seed, seed=config.eval_seed,
                        system_prompt=config.system_prompt or None, timeout_s=config.accuracy_timeout_s,
                        batch_size=max(1, config.per_device_eval_batch_size), progress=False)


def check_heldout(config) -> dict[str, str]:
    """Load every evaluation set now (raises vigor.data.DataError with a one-line message); {name: its kind}."""
    from vigor.evaluation.evaluate import benchmark_records, check_sandbox
    from vigor.evaluation.graders import GRADERS

    kinds = {name: benchmark_records(name, limit=config.eval_max_samples, subset_seed=config.eval_seed)[1]
             for name in config.eval_benchmark or []}
    if any(GRADERS[kind].sandboxed for kind in kinds.values()):
        try:
            check_sandbox(allow_weak=False)
        except Exception as err:  # the sandbox's own error says what is missing
            raise ValueError(f"eval_benchmark has code problems but {str(err).splitlines()[0]}") from err
    return kinds


def accuracy_metrics(summary: dict) -> dict[str, float]:
    """{eval/<benchmark>/accuracy: ..., eval/mean_accuracy: ...} from an `evaluate` summary."""
    from vigor.evaluation.evaluate import file_key

    metrics = {f"eval/{file_key(name)}/accuracy": s["accuracy"] for name, s in summary.items()}
    metrics[MEAN_KEY] = sum(metrics.values()) / len(metrics)
    return metrics


def logged_names(metrics: dict[str, float]) -> dict[str, float]:
    """'eval/x' -> 'eval_x': the name to log so that TensorBoard and W&B show 'eval/x' (not 'train/eval/x')."""
    return {"eval_" + k[len("eval/"):]: v for k, v in metrics.items()}


def evaluate_model(model, tokenizer, config, folder: str) -> dict[str, float]:
    """Evaluate `model` on the config's benchmarks, writing the verdicts to `folder`; the accuracy metrics."""
    import torch

    from vigor.evaluation import evaluate

    with torch.random.fork_rng():
        summary = evaluate(model, list(config.eval_benchmark), evaluation_settings(config), tokenizer=tokenizer,
                           output_dir=folder)
    return accuracy_metrics(summary)


def read_summary_metrics(folder: str) -> dict[str, float]:
    with open(os.path.join(folder, "summary.json")) as f:
        return accuracy_metrics(json.load(f))


class HeldoutEvalCallback(TrainerCallback):
    """Evaluates at step 0, every `eval_steps` and at the last step; keeps best/ with `save_best`.
    `evaluate_fn(model, tokenizer, config, folder) -> metrics` is `evaluate_model` unless given.
    `bind(trainer)` must be called before training (the callback logs and saves through it)."""

    def __init__(self, config, evaluate_fn=None):
        self.config = config
        self.evaluate_fn = evaluate_fn or evaluate_model
        self.trainer = None
        self.best: float | None = None
        self.last_step: int | None = None  # the last step evaluated

    def bind(self, trainer) -> "HeldoutEvalCallback":
        self.trainer = trainer
        return self

    def due(self, state) -> bool:
        every = int(self.config.eval_steps) if self.config.eval_steps else None
        return state.global_step == state.max_steps or (every is not None and state.global_step % every == 0)

    def _evaluate(self, state) -> dict[str, float]:
        trainer = self.trainer
        self.last_step = state.global_step
        folder = step_dir(self.config.output_dir, state.global_step)
        metrics = None
        if trainer.accelerator.is_main_process:
            initial = self.config.eval_initial_dir
            if state.global_step == 0 and initial:
                shutil.copytree(initial, folder, dirs_exist_ok=True)
                metrics = read_summary_metrics(folder)
            else:
                model = trainer.accelerator.unwrap_model(trainer.model)
                metrics = self.evaluate_fn(model, trainer.processing_class, self.config, folder)
            logger.info("held-out accuracy at step %d: %s", state.global_step,
                        ", ".join(f"{k} {v:.3f}" for k, v in metrics.items()))
        if trainer.accelerator.num_processes > 1:
            from accelerate.utils import broadcast_object_list

            metrics = broadcast_object_list([metrics])[0]
        return metrics

    def _keep_if_best(self, state, metrics: dict[str, float]) -> None:
        if not self.config.save_best or (self.best is not None and metrics[MEAN_KEY] <= self.best):
            return
        self.best = metrics[MEAN_KEY]
        best_dir = os.path.join(self.config.output_dir, BEST_DIR)
        self.trainer.save_model(best_dir)
        if self.trainer.accelerator.is_main_process:
            with open(os.path.join(best_dir, BEST_FILE), "w") as f:
                json.dump({"step": state.global_step, **metrics}, f, indent=1)

    def _restore_best(self, state) -> None:
        """On resume: keep best/ if it is from a step at or before the checkpoint, else drop it (those
        steps are trained again)."""
        path = os.path.join(self.config.output_dir, BEST_DIR, BEST_FILE)
        if not os.path.exists(path):
            return
        with open(path) as f:
            best = json.load(f)
        if best["step"] <= state.global_step:
            self.best = best[MEAN_KEY]
        elif self.trainer.accelerator.is_main_process:
            logger.warning("best/ is from step %d, after the checkpoint resumed at step %d: dropped",
                           best["step"], state.global_step)
            shutil.rmtree(os.path.dirname(path))

    def on_train_begin(self, args, state, control, **kwargs):
        if self.trainer is None:
            raise RuntimeError("HeldoutEvalCallback.bind(trainer) was not called")
        self._restore_best(state)
        if state.global_step == 0:
            metrics = self._evaluate(state)
            self.trainer.log(logged_names(metrics))
            self._keep_if_best(state, metrics)

    def on_step_end(self, args, state, control, **kwargs):
        if not self.due(state):
            return
        metrics = self._evaluate(state)
        # joins this step's record: GRPOTrainer.log averages and logs everything in _metrics["train"]
        for key, value in logged_names(metrics).items():
            self.trainer._metrics["train"][key].append(value)
        control.should_log = True
        self._keep_if_best(state, metrics)

    def on_train_end(self, args, state, control, **kwargs):
        """A run stopped early (the collapse guard, a time limit) is evaluated where it stopped."""
        if self.last_step is not None and state.global_step > self.last_step:
            metrics = self._evaluate(state)
            self.trainer.log(logged_names(metrics))
            self._keep_if_best(state, metrics)
