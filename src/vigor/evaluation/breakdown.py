"""Accuracy by category (`PromptRecord.categories`): for each facet a benchmark's records carry (MATH's `type` and
`level`, reasoning-gym's `operation` or source `task`, a user's --category-column) and each value of it,

  accuracy = mean correctness over the category's problems x samples (avg@K, like the benchmark's accuracy)
  ci95     = 95 % percentile bootstrap over the category's problems, each problem keeping all its samples
             (samples of one problem are not independent): scipy.stats.bootstrap of the per-problem mean
             correctness, RESAMPLES resamples from a generator seeded with 0. These are the draws of
             `vigor.analysis.stats.bootstrap_ci` (the compare report's interval), so the two agree up to rounding (the means are summed in another order, ~1e-14);
             it is called through scipy here because evaluation sits below analysis in the layering.
"""

from __future__ import annotations

import numpy as np

RESAMPLES = 2000


def accuracy_ci(per_problem, *, resamples: int = RESAMPLES, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `per_problem` (one mean correctness per problem);
    (NaN, NaN) with fewer than 2 problems (resampling one problem only ever returns it)."""
    import scipy.stats

    values = np.asarray(per_problem, dtype=np.float64)
    if values.size < 2:
        return float("nan"), float("nan")
    result = scipy.stats.bootstrap((values,), np.mean, n_resamples=resamples, method="percentile", vectorized=True,
                                   confidence_level=level, rng=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def category_groups(categories: list[dict[str, str]]) -> dict[str, dict[str, list[int]]]:
    """{facet: {value: [positions of the problems in it]}} from each problem's categories, facets in first-seen
    order, values sorted; a problem without a facet is in none of its values. The one place that says which
    problems form a category (`vigor eval` and the compare report)."""
    groups: dict[str, dict[str, list[int]]] = {}
    for position, problem in enumerate(categories):
        for facet, value in problem.items():
            groups.setdefault(facet, {}).setdefault(value, []).append(position)
    return {facet: dict(sorted(values.items())) for facet, values in groups.items()}


def by_category(records, verdicts: list[list]) -> dict:
    """{facet: {value: {"accuracy", "ci95", "n" (problems), "samples" (graded completions)}}}; {} when the
    records carry no category. `verdicts`: one list of verdicts (with `.correct`) per record."""
    per_problem = np.array([np.mean([v.correct for v in row]) for row in verdicts], dtype=np.float64)
    samples = np.array([len(row) for row in verdicts])
    correct = np.array([sum(v.correct for v in row) for row in verdicts])
    out: dict = {}
    for facet, values in category_groups([r.categories for r in records]).items():
        out[facet] = {}
        for value, rows in values.items():
            low, high = accuracy_ci(per_problem[rows])
            out[facet][value] = {"accuracy": float(correct[rows].sum() / samples[rows].sum()), "ci95": [low, high],
                                 "n": len(rows), "samples": int(samples[rows].sum())}
    return out


def pct(x: float) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{100 * x:.2f}"


def category_markdown(summary: dict) -> str:
    """The by-category table of an `evaluate` summary ("" when no benchmark has categories)."""
    rows = [(name, facet, value, c) for name, s in summary.items() for facet, values in s.get("by_category", {}).items()
            for value, c in values.items()]
    if not rows:
        return ""
    lines = ["", "Accuracy by category (%, 95 % bootstrap interval over the category's problems):", "",
             "| benchmark | category | n | accuracy | 95 % CI |", "|---|---|---:|---:|---|"]
    for name, facet, value, c in rows:
        lines.append(f"| {name} | {facet}: {value} | {c['n']} | {pct(c['accuracy'])} | "
                     f"[{pct(c['ci95'][0])}, {pct(c['ci95'][1])}] |")
    return "\n".join(lines) + "\n"
