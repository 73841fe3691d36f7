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


def register(subparsers) -> None:
    bench = subparsers.choices["bench"]  # created by vigor.gradnorm.bench
    which = next(a for a in bench._actions if isinstance(a, argparse._SubParsersAction))
    p = which.add_parser("step", help="time GRPO steps by phase, VIGOR vs a rule reward",
                         description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    from vigor.training.cli import _FieldOptionsParser

    p.__class__ = _FieldOptionsParser  # unknown options are vigor train fields
    p.add_argument("--model", nargs="?", const="default", default=None, metavar="PATH_OR_NAME",
                   help="model folder or hub id (default: the embedded SmolLM2-135M-Instruct)")
    p.add_argument("--dataset", default=None, metavar="PATH_OR_NAME",
                   help="prompts (default: the recipe's, else procedural GSM8K-style problems)")
    p.add_argument("--config", metavar="RECIPE.yaml", help="YAML file of vigor train fields, as for vigor train")
    p.add_argument("--reward", default="vigor", help="the reward to measure (default vigor)")
    p.add_argument("--baseline-reward", default="random", help="the rule reward to compare with (default random)")
    p.add_argument("--steps", type=int, default=3, help="timed steps (default 3)")
    p.add_argument("--warmup-steps", dest="warmup", type=int, default=1, help="untimed first steps (default 1)")
    p.add_argument("--json", dest="json_out", default=None, help="also write the results to this JSON file")
    p.set_defaults(func=run)


def _train_argv(args, reward: str, output_dir: str) -> list[str]:
    """The `vigor train` command line of one benchmarked run (the user's fields come last, so win). Without a
    dataset on the command line or in the recipe: 256 procedural GSM8K-style problems (the count too is only
    a default: a max_samples given anywhere stays)."""
    from vigor.training.cli import given_fields

    given = given_fields(args)
    argv = ["train", "--reward", reward, "--output-dir", output_dir, "--max-steps", str(args.warmup + args.steps)]
    if args.model is not None:
        argv += ["--model", args.model]
    if args.config is not None:
        argv += ["--config", args.config]
    if args.dataset is not None:
        argv += ["--dataset", args.dataset]
    elif "dataset" not in given:
        argv += ["--dataset", "gsm_symbolic"]
    if "dataset" not in given and "max_samples" not in given:  # procedural problems need a count
        argv += ["--max-samples", "256"]
    return argv + ["--save-strategy", "no", "--report-to", "none", "--warmup-steps", "0", *args.field_options]


def _train_config(argv: list[str]):
    """The VigorGRPOConfig `vigor train` would build from `argv` (raises UsageError)."""
    from vigor.cli import build_parser
    from vigor.training.cli import build_config

    return build_config(build_parser().parse_args(argv))


def run(args) -> int:
    from vigor.errors import UsageError
    from vigor.training.run import ConfigError, check_before_loading

    if args.steps < 1 or args.warmup < 0:
        raise UsageError(f"--steps must be >= 1 and --warmup-steps >= 0, got {args.steps} and {args.warmup}")
    with tempfile.TemporaryDirectory(prefix="vigor-bench-step-") as tmp:
        runs = {}
        for role, reward in (("measured", args.reward), ("baseline", args.baseline_reward)):
            argv = _train_argv(args, reward, os.path.join(tmp, role))
            config = _train_config(argv)  # every input error, before any model loads
            try:
                check_before_loading(config)
            except ConfigError as err:
                raise UsageError(str(err)) from None
            runs[role] = (reward, argv)
        results = {role: _run_child(reward, argv, args.warmup) for role, (reward, argv) in runs.items()}
    print(format_table(results))
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(results, f, indent=2)
    return 0


def _run_child(reward: str, argv: list[str], warmup: int) -> dict:
    spec = json.dumps({"reward": reward, "warmup": warmup, "argv": argv})
    proc = subprocess.run([sys.executable, "-m", "vigor.training.bench", spec], stdout=subprocess.PIPE, text=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"vigor bench step: the {reward} run failed (exit code {proc.returncode}); see its output above")
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

    from vigor.training.backends import on_cuda
    from vigor.training.run import build_trainer

    config = _train_config(spec["argv"])
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
