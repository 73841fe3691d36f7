"""`vigor bench`: its parser, with one sub-command per benchmark.

  gradnorm  per-sample gradient norms: the reference loop, the engine, a plain backward (vigor.gradnorm.bench)
  step      a GRPO step by phase, VIGOR against a rule reward (vigor.training.bench)
"""

from __future__ import annotations

import argparse

from vigor.gradnorm import bench as gradnorm_bench
from vigor.training import bench as step_bench


def register(subparsers) -> None:
    bench = subparsers.add_parser("bench", help="benchmarks")
    which = bench.add_subparsers(dest="bench", metavar="BENCHMARK")
    which.required = True
    add_gradnorm(which)
    add_step(which)


def add_gradnorm(which) -> None:
    p = which.add_parser("gradnorm", help="per-sample gradient norms: reference loop vs engine vs plain forward+backward",
                         description=gradnorm_bench.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shape", choices=sorted(gradnorm_bench.SHAPES), default=None,
                   help="model shape (random Qwen2 weights); default cpu-small on the CPU, qwen2.5-1.5b on CUDA")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    p.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default=None,
                   help="default float32 on the CPU, bfloat16 on CUDA")
    p.add_argument("--batch", type=int, default=8, help="completions per batch (B)")
    p.add_argument("--prompt-len", type=int, default=None, help="prompt tokens (default 64 CPU / 256 CUDA)")
    p.add_argument("--completion-len", type=int, default=None, help="completion tokens (default 192 CPU / 768 CUDA)")
    p.add_argument("--repeats", type=int, default=5, help="timed runs per method (median reported)")
    p.add_argument("--methods", default="abc", help="which of a (reference), b (engine), c (baseline) to run")
    p.add_argument("--gradient-checkpointing", action="store_true", help="enable checkpointing in all methods")
    p.add_argument("--profile", action="store_true",
                   help="also print the engine's time split: forward, backward, each rule type (with the number "
                        "of modules it covers), from a separate profiled run of --repeats engine calls")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", dest="json_out", default=None, help="also write the results to this JSON file")
    p.set_defaults(func=gradnorm_bench.run)


def add_step(which) -> None:
    p = which.add_parser("step", help="time GRPO steps by phase, VIGOR vs a rule reward", field_options=True,
                         description=step_bench.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", nargs="?", const="default", default=None, metavar="PATH_OR_NAME",
                   help="model folder or hub id (default: the embedded SmolLM2-135M-Instruct)")
    p.add_argument("--dataset", default=None, metavar="PATH_OR_NAME",
                   help="prompts (default: the recipe's, else procedural GSM8K-style problems)")
    p.add_argument("--config", metavar="RECIPE.yaml", help="YAML file of vigor train fields, as for vigor train")
    # not the config's `reward`: each of the two runs gets one of these
    p.add_argument("--reward", dest="measured_reward", metavar="REWARD", default="vigor", help="the reward to measure (default vigor)")
    p.add_argument("--baseline-reward", default="random", help="the rule reward to compare with (default random)")
    p.add_argument("--steps", type=int, default=3, help="timed steps (default 3)")
    # not the config's warmup_steps (the learning-rate warm-up, set to 0 here)
    p.add_argument("--warmup-steps", dest="untimed_steps", metavar="WARMUP", type=int, default=1, help="untimed first steps (default 1)")
    p.add_argument("--json", dest="json_out", default=None, help="also write the results to this JSON file")
    p.set_defaults(func=step_bench.run)
