"""`vigor eval`: score a model (or a predictions file) on benchmarks; writes summary.json, results.md and
per-sample JSONL to --output-dir."""

from __future__ import annotations

import sys

from vigor.precision import add_device_options

def register(subparsers):
    p = subparsers.add_parser("eval", help="evaluate a model on math/code benchmarks (or score a predictions file)",
                              description=__doc__)
    p.add_argument("--model", nargs="?", const=None, default=None, metavar="PATH_OR_NAME",
                   help="model folder or hub name (no value, or absent: the embedded SmolLM2-135M-Instruct)")
    from vigor.evaluation.catalogue import benchmark_help
    from vigor.evaluation.suites import suite_help

    p.add_argument("--benchmark", nargs="+", action="extend", default=None, metavar="NAME", help=benchmark_help())
    p.add_argument("--suite", nargs="+", action="extend", default=None, metavar="NAME", help=suite_help())
    p.add_argument("--predictions", default=None, metavar="FILE.jsonl",
                   help="score these completions ({'id', 'completion'} per line) instead of generating")
    p.add_argument("--checkpoints", default=None, metavar="RUN_DIR",
                   help="evaluate every checkpoint-N of a training run (and its final model); writes "
                        "checkpoints.md and accuracy_by_step.png")
    p.add_argument("--prompt-column", default=None, help="for a FILE benchmark: the column holding the problem")
    p.add_argument("--answer-column", default=None, help="for a FILE benchmark: the column holding the gold answer")
    p.add_argument("--category-column", default=None, metavar="COLUMN",
                   help="for a FILE benchmark: the column holding each problem's category; accuracy is then also "
                        "given by category (MATH's type and level and reasoning-gym's operation come by themselves)")
    p.add_argument("--split", default=None, help="for a dataset folder or hub set with several splits")
    p.add_argument("--samples", type=int, default=1, metavar="K", help="completions per problem (avg@K, pass@k)")
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy")
    p.add_argument("--max-new-tokens", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--limit", type=int, default=None, metavar="N", help="only the first N problems of each benchmark")
    p.add_argument("--system-prompt", default="boxed",
                   help="preset (boxed, intuitor), literal text, or 'none' for no system prompt")
    p.add_argument("--grader-timeout", type=float, default=5.0, metavar="S", help="seconds per math answer")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--allow-weak-sandbox", action="store_true",
                   help="run code benchmarks even where the sandbox cannot isolate programs (unsafe; see vigor.sandbox)")
    p.add_argument("--output-dir", default="eval_results", metavar="DIR")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars (as in vigor demo and analyze)")
    add_device_options(p, runs="generates")
    p.set_defaults(func=run)


def parse_benchmarks(values: list[str]) -> list[str]:
    names = [n.strip() for v in values for n in v.split(",") if n.strip()]
    return list(dict.fromkeys(names))


def check_args(args, benchmarks):
    from vigor.errors import UsageError

    if not benchmarks:
        raise UsageError("--benchmark: give at least one benchmark name or file")
    for flag, value, low in (("--samples", args.samples, 1), ("--max-new-tokens", args.max_new_tokens, 1),
                             ("--batch-size", args.batch_size, 1), ("--limit", args.limit, 1)):
        if value is not None and value < low:
            raise UsageError(f"{flag} must be >= {low}, got {value}")
    if args.temperature < 0:
        raise UsageError(f"--temperature must be >= 0, got {args.temperature}")
    if args.grader_timeout <= 0:
        raise UsageError(f"--grader-timeout must be > 0, got {args.grader_timeout}")
    if args.samples > 1 and args.temperature == 0:
        raise UsageError(f"--samples {args.samples} with --temperature 0 repeats one greedy completion; "
                         "set --temperature > 0")
    if args.checkpoints is not None and (args.predictions is not None or args.model is not None):
        raise UsageError("--checkpoints evaluates the run's own models: drop --model / --predictions")
    if args.predictions is not None and len(benchmarks) != 1:
        raise UsageError(f"--predictions scores one benchmark at a time, got {len(benchmarks)}: {benchmarks}")
    from vigor.precision import resolve_device_and_dtype

    try:
        resolve_device_and_dtype(args.device, args.dtype)
    except ValueError as err:
        raise UsageError(str(err)) from None


