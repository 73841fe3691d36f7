"""The statistics of `vigor.analysis.stats` as they were written by hand before they were handed to scipy
(commit 426ca5e), kept verbatim as slow, obviously-right twins: the tests check that the library calls give
the same numbers (the bootstrap: the same draws and the same interval, bit for bit)."""

from __future__ import annotations

import numpy as np


def average_ranks(values) -> np.ndarray:
    """1-based ranks, tied values sharing the mean of the ranks they span."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    # boundaries of runs of equal values in sorted order
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], len(values)]
    ranks = np.empty(len(values))
    for start, end in zip(starts, ends):
        ranks[order[start:end]] = (start + 1 + end) / 2  # mean of ranks start+1 .. end
    return ranks


def auroc(scores, labels) -> float:
    """P(score of a random positive > score of a random negative) + 0.5 P(equal): the
    Mann-Whitney U / (n_pos n_neg), computed from average ranks:
    U = sum(ranks of positives) - n_pos (n_pos + 1) / 2. NaN unless both classes occur."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    u = average_ranks(scores)[labels].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def spearman(x, y) -> float:
    """Spearman's rho: the Pearson correlation of average ranks. NaN if either side is constant."""
    rx, ry = average_ranks(x), average_ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denom = np.sqrt((rx * rx).sum() * (ry * ry).sum())
    return float((rx * ry).sum() / denom) if denom > 0 else float("nan")


def bootstrap_ci(statistic, n_units: int, *, resamples: int = 1000, level: float = 0.95,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of statistic(indices): `n_units` units (groups) are drawn
    with replacement `resamples` times from a seeded generator; NaN results are skipped.
    (NaN, NaN) with fewer than 2 units (resampling one unit only ever returns it)."""
    if n_units < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    draws = [statistic(rng.integers(0, n_units, n_units)) for _ in range(resamples)]
    draws = np.array([d for d in draws if np.isfinite(d)])
    if draws.size == 0:
        return float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return float(low), float(high)


def wilson_interval(successes: int, n: int, *, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion: the p with |k/n - p| <= z sqrt(p (1 - p) / n),
    i.e. (k/n + z^2/2n -+ z sqrt(k/n (1 - k/n) / n + z^2 / 4n^2)) / (1 + z^2 / n). (NaN, NaN) if n = 0."""
    from statistics import NormalDist

    if n == 0:
        return float("nan"), float("nan")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, {n}], got {successes}")
    z = NormalDist().inv_cdf(0.5 + level / 2)
    p = successes / n
    centre = p + z * z / (2 * n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    denom = 1 + z * z / n
    return float(max(0.0, (centre - half) / denom)), float(min(1.0, (centre + half) / denom))


def mcnemar_exact_p(gained: int, lost: int) -> float:
    """Two-sided exact McNemar test for paired before/after outcomes on the same problems:
    `gained` problems went wrong -> right, `lost` right -> wrong. Under "no change" each of the
    n = gained + lost discordant problems is a fair coin, so
    p = min(1, 2 * P(Binomial(n, 1/2) <= min(gained, lost)))."""
    from math import comb

    n = gained + lost
    if n == 0:
        return 1.0
    tail = sum(comb(n, i) for i in range(min(gained, lost) + 1)) / 2 ** n
    return float(min(1.0, 2 * tail))


def permutation_p(a, b, *, max_splits: int = 200_000, resamples: int = 20_000, seed: int = 0) -> float:
    """Two-sided permutation test of mean(a) - mean(b) for two independent samples, e.g. the per-seed
    accuracies of two rewards. Under "both come from one distribution" every split of the pooled values
    into groups of len(a) and len(b) is equally likely, so
        p = #{splits with |mean difference| >= the observed one} / #{splits}.
    Exact over all C(n, len(a)) splits when there are at most `max_splits`; otherwise estimated from
    `resamples` seeded random splits as (hits + 1) / (resamples + 1). NaN when either group is empty.
    With few values p has a floor (`smallest_permutation_p`): 3 against 3 can never go below 0.1."""
    from itertools import combinations
    from math import comb

    pooled = [float(x) for x in (*a, *b)]
    n_a, n = len(a), len(a) + len(b)
    if n_a == 0 or n_a == n:
        return float("nan")
    total = sum(pooled)

    def gap(sum_a: float) -> float:
        return abs(sum_a / n_a - (total - sum_a) / (n - n_a))

    observed = gap(sum(pooled[:n_a]))
    tolerance = 1e-9 * max(1.0, observed)  # equal gaps computed in another order are still "as extreme"
    if comb(n, n_a) <= max_splits:
        hits = sum(gap(sum(pooled[i] for i in split)) >= observed - tolerance for split in combinations(range(n), n_a))
        return hits / comb(n, n_a)
    rng = np.random.default_rng(seed)
    values = np.array(pooled)
    hits = sum(gap(float(values[rng.permutation(n)[:n_a]].sum())) >= observed - tolerance for _ in range(resamples))
    return (hits + 1) / (resamples + 1)
