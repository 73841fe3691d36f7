"""The report's premise section and its arms' settings (issue 17, items 2 and 4).

The premise: does an arm's own training reward still tell right answers from wrong ones as training goes on
(vigor.training.premise logs it whenever gold exists)? For each arm, its training signal is the reward it
trains on, as the monitor names it (`trained_signal`: VIGOR without the sqrt(T) correction is
`vigor_uncorrected`).

- premise_by_step.png: `premise/<signal>/auroc_window` of each run by step, the mean over seeds as the line and
  the lowest to highest seed as the band (`by_step`, as the other compare plots), with the 0.5 of a signal that
  does not rank right answers above wrong ones;
- the quarters table: AUROC over the first and over the last quarter of training (steps 1 .. ceil(T/4), and
  T - ceil(T/4) + 1 .. T, T the study's max_steps), pooling every mixed group's AUROC of premise_groups.jsonl over
  those steps and over seeds, each group counting once: the mean, with a 95 % percentile bootstrap interval over
  groups (`bootstrap_ci`, RESAMPLES draws, seed 0);
- the same quarters by category, when the training prompts carry categories (premise_groups.jsonl then names each
  mixed group's category, {axis: value}): one row per arm and "axis: value", pooling only that category's groups.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from vigor.analysis.stats import bootstrap_ci
from vigor.compare.arms import arm_folder, parse_arm
from vigor.training.callbacks import read_records
from vigor.training.premise import RECORDS_FILE, signal_name
from vigor.training.recipe import departures, departures_markdown

PLOT = "premise_by_step.png"
RESAMPLES = 2000


def trained_signal(entry: str, identity: dict) -> str:
    """The premise signal an arm trains on: its reward's name, VIGOR uncorrected when its length correction is
    off (by the arm's option, its field, or the study's field), as vigor.training.premise.trained_signals names it."""
    from types import SimpleNamespace

    from vigor.rewards import term_for

    arm = parse_arm(entry)
    # its options as its runs had them (options_of: the defaults < the study's and the arm's fields < the arm's own)
    term = term_for(arm.reward_name, config=SimpleNamespace(**{**identity, **arm.fields}), given=arm.options)
    return signal_name(term.name, getattr(term.options, "length_correction", True))


def read_groups(folder: Path) -> list[dict]:
    """premise_groups.jsonl of a run ([] when the monitor did not run), one record per logged step."""
    return [record for _, record in read_records(str(Path(folder) / RECORDS_FILE))]


def quarter_steps(max_steps: int) -> tuple[range, range]:
    """(first quarter, last quarter) of steps 1..max_steps, each ceil(max_steps / 4) steps long."""
    q = max(1, math.ceil(max_steps / 4))
    return range(1, q + 1), range(max_steps - q + 1, max_steps + 1)


def pooled(records_per_seed: list[list[dict]], signal: str, steps: range, category: str | None = None) -> np.ndarray:
    """Every mixed group's AUROC of `signal` at `steps`, over seeds (a step logged twice, by a resumed run,
    keeps its last record); with `category` ("axis: value"), only the groups of that category."""
    values = []
    for records in records_per_seed:
        last = {r["step"]: r for r in records}
        for s in steps:
            if s not in last:
                continue
            groups = last[s]["groups"].get(signal, [])
            if category is None:
                values += groups
            else:  # "categories" holds one {axis: value} (or None) per mixed group, in the groups' order
                values += [v for v, c in zip(groups, last[s].get("categories") or []) if category in labels(c)]
    return np.asarray(values, dtype=np.float64)


def labels(category: dict | None) -> list[str]:
    """A group's category as labels, one per axis ("operation: addition"; MATH: "type: Algebra", "level: Level 3")."""
    return [f"{axis}: {value}" for axis, value in sorted((category or {}).items())]


def category_labels(records_per_seed: list[list[dict]]) -> list[str]:
    """Every category label the runs' mixed groups carry, sorted."""
    return sorted({label for records in records_per_seed for r in records for c in r.get("categories") or []
                   for label in labels(c)})


def quarter_cell(values: np.ndarray) -> dict:
    low, high = bootstrap_ci(lambda idx: values[idx].mean(), values.size, resamples=RESAMPLES)
    return {"auroc": float(values.mean()) if values.size else float("nan"), "ci95": [low, high],
            "groups": int(values.size)}


def premise_summary(out: Path, manifest: dict, rewards: list[str], seeds: list[int]) -> dict:
    """{arm: {"signal", "curve": (steps, mean, min, max), "first", "last": quarter cells}}; {} when no run of the
    study logged the premise."""
    from vigor.compare.curves import by_step
    from vigor.training.callbacks import read_metrics

    identity = manifest["identity"]
    steps = int(identity.get("max_steps") or 0)
    out_rows = {}
    for entry in rewards:
        signal = trained_signal(entry, identity)
        folders = [Path(out) / arm_folder(entry) / f"seed{s}" for s in seeds]
        key = f"premise/{signal}/auroc_window"
        runs = [{"metrics": read_metrics(str(f))} for f in folders]
        curve = by_step(runs, key, evals=False)
        records = [read_groups(f) for f in folders]
        if not curve[0] and not any(records):
            continue
        last_step = steps or max((r["step"] for rs in records for r in rs), default=0)
        first, last = quarter_steps(last_step) if last_step else (range(0), range(0))
        out_rows[entry] = {"signal": signal, "curve": curve, "first_steps": [first.start, first.stop - 1],
                           "last_steps": [last.start, last.stop - 1],
                           "first": quarter_cell(pooled(records, signal, first)),
                           "last": quarter_cell(pooled(records, signal, last)),
                           "by_category": {label: {"first": quarter_cell(pooled(records, signal, first, label)),
                                                   "last": quarter_cell(pooled(records, signal, last, label))}
                                           for label in category_labels(records)}}
    return out_rows