def eval_settings(args):
    """The one EvalSettings of this command: for a model, a predictions file and every checkpoint of a run."""
    from vigor.evaluation.evaluate import EvalSettings

    system = None if args.system_prompt.lower() in ("none", "") else args.system_prompt
    return EvalSettings(samples=args.samples, temperature=args.temperature, max_new_tokens=args.max_new_tokens,
                        limit=args.limit, system_prompt=system, batch_size=args.batch_size,
                        timeout_s=args.grader_timeout, seed=args.seed, allow_weak_sandbox=args.allow_weak_sandbox,
                        prompt_column=args.prompt_column, answer_column=args.answer_column, split=args.split,
                        category_column=args.category_column,
                        attn_implementation=args.attn_implementation, device=args.device, dtype=args.dtype,
                        progress=not args.no_progress)


def run(args) -> int:
    from vigor.errors import UsageError
    from vigor.data import DataError
    from vigor.sandbox import SandboxUnavailable

    from vigor.evaluation.evaluate import DEFAULT_BENCHMARK
    from vigor.evaluation.suites import suite_benchmarks

    suites = parse_benchmarks(args.suite) if args.suite is not None else []
    try:
        in_suites = suite_benchmarks(suites)
    except ValueError as err:
        raise UsageError(str(err)) from None
    named = parse_benchmarks(args.benchmark) if args.benchmark is not None else [] if suites else [DEFAULT_BENCHMARK]
    benchmarks = list(dict.fromkeys(in_suites + named))
    check_args(args, benchmarks)
    from vigor.evaluation.evaluate import evaluate, markdown_table, score_predictions

    settings = eval_settings(args)
    try:
        if args.checkpoints is not None:
            return run_checkpoints(args, benchmarks, settings)
        if args.predictions is not None:
            summary = score_predictions(benchmarks[0], args.predictions, settings, output_dir=args.output_dir)
        else:
            summary = evaluate(args.model, benchmarks, settings, output_dir=args.output_dir)
    except (DataError, FileNotFoundError) as err:
        raise UsageError(str(err)) from None
    except SandboxUnavailable as err:
        raise UsageError(f"code benchmarks need the sandbox: {str(err).splitlines()[0]} "
                         "(or pass --allow-weak-sandbox)") from None
    except ValueError as err:  # model loading and argument checks below the CLI report bad input this way
        if str(err).startswith(("--model", "--checkpoints", "--attn-implementation", "--device", "--dtype")):
            raise UsageError(str(err)) from None
        raise
    print(markdown_table(summary), end="")
    if suites:
        print_suite_averages(summary, suites, args.output_dir, args.limit)
    print(f"wrote {args.output_dir}/summary.json, results.md and per-sample JSONL", file=sys.stderr)
    return 0


def print_suite_averages(summary: dict, suites: list[str], output_dir, limit) -> None:
    """Print each suite's average, append it to results.md and write suites.json."""
    import json
    from pathlib import Path

    from vigor.evaluation.suites import averages_markdown, suite_averages

    averages = suite_averages(summary, suites)
    text = averages_markdown(averages, limit)
    print(text, end="")
    out = Path(output_dir)
    with open(out / "results.md", "a") as f:
        f.write(text)
    (out / "suites.json").write_text(json.dumps({"limit": limit, **averages}, indent=2) + "\n")


def run_checkpoints(args, benchmarks, settings) -> int:
    from pathlib import Path

    from vigor.evaluation.checkpoints import evaluate_checkpoints
    from vigor.evaluation.evaluate import benchmark_records

    # read once, for every checkpoint: a bad file or column is an error before the output folder is made
    loaded = {name: benchmark_records(name, limit=settings.limit, columns=settings.columns,
                                      subset_seed=settings.subset_seed) for name in benchmarks}
    evaluate_checkpoints(args.checkpoints, benchmarks, args.output_dir, settings, loaded=loaded)
    print((Path(args.output_dir) / "checkpoints.md").read_text(), end="")
    print(f"wrote {args.output_dir}/checkpoints.md, checkpoints.json, accuracy_by_step.png", file=sys.stderr)
    return 0
