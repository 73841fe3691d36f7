"""`vigor compare`: train one run per (reward, seed) on identical data, evaluate them on held-out
benchmarks while they train, and write a report (report.md + PNGs) answering whether one reward
beats another. Any `vigor train` config field can be given as --field-name value (or in --config).
An entry of --rewards is an arm: a reward with optional settings after '+', each a reward option or a config
field of that arm alone: vigor+length_correction=false, self_certainty+learning_rate=2e-6+beta=0.01.
Rerunning the command skips finished runs and resumes interrupted ones."""

from __future__ import annotations

import argparse
from pathlib import Path

from vigor.compare.arms import FORBIDDEN_FIELDS
from vigor.compare.presets import PRESETS


def register(subparsers) -> None:
    p = subparsers.add_parser("compare", help="train with several rewards and seeds, evaluate and compare them",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                              epilog=preset_help(), allow_abbrev=False,  # --seed is a field, not --seeds
                              field_options=True)  # unknown options are config fields, checked later
    p.add_argument("--preset", choices=sorted(PRESETS), help="a ready study (options below override it)")
    p.add_argument("--model", nargs="?", const="default", default=None, metavar="PATH_OR_NAME",
                   help="model folder or hub id (no value: the embedded SmolLM2-135M-Instruct)")
    p.add_argument("--dataset", metavar="PATH_OR_NAME", help="training prompts (as for vigor train)")
    p.add_argument("--rewards", nargs="+", metavar="REWARD[+NAME=VALUE...]",
                   help="one run per entry (an arm: a reward, with its own options or config fields after '+') and seed")
    p.add_argument("--seeds", nargs="+", type=int, metavar="K", help="seeds (default: 0)")
    p.add_argument("--baseline", metavar="REWARD", help="the reward every other is compared against (paired)")
    p.add_argument("--output-dir", "--output_dir", dest="output_dir", metavar="DIR", help="the study folder")
    p.add_argument("--config", metavar="RECIPE.yaml", help="YAML of config fields shared by every run")
    p.add_argument("--max-steps", dest="max_steps", type=int, metavar="N")
    p.add_argument("--eval-benchmark", nargs="+", metavar="NAME", help="held-out benchmarks (as for vigor eval)")
    p.add_argument("--eval-steps", type=int, metavar="N", help="evaluate every N steps (and at step 0 and the end)")
    p.add_argument("--eval-max-samples", type=int, metavar="K", help="a fixed seeded subset of K problems")
    p.add_argument("--eval-samples", type=int, metavar="S", help="avg@S with temperature (1 = greedy)")
    p.set_defaults(func=run)


def preset_help() -> str:
    lines = ["presets:"]
    for name, preset in PRESETS.items():
        lines.append(f"  {name}: {preset['about']}")
    return "\n".join(lines)


def check_names(rewards: list[str], seeds: list[int], baseline: str | None) -> list:
    """The arms of `rewards` (vigor.compare.arms.parse_arms: names, settings and their types checked)."""
    from vigor.compare.arms import parse_arms
    from vigor.errors import UsageError

    arms = parse_arms(rewards)
    if len(set(seeds)) != len(seeds):
        raise UsageError(f"--seeds: duplicate seeds {seeds}; each seed gives one run per reward")
    if baseline is not None and baseline not in rewards:
        raise UsageError(f"--baseline {baseline} is not among --rewards {' '.join(rewards)}")
    return arms


def check_field_options(args) -> None:
    """No `--field-name value` for a field vigor compare sets per run."""
    from vigor.errors import UsageError

    for token in args.field_options:
        name = token.split("=", 1)[0].lstrip("-").replace("-", "_")
        if token.startswith("-") and name in FORBIDDEN_FIELDS:
            raise UsageError(f"--{name.replace('_', '-')} is set per run by vigor compare; use {FORBIDDEN_FIELDS[name]}")


def build_run_config(args, defaults: dict, *, output_dir, reward: str, **fields):
    """The config of one run (or of the study's shared settings): the command line's fields (its named options
    --model, --dataset, --max-steps, --eval-... included) over the preset's `defaults`, with the run's folder,
    reward and the typed `fields` set on it. A user's `--field-name value` would sit above them, but none can
    differ: the per-run fields are refused as options (FORBIDDEN_FIELDS), the save settings are set only where
    the user gave none, and the data seed is the user's when given."""
    from vigor.training.configure import build_config

    return build_config(args, defaults, overrides={"output_dir": str(output_dir), "reward": reward, **fields})


def checkpoint_settings(given: set[str], every: int) -> dict:
    """A checkpoint at each evaluation, so that an interrupted run resumes there, and only the last one kept;
    each setting the user gave (preset, recipe or command line) is left as given."""
    wanted = {"save_strategy": "steps", "save_steps": every, "save_total_limit": 1}
    return {field: value for field, value in wanted.items() if field not in given}


def run_configs(args, defaults: dict, runs, *, out: Path, data_seed: int, every: int, arms: dict | None = None) -> list:
    """The config of each run: the study's settings, its arm's reward spec and fields ({entry: Arm}; by default
    parsed from the runs' entries), its seed, the shared data seed and base evaluation, best/ kept, a checkpoint
    at each evaluation unless the user set the checkpointing."""
    from vigor.compare.arms import parse_arms
    from vigor.training.configure import given_fields

    arms = arms or {a.entry: a for a in parse_arms(list(dict.fromkeys(r.reward for r in runs)))}
    save = checkpoint_settings(given_fields(args, defaults), every)
    return [arm_config(args, defaults, arms[r.reward], output_dir=r.folder, seed=r.seed, data_seed=data_seed,
                       save_best=True, eval_initial_dir=str(out / "base"), **save) for r in runs]


