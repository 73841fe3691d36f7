"""The report's statistics of one table cell (formulas in the docstring of vigor.compare.report): a reward's
accuracy with its bootstrap interval over problems, and a paired difference against the baseline with its
interval, exact McNemar test and seed-level permutation test. Outcomes are [seeds, problems, samples] booleans;
the by-category tables apply the same functions to a category's problems."""

from __future__ import annotations

import numpy as np

from vigor.analysis.stats import bootstrap_ci, mcnemar_exact_p, permutation_p, smallest_permutation_p

RESAMPLES = 2000


def cell(outcomes: np.ndarray) -> dict:
    """Accuracy and bootstrap interval of [seeds, problems, samples] outcomes."""
    low, high = bootstrap_ci(lambda idx: outcomes[:, idx].mean(), outcomes.shape[1], resamples=RESAMPLES)
    return {"accuracy": float(outcomes.mean()), "ci95": [low, high], "problems": int(outcomes.shape[1]),
            "seeds": int(outcomes.shape[0]), "samples": int(outcomes.shape[2])}


def seed_level(reward_seeds, baseline_seeds) -> dict:
    """Per-seed accuracies of a reward and its baseline, and the permutation test across seeds."""
    return {"seed_accuracies": [float(x) for x in reward_seeds],
            "baseline_seed_accuracies": [float(x) for x in baseline_seeds],
            "seed_p": permutation_p(reward_seeds, baseline_seeds),
            "seed_p_floor": smallest_permutation_p(len(reward_seeds), len(baseline_seeds))}


def paired(reward: np.ndarray, baseline: np.ndarray) -> dict:
    """Difference reward - baseline over the same problems ([seeds, problems, samples] each), with the
    seed-level check of the same difference."""
    per_problem = reward.mean(axis=(0, 2)) - baseline.mean(axis=(0, 2))
    low, high = bootstrap_ci(lambda idx: per_problem[idx].mean(), per_problem.size, resamples=RESAMPLES)
    gained, lost = int((reward & ~baseline).sum()), int((~reward & baseline).sum())
    return {"difference": float(per_problem.mean()), "ci95": [low, high], "gained": gained, "lost": lost,
            "mcnemar_p": mcnemar_exact_p(gained, lost),
            **seed_level(reward.mean(axis=(1, 2)), baseline.mean(axis=(1, 2)))}


def pct(x) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{100 * x:.1f}"
