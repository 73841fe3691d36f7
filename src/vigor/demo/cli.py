"""`vigor demo`: see VIGOR work on a laptop CPU, with nothing to download."""

from __future__ import annotations

import argparse
import os


def register(subparsers) -> None:
    from vigor.rewards import reward_names

    p = subparsers.add_parser(
        "demo", help="evaluate, train with VIGOR and evaluate again the embedded model (~8 min on 2 idle CPU cores)",
        description="Evaluate the embedded SmolLM2-135M-Instruct on held-out problems (single-digit addition, "
                    "which it partly solves), train it "
                    "with GRPO and the VIGOR reward (no verifier), evaluate again, and write a run folder with "
                    "report.md, plots, metrics.jsonl, TensorBoard events and the trained model. Options override "
                    "the preset.",
        epilog=preset_table(), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="default", choices=["ci", "quick", "default", "long"],
                   help="run size: ci (seconds, checks the pipeline), quick (~5 min), default (~6 min on 2 idle cores), long")
    p.add_argument("--reward", help=f"reward to train with, for comparison ({', '.join(reward_names())}, or any "
                                    f"spec of vigor train); default vigor")
    p.add_argument("--task", help="reasoning-gym dataset to train and evaluate on, or a vigor alias (default "
                                  "single_digit_addition; gsm_symbolic is GSM8K-style and too hard for 135M)")
    p.add_argument("--steps", type=int, help="optimizer steps")
    p.add_argument("--num-generations", "-G", type=int, help="completions per prompt")
    p.add_argument("--prompts-per-step", type=int, help="prompts per optimizer step")
    p.add_argument("--eval-size", type=int, help="held-out problems evaluated before and after")
    p.add_argument("--train-size", type=int, help="training problems")
    p.add_argument("--max-new-tokens", type=int, help="completion length limit during training")
    p.add_argument("--eval-max-new-tokens", type=int, help="completion length limit during evaluation")
    p.add_argument("--learning-rate", type=float, help="learning rate (of the adapters with --lora)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--lora", dest="lora", action="store_true", default=None, help="train LoRA adapters")
    group.add_argument("--full", dest="lora", action="store_false", help="train all weights (the default)")
    p.add_argument("--model", nargs="?", const="default", default=None,
                   help="model folder or hub id; no value = the embedded SmolLM2-135M-Instruct")
    p.add_argument("--seed", type=int)
    p.add_argument("--output-dir", default="vigor-demo", help="the run folder")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier demo run in --output-dir")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(func=main)


def preset_table() -> str:
    from vigor.demo.settings import PRESETS, preset_settings

    rows = ["presets (options above override them; all: reward vigor, all weights, lr 1e-5, seed 0):",
            "  preset   steps   G  prompts/step  train  eval  new tokens (train/eval)"]
    for name in PRESETS:
        s = preset_settings(name)
        rows.append(f"  {name:<8}{s.steps:>6}{s.num_generations:>4}{s.prompts_per_step:>14}{s.train_size:>7}"
                    f"{s.eval_size:>6}  {s.max_new_tokens}/{s.eval_max_new_tokens}")
    return "\n".join(rows)


def main(args) -> int:
    # OpenMP threads that spin while waiting slow CPU generation ~10x when another process competes
    # for the cores (measured on 2 cores); passive waiting costs nothing when the machine is idle.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from vigor.errors import UsageError
    from vigor.demo.settings import preset_settings

    try:
        settings = preset_settings(
            args.preset, reward=args.reward, task=args.task, steps=args.steps, num_generations=args.num_generations,
            prompts_per_step=args.prompts_per_step, eval_size=args.eval_size, train_size=args.train_size,
            max_new_tokens=args.max_new_tokens, eval_max_new_tokens=args.eval_max_new_tokens, lora=args.lora,
            model=None if args.model in (None, "default") else args.model, seed=args.seed)
        if args.learning_rate is not None:
            if not args.learning_rate > 0:
                raise ValueError(f"--learning-rate must be > 0, got {args.learning_rate}")
            setattr(settings, "lora_learning_rate" if settings.lora else "learning_rate", args.learning_rate)
        settings.check()
    except ValueError as err:
        raise UsageError(str(err)) from None
    from vigor.demo.run import DemoInputError, run_demo

    try:
        run_demo(settings, args.output_dir, overwrite=args.overwrite, progress=not args.no_progress)
    except DemoInputError as err:  # found before any long work
        raise UsageError(str(err)) from None
    return 0