def arm_config(args, defaults: dict, arm, *, output_dir, **fields):
    """An arm's config: the study's (`build_run_config`) with the arm's reward spec, and its own fields above
    every other layer, the command line's `--field value` included (those tokens are left out for this arm)."""
    import copy

    from vigor.compare.arms import without_fields

    own = copy.copy(args)
    own.field_options = without_fields(args.field_options, set(arm.fields))
    return build_run_config(own, defaults, output_dir=output_dir, reward=arm.reward, **{**fields, **arm.fields})


def check_arms(args, defaults: dict, arms: list, base, out: Path) -> dict:
    """{entry: manifest record} of each arm, its config built and checked before anything loads: its reward spec
    parsed with its options, and (when it sets config fields) every check vigor train makes before loading."""
    from vigor.compare.arms import arm_record
    from vigor.errors import UsageError
    from vigor.rewards import parse_rewards
    from vigor.training.preflight import ConfigError, check_before_loading

    records = {}
    for arm in arms:
        config = arm_config(args, defaults, arm, output_dir=out / arm.folder)
        try:
            parse_rewards(config.reward, config)
            if arm.fields:
                check_before_loading(config)
        except (ValueError, ConfigError) as err:
            raise UsageError(f"--rewards {arm.entry}: {str(err).splitlines()[0]}") from None
        records[arm.entry] = arm_record(arm, config, base)
    return records


def seeds_note(n_seeds: int, alpha: float = 0.05) -> str:
    """A note, before training, when the report's seed-level test cannot reach `alpha` with this many seeds."""
    from vigor.analysis.stats import smallest_permutation_p

    floor = smallest_permutation_p(n_seeds, n_seeds)
    if floor < alpha:
        return ""
    enough = next(n for n in range(n_seeds + 1, 100) if smallest_permutation_p(n, n) < alpha)
    return (f"note: with {n_seeds} seed(s) per reward the report's seed-level test cannot go below "
            f"p = {floor:.2g}, so no difference can be established across seeds; "
            f"{enough} seeds per reward can (--seeds {' '.join(str(k) for k in range(enough))})")


def run(args) -> int:
    from vigor.errors import UsageError

    preset = PRESETS[args.preset] if args.preset else {}
    rewards = args.rewards or preset.get("rewards") or ["vigor", "self_certainty"]
    seeds = args.seeds if args.seeds is not None else preset.get("seeds", [0])
    baseline = args.baseline or preset.get("baseline")
    if baseline is None and "self_certainty" in rewards:
        baseline = "self_certainty"
    arms = check_names(rewards, seeds, baseline)
    if not args.output_dir:
        raise UsageError("--output-dir is required")
    defaults = dict(preset.get("fields", {}))
    check_field_options(args)
    # the study's shared settings, with every reward at once so that what one of them needs (gradients under
    # sharding, the sandbox for accuracy on code tests) is checked before any run starts
    base = build_run_config(args, defaults, output_dir=args.output_dir,
                            reward=",".join(dict.fromkeys(a.reward_name for a in arms)))
    if not base.eval_benchmark:
        raise UsageError("--eval-benchmark: give at least one held-out benchmark (as for vigor eval)")

    from vigor.compare.study import StudyError, check_manifest, check_study_folder, run_specs
    from vigor.training.preflight import ConfigError, check_before_loading

    try:
        checked = check_before_loading(base)
    except ConfigError as err:
        try:  # a run's folder given as the study's: say that, not vigor train's --resume/--overwrite
            check_study_folder(Path(args.output_dir))
        except StudyError as folder_error:
            raise UsageError(str(folder_error)) from None
        raise UsageError(str(err)) from None
    from vigor.evaluation.evaluate import file_key

    model_path = checked.model_path
    benchmarks = [{"name": b, "key": file_key(b), "kind": checked.benchmark_kinds[b]} for b in base.eval_benchmark]
    out = Path(args.output_dir)
    records = check_arms(args, defaults, arms, base, out)
    try:
        manifest = check_manifest(out, base, rewards, seeds, benchmarks, records)
    except StudyError as err:
        raise UsageError(str(err)) from None
    data_seed = base.data_seed if base.data_seed is not None else base.seed
    manifest.update(baseline=baseline, data_seed=data_seed)
    every = int(base.eval_steps) if base.eval_steps else base.max_steps
    runs = run_specs(out, rewards, seeds)
    configs = run_configs(args, defaults, runs, out=out, data_seed=data_seed, every=every,
                          arms={a.entry: a for a in arms})

    import json

    from vigor.compare.report import write_report
    from vigor.compare.study import MANIFEST, evaluate_base, train_run

    note = seeds_note(len(seeds)) if baseline and len(rewards) > 1 else ""
    if note:
        print(note)
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    evaluate_base(out, base, model_path)
    for spec, config in zip(runs, configs):
        train_run(spec, config, out)
    report = write_report(out, manifest, rewards=rewards, seeds=seeds)
    print(report["verdict"])
    print(f"wrote {out}/report.md and its plots")
    return 0
