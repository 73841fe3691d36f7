"""`vigor bench step`: what a GRPO step costs, by phase, with VIGOR and with a rule reward.

Runs `--warmup-steps` untimed then `--steps` timed GRPO steps of `vigor train` twice, once with
`--reward` (default vigor) and once with `--baseline-reward` (default random), each in a fresh
subprocess so its peak memory is its own, and prints the mean seconds per step by phase side
by side with their ratio:

  generation     rollouts (`_generate`: tokenize, generate, decode); also as tokens/s
  reward         `_calculate_rewards` (VIGOR: one batched gradient-norm pass)
  other          the rest of generate-and-score (old/reference log-probs, gathers, padding)
  policy update  the rest of the step: loss, backward, optimizer step

The four add up to the step (timed from `on_step_begin` to `on_step_end`); on CUDA every
boundary synchronises. Peak memory is the process's: `torch.cuda.max_memory_allocated` on
CUDA, else the peak resident set (ru_maxrss). Any `vigor train` field can be given as
`--field-name value`; `--warmup-steps` here counts untimed steps (the learning-rate warm-up is
set to 0, it does not change the cost of a step).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

PHASES = ("generation", "reward", "other", "policy update")


def run_overrides(args, given: set[str], reward: str, output_dir: str) -> dict:
    """The fields `vigor bench step` sets on one benchmarked run, as typed values (any `--field-name value` the user
    types still wins). Without a dataset given anywhere (command line or recipe): 256 procedural GSM8K-style
    problems (the count too is only a default: a max_samples given anywhere stays)."""
    overrides = {"reward": reward, "output_dir": output_dir, "max_steps": args.untimed_steps + args.steps,
                 "save_strategy": "no", "report_to": "none", "warmup_steps": 0}
    if "dataset" not in given:
        overrides["dataset"] = "gsm_symbolic"
        if "max_samples" not in given:  # procedural problems need a count
            overrides["max_samples"] = 256
    return overrides


def run_config(sources, overrides: dict):
    """The VigorGRPOConfig of one benchmarked run: the user's settings (`sources`: a parsed `bench step` command
    line, or the same fields from the parent process) with `overrides` (raises UsageError)."""
    from vigor.training.configure import build_config

    return build_config(sources, overrides=overrides)


def run(args) -> int:
    from vigor.errors import UsageError
    from vigor.training.configure import given_fields
    from vigor.training.preflight import ConfigError, check_before_loading

    if args.steps < 1 or args.untimed_steps < 0:
        raise UsageError(f"--steps must be >= 1 and --warmup-steps >= 0, got {args.steps} and {args.untimed_steps}")
    given = given_fields(args)
    sources = {"model": args.model, "dataset": args.dataset, "config": args.config, "field_options": args.field_options}
    with tempfile.TemporaryDirectory(prefix="vigor-bench-step-") as tmp:
        runs = {}
        for role, reward in (("measured", args.measured_reward), ("baseline", args.baseline_reward)):
            overrides = run_overrides(args, given, reward, os.path.join(tmp, role))
            config = run_config(args, overrides)  # every input error, before any model loads
            try:
                check_before_loading(config)
            except ConfigError as err:
                raise UsageError(str(err)) from None
            runs[role] = {"reward": reward, "warmup": args.untimed_steps, "sources": sources, "overrides": overrides}
        results = {role: _run_child(spec) for role, spec in runs.items()}
    print(format_table(results))
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(results, f, indent=2)
    return 0


def _run_child(spec: dict) -> dict:
    """One benchmarked run in a fresh process (its peak memory its own). It rebuilds the config from the same
    typed `sources` and `overrides`, so both processes parse only what the user typed."""
    proc = subprocess.run([sys.executable, "-m", "vigor.training.bench", json.dumps(spec)], stdout=subprocess.PIPE,
                          text=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"vigor bench step: the {spec['reward']} run failed (exit code {proc.returncode}); see its output above")
    return json.loads(lines[-1][len("RESULT "):])


def summarise(steps: list[dict]) -> dict:
    """Mean seconds per step of each phase and of the whole step."""
    keys = (*PHASES, "step", "generated_tokens")
    return {k: sum(s[k] for s in steps) / len(steps) for k in keys}


def format_table(results: dict) -> str:
    measured, baseline = results["measured"], results["baseline"]
    m, b = summarise(measured["steps"]), summarise(baseline["steps"])
    name_m, name_b = measured["reward"], baseline["reward"]
    width = max(len(name_m), len(name_b), 10)
    lines = [f"device: {measured['device']}; {len(measured['steps'])} timed steps after "
             f"{measured['warmup']} warm-up; seconds per step (mean)",
             f"{'phase':<16}{name_m:>{width}}  {name_b:>{width}}  {'ratio':>7}"]
    for key in (*PHASES, "step"):
        ratio = m[key] / b[key] if b[key] > 0 else float("nan")
        lines.append(f"{key:<16}{m[key]:>{width}.3f}  {b[key]:>{width}.3f}  {ratio:>7.2f}")
    lines.append(f"{'peak memory MiB':<16}{measured['peak_memory_mib']:>{width}.0f}  "
                 f"{baseline['peak_memory_mib']:>{width}.0f}  "
                 f"{measured['peak_memory_mib'] / baseline['peak_memory_mib']:>7.2f}")
    lines.append(f"{'gen. tokens/s':<16}{m['generated_tokens'] / m['generation']:>{width}.1f}  "
                 f"{b['generated_tokens'] / b['generation']:>{width}.1f}")
    update = m["policy update"]
    lines.append(f"{name_m} reward / policy update: {m['reward'] / update if update > 0 else float('nan'):.2f}; "
                 f"{name_m} step / {name_b} step: {m['step'] / b['step']:.2f}")
    return "\n".join(lines)


# ---- the child process: one benchmarked run ---------------------------------------------------

def _sync():
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _timed_trainer_class():
    from transformers import TrainerCallback

    from vigor.training.trainer import VigorGRPOTrainer

    class StepClock(TrainerCallback):
        """Step boundaries; the trainer below adds the phases inside them."""

        def __init__(self):
            self.steps, self.current, self.started = [], None, None

        def add(self, phase: str, seconds: float):
            if self.current is not None:
                self.current[phase] += seconds

        def on_step_begin(self, args, state, control, **kwargs):
            _sync()
            self.current = dict.fromkeys(("generation", "reward", "prepare", "tokens"), 0.0)
            self.started = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            _sync()
            total = time.perf_counter() - self.started
            c = self.current
            self.steps.append({"generation": c["generation"], "reward": c["reward"], "generated_tokens": c["tokens"],
                               "other": c["prepare"] - c["generation"] - c["reward"],
                               "policy update": total - c["prepare"], "step": total})
            self.current = None

    class TimedTrainer(VigorGRPOTrainer):
        def _timed(self, phase, method, *a, **kw):
            _sync()
            start = time.perf_counter()
            try:
                return method(*a, **kw)
            finally:
                _sync()
                self.clock.add(phase, time.perf_counter() - start)

        def _generate(self, prompts):
            out = self._timed("generation", super()._generate, prompts)
            self.clock.add("tokens", sum(len(ids) for ids in out[1]))  # completion token ids of this process
            return out

        def _calculate_rewards(self, *a, **kw):
            return self._timed("reward", super()._calculate_rewards, *a, **kw)

        def _prepare_inputs(self, *a, **kw):
            return self._timed("prepare", super()._prepare_inputs, *a, **kw)

    return StepClock, TimedTrainer


def _child(spec: dict) -> dict:
    import resource

    import torch

    from vigor.training.assembly import build_trainer
    from vigor.training.backends import on_cuda

    config = run_config(argparse.Namespace(**spec["sources"]), spec["overrides"])
    StepClock, TimedTrainer = _timed_trainer_class()
    clock = StepClock()
    trainer, _ = build_trainer(config, callbacks=[clock], trainer_class=TimedTrainer)
    trainer.clock = clock
    cuda = on_cuda(config)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    trainer.train()
    if cuda:
        peak, device = torch.cuda.max_memory_allocated() / 2**20, torch.cuda.get_device_name()
    else:
        peak, device = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, f"cpu ({os.cpu_count()} cores)"
    return {"reward": spec["reward"], "warmup": spec["warmup"], "device": device, "peak_memory_mib": peak,
            "steps": clock.steps[spec["warmup"]:]}


if __name__ == "__main__":
    print("RESULT " + json.dumps(_child(json.loads(sys.argv[1]))), flush=True)
