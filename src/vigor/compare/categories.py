"""The report's results by category: for each held-out benchmark whose problems carry categories
(`PromptRecord.categories`: reasoning-gym's operation or source task, MATH's type and level), each facet and each
value, the accuracy of every row (reward, base model) and the paired difference of every reward against the
baseline, over that category's problems only: the same statistics as the overall tables (vigor.compare.cells).

A problem's categories are read from the held-out records, loaded again by id the way the runs' evaluations
loaded them (`benchmark_records` with the study's eval_max_samples and eval_seed), so run folders made before
the per-sample files carried "categories" get the breakdown too.

`category_indices` is the one place that says which problems form a category: a premise-by-category table (the
reward's AUROC per category, once the premise monitor logs the groups' categories) is to be built on it.
"""

from __future__ import annotations

import numpy as np

from vigor.compare.cells import cell, paired, pct
from vigor.evaluation.breakdown import category_groups


def problem_categories(benchmark: dict, identity: dict, evaluated: dict[str, str]) -> dict[str, dict[str, str]]:
    """{problem id: categories} of a study's held-out benchmark (a manifest entry: name, key, kind). `evaluated`:
    {problem id: the prompt its evaluation gave the model}; every record's problem text must be in it, so that a
    set that has changed since the runs were evaluated is never labelled by its new problems. Raises
    vigor.data.DataError when the records cannot be loaded any more (a file that moved) or do not match."""
    from vigor.data import DataError
    from vigor.evaluation.evaluate import benchmark_records

    records, _ = benchmark_records(benchmark["name"], limit=identity.get("eval_max_samples"),
                                   subset_seed=identity.get("eval_seed"))
    for r in records:
        if r.id in evaluated and r.prompt not in evaluated[r.id]:
            raise DataError(f"problem {r.id!r} is now {r.prompt[:40]!r}, not the problem its runs were evaluated on")
    return {r.id: r.categories for r in records}


def evaluated_prompts(samples_file) -> dict[str, str]:
    """{problem id: prompt} from an evaluation's per-sample file."""
    import json

    prompts = {}
    with open(samples_file) as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                prompts.setdefault(str(row["id"]), row["prompt"])
    return prompts


def category_indices(ids: list[str], categories: dict[str, dict[str, str]]) -> dict[str, dict[str, np.ndarray]]:
    """{facet: {value: positions in `ids` of the problems in it}} (`category_groups`); an id with no record is a
    KeyError."""
    groups = category_groups([categories[problem] for problem in ids])
    return {facet: {value: np.array(rows) for value, rows in values.items()} for facet, values in groups.items()}


def breakdown(stacked: dict[str, dict[str, np.ndarray]], key: str, indices: dict[str, dict[str, np.ndarray]],
              rewards: list[str], baseline: str | None) -> dict:
    """{facet: {value: {"problems", "table": {row: cell}, "versus": {reward: paired}}}} of one benchmark.
    stacked: {row: {benchmark key: [seeds, problems, samples] outcomes}}, problems in the order of the ids."""
    out: dict = {}
    for facet, values in indices.items():
        out[facet] = {}
        for value, rows in values.items():
            table = {row: cell(by_key[key][:, rows]) for row, by_key in stacked.items()}
            versus = {r: paired(stacked[r][key][:, rows], stacked[baseline][key][:, rows])
                      for r in rewards if baseline and r != baseline}
            out[facet][value] = {"problems": int(rows.size), "table": table, "versus": versus}
    return out


def category_markdown(result: dict) -> list[str]:
    """The report's section: per benchmark and facet, an accuracy table (rows x categories) and the paired
    differences against the baseline per category. [] when no benchmark has categories."""
    by_category, notes = result.get("by_category", {}), result.get("by_category_notes", {})
    if not by_category and not notes:
        return []
    lines = ["", "## By category", ""]
    for key, note in notes.items():
        lines += [f"{key}: no breakdown by category ({note}).", ""]
    for key, facets in by_category.items():
        for facet, values in facets.items():
            names = list(values)
            lines += [f"### {key}, by {facet}: final held-out accuracy (%, 95 % bootstrap interval over problems)", "",
                      "| reward | " + " | ".join(f"{v} ({values[v]['problems']})" for v in names) + " |",
                      "|---|" + "---:|" * len(names)]
            for row in next(iter(values.values()))["table"]:
                cells = [values[v]["table"][row] for v in names]
                lines.append(f"| {row} | " + " | ".join(f"{pct(c['accuracy'])} [{pct(c['ci95'][0])}, "
                                                        f"{pct(c['ci95'][1])}]" for c in cells) + " |")
            if any(values[v]["versus"] for v in names):
                lines += ["", f"Difference against {result['baseline']} by {facet} (points; paired over the same "
                          "problems):", "",
                          f"| reward | {facet} | difference | 95 % CI | reward right / baseline wrong | reverse | "
                          "McNemar p | per seed: reward / baseline (%) | seed-level p |",
                          "|---|---|---:|---|---:|---:|---:|---|---:|"]
                for reward in next(iter(values.values()))["versus"]:
                    for v in names:
                        lines.append(difference_row(reward, v, values[v]["versus"][reward]))
            lines.append("")
    return lines


def difference_row(reward: str, label: str, r: dict) -> str:
    """One row of a paired-difference table (the overall table's columns)."""
    if "ci95" not in r:  # a row over several benchmarks has no interval
        ci = ""
    else:
        ci = f"{100 * r['ci95'][0]:+.1f} to {100 * r['ci95'][1]:+.1f}" if np.all(np.isfinite(r["ci95"])) else "n/a"
    per_seed = (", ".join(pct(x) for x in r["seed_accuracies"]) + " / " +
                ", ".join(pct(x) for x in r["baseline_seed_accuracies"]))
    return (f"| {reward} | {label} | {100 * r['difference']:+.1f} | {ci} | {r['gained']} | {r['lost']} | "
            f"{r['mcnemar_p']:.3g} | {per_seed} | {r['seed_p']:.3g} |")
