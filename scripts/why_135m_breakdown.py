"""What the why-135m study's runs did, beyond the compare report: held-out answers split by whether the
completion reached the length cap, the kinds of wrong answer on subtraction, and the training-time length and
entropy, and every monitored signal's premise on each arm's own mixed groups. Reads a `vigor compare --preset why-135m` folder; prints markdown tables.

    .venv/bin/python scripts/why_135m_breakdown.py runs/why-135m > breakdown.md

Two approximations, both stated in the tables' notes:
- The held-out samples keep the completion's text, not its token count, so "at the cap" is the completion's
  text re-tokenized to at least `cap - 1` tokens (decoding then encoding can merge or split one token at the
  end; one token of slack keeps a truncated completion from counting as finished).
- The kind of a wrong answer is read from the number the grader extracted and the problem's two operands
  (`classify`): on this task a truncated completion that restated the problem ends on an operand, which the
  grader takes as the answer.
"""
import argparse
import glob
import json
import os
import re
import statistics
from collections import Counter

import numpy as np

PROBLEM = re.compile(r"Calculate (-?\d+) ([+-]) (-?\d+)")
KINDS = ["right", "right, an operand", "operand", "b-a", "a+b", "other", "no number"]


def classify(row: dict) -> str:
    """The kind of a held-out answer to "Calculate a - b." or "Calculate a + b.": right; right where the answer is
    one of the operands; a wrong operand (the completion stopped on a restated number); b - a (the subtraction reversed); a + b on a subtraction; another
    number; no number."""
    a, op, b = PROBLEM.search(row["prompt"]).groups()
    a, b = int(a), int(b)
    if row["correct"]:  # a - 0, 2b - b, a + 0: a completion that only restates the problem can end on the answer
        return "right, an operand" if (a - b if op == "-" else a + b) in (a, b) else "right"
    try:
        value = float(row["extracted"])
    except (TypeError, ValueError):
        return "no number"
    if value in (a, b):
        return "operand"
    if op == "-" and value == b - a:
        return "b-a"
    if op == "-" and value == a + b:
        return "a+b"
    return "other"


def mean_sd(values):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def arm_runs(study: str) -> dict[str, list[str]]:
    """{arm: its finished runs' folders (those holding run.json)}, from the study's manifest."""
    arms = json.load(open(os.path.join(study, "study.json")))["arms"]
    return {arm: sorted(seed for seed in glob.glob(os.path.join(study, spec["folder"], "seed*"))
                        if os.path.exists(os.path.join(seed, "run.json")))  # finished runs only
            for arm, spec in arms.items()}


def heldout_table(study: str, runs: dict, tokens, cap: int) -> list[str]:
    lines = [f"| arm | step | seeds | accuracy | at the cap | accuracy below the cap | accuracy at the cap |",
             "|---|---:|---:|---|---|---|---|"]
    steps = sorted({int(os.path.basename(p)[5:]) for seed in sum(runs.values(), [])
                    for p in glob.glob(os.path.join(seed, "eval", "step-*"))})
    for arm, seeds in runs.items():
        for step in steps:
            acc, at_cap, below_acc, cap_acc = [], [], [], []
            for seed in seeds:
                files = glob.glob(os.path.join(seed, "eval", f"step-{step}", "*.samples.jsonl"))
                if not files:
                    continue
                rows = [json.loads(line) for line in open(files[0])]
                capped = [tokens(r["completion"]) >= cap - 1 for r in rows]
                acc.append(sum(r["correct"] for r in rows) / len(rows))
                at_cap.append(sum(capped) / len(rows))
                below = [r["correct"] for r, c in zip(rows, capped) if not c]
                over = [r["correct"] for r, c in zip(rows, capped) if c]
                below_acc.append(sum(below) / len(below) if below else None)
                cap_acc.append(sum(over) / len(over) if over else None)
            if acc:
                lines.append(f"| {arm} | {step} | {len(acc)} | {mean_sd(acc)} | {mean_sd(at_cap)} | "
                             f"{mean_sd(below_acc)} | {mean_sd(cap_acc)} |")
    return lines