def premise_plot(summary: dict, out: Path) -> list[str]:
    """premise_by_step.png (or nothing when no arm logged the premise)."""
    from vigor.evaluation.plots import plot_by_step

    lines = {f"{entry} ({row['signal']})": row["curve"] for entry, row in summary.items() if row["curve"][0]}
    if not lines:
        return []
    steps = sorted({s for c in lines.values() for s in c[0]})
    lines["0.5: no better than chance"] = (steps, [0.5] * len(steps), None, None)
    plot_by_step(Path(out) / PLOT, [("premise: the training reward's windowed AUROC against gold", "AUROC", lines)],
                 columns=1)
    return [PLOT]


def interval(cell: dict) -> str:
    low, high = cell["ci95"]
    if not np.isfinite(cell["auroc"]):
        return "no mixed group"
    ci = f" [{low:.3f}, {high:.3f}]" if np.isfinite(low) and np.isfinite(high) else ""
    return f"{cell['auroc']:.3f}{ci} ({cell['groups']} groups)"


def premise_markdown(summary: dict, files: list[str], window: int | None) -> list[str]:
    if not summary:
        return ["", "## The premise during training", "",
                "No run logged the premise (it needs gold answers and `premise_monitor` on)."]
    lines = ["", "## The premise during training", "",
             "Does each arm's own training reward still rank right answers above wrong ones? Within-group AUROC "
             "against gold correctness over the mixed groups (0.5: no better than chance; below: it prefers wrong "
             "answers).", ""]
    lines += [f"![{f}]({f})" for f in files]
    if files:
        lines += ["", f"Windowed AUROC (the last {window or 'few'} logged steps) by step; line: mean over seeds, "
                  "band: lowest to highest seed.", ""]
    lines += ["| arm | signal | first quarter (steps) | AUROC [95 % CI] | last quarter (steps) | AUROC [95 % CI] |",
              "|---|---|---|---|---|---|"]
    for entry, row in summary.items():
        lines.append(f"| {entry} | {row['signal']} | {row['first_steps'][0]}-{row['first_steps'][1]} | "
                     f"{interval(row['first'])} | {row['last_steps'][0]}-{row['last_steps'][1]} | "
                     f"{interval(row['last'])} |")
    lines += ["", "Each quarter pools every mixed group's AUROC over its steps and over seeds (each group once); "
              "interval: percentile bootstrap over groups."]
    if any(row.get("by_category") for row in summary.values()):
        lines += ["", "### The premise by category", "",
                  "| arm | category | first quarter AUROC [95 % CI] | last quarter AUROC [95 % CI] |",
                  "|---|---|---|---|"]
        for entry, row in summary.items():
            for label, cells in row.get("by_category", {}).items():
                lines.append(f"| {entry} | {label} | {interval(cells['first'])} | {interval(cells['last'])} |")
        lines += ["", "The same quarters, pooling only the mixed groups whose prompt is of that category."]
    return lines


def settings_markdown(manifest: dict, rewards: list[str]) -> list[str]:
    """The arms' settings that differ from the study's ([] when no arm sets any)."""
    arms = manifest.get("arms", {})
    rows = [(e, arms.get(e, {}).get("differs", {})) for e in rewards]
    if not any(arms.get(e, {}).get("fields") or arms.get(e, {}).get("options") for e in rewards):
        return []
    lines = ["", "## Arms", "", "| arm | folder | settings that differ from the study's |", "|---|---|---|"]
    for entry, differs in rows:
        text = ", ".join(f"{k} = {v}" for k, v in differs.items()) or "none"
        lines.append(f"| {entry} | {arms.get(entry, {}).get('folder', arm_folder(entry))}/ | {text} |")
    return lines


def premise_section(out: Path, manifest: dict, result: dict) -> str:
    """The report's text after its other sections; adds "premise" and "arms" to `result` (report.json)."""
    summary = premise_summary(out, manifest, result["rewards"], result["seeds"])
    files = premise_plot(summary, out)
    result["premise"] = summary
    result["arms"] = {e: manifest.get("arms", {}).get(e, {}) for e in result["rewards"]}
    lines = settings_markdown(manifest, result["rewards"])
    arms = {e: (manifest.get("arms", {}).get(e) or {}).get("fields") or {} for e in result["rewards"]}
    result["departures"] = departures(manifest["identity"])
    lines += departures_markdown(manifest["identity"], per_arm={e: f for e, f in arms.items() if f})
    lines += premise_markdown(summary, files, manifest["identity"].get("premise_window_steps"))
    return "\n".join(lines) + "\n"