def error_table(runs: dict, step: int, operation: str, base: str | None = None) -> list[str]:
    """Kinds of answer per arm at `step`, pooled over seeds; a last row for the base model's evaluation (the
    folder `base`, when given)."""
    lines = [f"| arm | seeds | problems | " + " | ".join(KINDS) + " |", "|---|---:|---:|" + "---:|" * len(KINDS)]
    sources = {arm: [glob.glob(os.path.join(seed, "eval", f"step-{step}", "*.samples.jsonl")) for seed in seeds]
               for arm, seeds in runs.items()}
    if base:
        sources["base model"] = [glob.glob(os.path.join(base, "*.samples.jsonl"))]
    for arm, per_seed in sources.items():
        counts, n, used = Counter(), 0, 0
        for files in per_seed:
            if not files:
                continue
            used += 1
            rows = [json.loads(line) for line in open(files[0])]
            rows = [r for r in rows if (r.get("categories") or {}).get("operation") == operation]
            counts.update(classify(r) for r in rows)
            n += len(rows)
        if n:
            lines.append(f"| {arm} | {used} | {n} | " + " | ".join(f"{100 * counts[k] / n:.0f} %" for k in KINDS)
                         + " |")
    return lines


def training_table(runs: dict, steps: int) -> list[str]:
    from vigor.training.callbacks import read_metrics

    quarter = max(1, steps // 4)
    lines = ["| arm | seeds | steps | hit the cap | mean length | entropy | sampled accuracy | collapse guard fired |",
             "|---|---:|---|---|---|---|---|---|"]
    for arm, seeds in runs.items():
        for lo, hi in [(1, quarter), (steps - quarter + 1, steps)]:
            cols = {k: [] for k in ["completions/clipped_ratio", "completions/mean_length", "entropy",
                                    "rewards/accuracy/mean"]}
            fired = []
            for seed in seeds:
                rows = [r for r in read_metrics(seed) if "loss" in r and lo <= r["step"] <= hi]
                for key in cols:
                    values = [r[key] for r in rows if key in r]
                    cols[key].append(statistics.mean(values) if values else None)
                guard = os.path.join(seed, "collapse_guard.json")
                fired.append(str(json.load(open(guard))["step"]) if os.path.exists(guard) else "-")
            lines.append(f"| {arm} | {len(seeds)} | {lo}-{hi} | " + " | ".join(mean_sd(v) for v in cols.values())
                         + f" | {', '.join(fired) if lo == 1 else ''} |")
    return lines


def premise_table(runs: dict, steps: int) -> list[str]:
    """Every signal a run's premise monitor logged, on the same mixed groups (the arm's own completions): pooled
    over seeds per quarter and over the whole run, with compare's pooling and interval (vigor.compare.premise_report).
    """
    from vigor.compare.premise_report import interval, pooled, quarter_cell, quarter_steps, read_groups

    first, last = quarter_steps(steps)
    signals = ["vigor", "vigor_uncorrected", "self_certainty", "neg_entropy", "logprob", "length"]
    lines = ["| groups of | steps | " + " | ".join(signals) + " |", "|---|---|" + "---|" * len(signals)]
    for arm, seeds in runs.items():
        records = [read_groups(seed) for seed in seeds]
        for span in (first, last, range(1, steps + 1)):
            cells = [pooled(records, signal, span) for signal in signals]
            if not any(c.size for c in cells):
                continue
            lines.append(f"| {arm} | {span.start}-{span.stop - 1} | "
                         + " | ".join(interval(quarter_cell(c)) if c.size else "-" for c in cells) + " |")
    return lines


def group_kind(correct: list[bool]) -> str:
    return "all right" if all(correct) else "all wrong" if not any(correct) else "mixed"


def completion_groups(seeds: list[str]) -> list[list[dict]]:
    """The sampled groups of runs made with `--log-completions 1` (completions.jsonl), each a list of G rows in
    sampling order; [] when no run logged them."""
    from vigor.training.callbacks import read_records  # torch and transformers: after the argument checks
    from vigor.training.completions import COMPLETIONS_FILE

    groups = []
    for seed in seeds:
        by_group: dict[tuple, list[dict]] = {}
        # a resumed run has already dropped the rows sampled at or after its checkpoint: each group is here once
        for _, r in read_records(os.path.join(seed, COMPLETIONS_FILE)):
            by_group.setdefault((r["step"], r["group"]), []).append(r)
        groups += list(by_group.values())
    return groups


def reinforced_table(runs: dict, tokens, cap: int) -> list[str]:
    """What each arm's advantage favoured in its own sampled groups, by kind of group: within-group AUROC of the
    advantage for the completions that finished below the cap against those at it, and (mixed groups) for the
    right answers against the wrong ones; pooled over groups and seeds, percentile bootstrap over groups."""
    from vigor.analysis.stats import group_aurocs
    from vigor.compare.premise_report import interval, quarter_cell

    lines = ["| arm | operation | groups | kind of group | groups of it | at the cap | advantage: finished over "
             "at the cap (AUROC) | advantage: right over wrong (AUROC) |", "|---|---|---:|---|---:|---|---|---|"]
    for arm, seeds in runs.items():
        groups = completion_groups(seeds)
        if not groups:
            continue
        for operation in ["+", "-"]:
            chosen = [g for g in groups if PROBLEM.search(g[0]["prompt"])[2] == operation]
            for kind in ["all wrong", "mixed", "all right"]:
                these = [g for g in chosen if group_kind([r["correct"] for r in g]) == kind]
                if not these:
                    continue
                adv = np.array([[r["advantage"] for r in g] for g in these], dtype=np.float64)
                finished = np.array([[tokens(r["completion"]) < cap - 1 for r in g] for g in these])
                right = np.array([[r["correct"] for r in g] for g in these])
                by_finish = quarter_cell(group_aurocs(adv, finished))
                by_right = interval(quarter_cell(group_aurocs(adv, right))) if kind == "mixed" else ""
                lines.append(f"| {arm} | {'addition' if operation == '+' else 'subtraction'} | {len(chosen)} | "
                             f"{kind} | {len(these)} | {1 - finished.mean():.2f} | {interval(by_finish)} | {by_right} |")
    return lines


# (arm, against): the comparisons the verdict's rules name (docs/results/why-135m.md), besides compare's own against
# self-certainty; "base" is the untrained model
PAIRS = [("vigor+length_correction=false", "vigor"), ("vigor+grad_params=model\\.layers\\.(28|29)\\.", "vigor"),
         ("logprob", "vigor"), ("vigor+learning_rate=2e-6+beta=0.01+warmup_steps=0.1",
                                "self_certainty+learning_rate=2e-6+beta=0.01+warmup_steps=0.1"),
         ("vigor+learning_rate=2e-6+beta=0.01+warmup_steps=0.1", "base"),
         ("self_certainty+learning_rate=2e-6+beta=0.01+warmup_steps=0.1", "base"),
         ("vigor", "base"), ("self_certainty", "base"), ("logprob", "self_certainty")]


def outcomes(files: list[str]) -> np.ndarray:
    """[runs, problems, samples] correctness from held-out samples files, in problem-id order, read as compare's
    report reads them (vigor.compare.report.read_outcomes: each problem's samples in sample order)."""
    from vigor.compare.report import outcome_array, read_outcomes

    per_run = [read_outcomes(os.path.dirname(path), os.path.basename(path).removesuffix(".samples.jsonl"))
               for path in files]
    ids = sorted(per_run[0])
    return np.stack([outcome_array(by_id, ids) for by_id in per_run])


def pairs_table(study: str, runs: dict, step: int, pairs=PAIRS) -> list[str]:
    """Paired differences at `step` with compare's statistics (vigor.compare.cells.paired): each arm's seeds against
    the other arm's same seeds, or against the base model's one evaluation repeated for every seed."""
    from vigor.compare.cells import paired, pct

    def files(seeds):
        return [f for seed in seeds for f in glob.glob(os.path.join(seed, "eval", f"step-{step}", "*.samples.jsonl"))]

    lines = ["| arm | against | seeds | difference (points) | 95 % CI | right/wrong | wrong/right | McNemar p | "
             "per seed: arm / against (%) | seed-level p |", "|---|---|---:|---:|---|---:|---:|---:|---|---:|"]
    base = glob.glob(os.path.join(study, "base", "*.samples.jsonl"))
    for arm, against in pairs:
        if arm not in runs or (against != "base" and against not in runs):
            continue
        mine = {os.path.basename(s): s for s in runs[arm]}
        theirs = {} if against == "base" else {os.path.basename(s): s for s in runs[against]}
        seeds = sorted(mine) if against == "base" else sorted(set(mine) & set(theirs))
        a = outcomes(files([mine[s] for s in seeds]))
        b = np.repeat(outcomes(base), len(seeds), axis=0) if against == "base" else \
            outcomes(files([theirs[s] for s in seeds]))
        if a.shape != b.shape:
            continue
        cell = paired(a, b)
        seed_cells = ", ".join(pct(x) for x in cell["seed_accuracies"]) + " / " + \
            (pct(cell["baseline_seed_accuracies"][0]) if against == "base" else
             ", ".join(pct(x) for x in cell["baseline_seed_accuracies"]))
        seed_p = "-" if against == "base" else f"{cell['seed_p']:.3g}"
        lines.append(f"| {arm} | {against} | {len(seeds)} | {100 * cell['difference']:+.1f} | "
                     f"{100 * cell['ci95'][0]:+.1f} to {100 * cell['ci95'][1]:+.1f} | {cell['gained']} | {cell['lost']} | "
                     f"{cell['mcnemar_p']:.3g} | {seed_cells} | {seed_p} |")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("study", help="a vigor compare folder (holds study.json)")
    args = parser.parse_args(argv)
    if not os.path.exists(os.path.join(args.study, "study.json")):
        parser.error(f"study {args.study!r} holds no study.json")
    identity = json.load(open(os.path.join(args.study, "study.json")))["identity"]
    cap = min(v for v in (identity.get("eval_max_new_tokens"), identity.get("max_completion_length")) if v)
    runs = {arm: seeds for arm, seeds in arm_runs(args.study).items() if seeds}
    from transformers import AutoTokenizer  # after the argument checks: slow to import
    tokenizer = AutoTokenizer.from_pretrained(next(iter(runs.values()))[0])
    tokens = lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])  # noqa: E731
    print(f"## Held-out answers and the {cap}-token cap (mean ± sd over seeds)\n")
    print("\n".join(heldout_table(args.study, runs, tokens, cap)))
    print(f"\n## Paired differences at step {identity['max_steps']}\n")
    print("\n".join(pairs_table(args.study, runs, identity["max_steps"])))
    print("\nThe base model has one evaluation, so against it no seed-level test exists; its McNemar pairs every seed "
          "with that one evaluation.")
    print(f"\n\"At the cap\": the completion re-tokenized to at least {cap - 1} tokens.\n")
    last = identity["max_steps"]
    for operation in ["subtraction", "addition"]:
        print(f"## Held-out {operation}: kinds of answer at step {last} (pooled over seeds)\n")
        print("\n".join(error_table(runs, last, operation, os.path.join(args.study, "base"))) + "\n")
    print("## The premise on the same groups (within-group AUROC against gold, pooled over seeds)\n")
    print("\n".join(premise_table(runs, last)) + "\n")
    reinforced = reinforced_table(runs, tokens, cap)
    if len(reinforced) > 2:
        print("## What the advantage favoured in the sampled groups (runs with --log-completions 1)\n")
        print("\n".join(reinforced) + "\n")
        print(f"AUROC of the advantage within each group that holds both kinds of completion (0.5: indifferent); "
              f"\"at the cap\": share of the sampled completions re-tokenized to at least {cap - 1} tokens.\n")
    print("## Training: first and last quarter (mean ± sd over seeds of each run's mean)\n")
    print("\n".join(training_table(runs, last)))


if __name__ == "__main__":
    main()
