"""Does a score tell correct from incorrect completions? The statistics `vigor analyze` reports.

Scores are oriented "higher = predicted better". Completions come in groups (the G samples of
one prompt); a reward only ever compares completions within a group, so the headline numbers
are within-group ones. The textbook statistics are scipy's (rankdata, mannwhitneyu, spearmanr, bootstrap,
binomtest, permutation_test). The tests compare each with slow, obviously-right twins: those in
`vigor.analysis.reference`, and vigor's own hand-written versions from before scipy, kept in
tests/analysis/stats_by_hand.py (the bootstrap must match those to the bit).
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.stats


def average_ranks(values) -> np.ndarray:
    """1-based ranks, tied values sharing the mean of the ranks they span."""
    return scipy.stats.rankdata(np.asarray(values, dtype=np.float64), method="average")


def auroc(scores, labels) -> float:
    """P(score of a random positive > score of a random negative) + 0.5 P(equal): the Mann-Whitney
    U of the positives against the negatives over n_pos n_neg (scipy's U counts a tie as 1/2).
    NaN unless both classes occur."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    # only U is used; the asymptotic method skips the exact null distribution scipy would otherwise build
    u = scipy.stats.mannwhitneyu(scores[labels], scores[~labels], method="asymptotic").statistic
    return float(u / (n_pos * n_neg))


def spearman(x, y) -> float:
    """Spearman's rho: the Pearson correlation of average ranks. NaN if either side is constant
    (checked here, so scipy's constant-input warning never fires)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.size < 2 or np.all(x == x[0]) or np.all(y == y[0]):
        return float("nan")
    return float(scipy.stats.spearmanr(x, y).statistic)


def mixed_groups(correct: np.ndarray) -> np.ndarray:
    """Indices of the groups (rows of [groups, G]) holding both correct and incorrect completions."""
    return np.flatnonzero(correct.any(1) & ~correct.all(1))


def group_aurocs(scores: np.ndarray, correct: np.ndarray) -> np.ndarray:
    """AUROC of each mixed group ([groups, G] inputs), in the order of `mixed_groups`."""
    return np.array([auroc(scores[g], correct[g]) for g in mixed_groups(correct)])


def top_choice_correct(scores: np.ndarray, correct: np.ndarray) -> np.ndarray:
    """Per group: the chance that the top-scored completion is correct. Completions tied at the
    top share it evenly (so a constant score does exactly as well as chance)."""
    top = scores == scores.max(1, keepdims=True)
    return (top & correct).sum(1) / top.sum(1)


def bootstrap_ci(statistic, n_units: int, *, resamples: int = 1000, level: float = 0.95,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of statistic(indices): scipy.stats.bootstrap draws `n_units` units
    (groups) with replacement, `resamples` times, from a generator seeded with `seed`. One resample per
    batch, so the draws are those of `rng.integers(0, n_units, n_units)` called once per resample (the
    scheme of vigor before scipy: the same seed gives the same interval, to the bit). The interval is
    the percentile of the finite draws (np.percentile, linear): a resample whose statistic is NaN (a
    Spearman over a resample with one class) is skipped, where scipy's own interval would be NaN.
    (NaN, NaN) with fewer than 2 units (resampling one unit only ever returns it) or no resamples."""
    if n_units < 2 or resamples < 1:
        return float("nan"), float("nan")
    with warnings.catch_warnings():  # scipy warns when its interval is NaN; the finite draws are used instead
        warnings.simplefilter("ignore", scipy.stats.DegenerateDataWarning)
        # vectorized=True with our own loop over the batch's rows: scipy's wrapper for a plain statistic
        # costs ~10x the statistic itself here
        result = scipy.stats.bootstrap((np.arange(n_units),), lambda idx, axis: np.array([statistic(i) for i in idx]),
                                       n_resamples=resamples, batch=1, vectorized=True, method="percentile",
                                       confidence_level=level, rng=np.random.default_rng(seed))
    draws = result.bootstrap_distribution[np.isfinite(result.bootstrap_distribution)]
    if draws.size == 0:
        return float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return float(low), float(high)


def signal_summary(scores, correct, *, resamples: int = 1000, seed: int = 0) -> dict:
    """Every statistic for one signal. `scores`, `correct`: [groups, G] (correct as bool).

    auroc          mean within-group AUROC over mixed groups (n_groups_mixed of them)
    spearman       Spearman rho between score and correctness over all completions pooled
    top1_correct   mean over all groups of P(top-scored completion is correct)
    chance         mean over all groups of the fraction correct (a random pick's rate)
    top1_lift      top1_correct - chance
    each with a bootstrap CI over groups (`*_ci`, 95 %, seeded).
    """
    scores = np.asarray(scores, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    if scores.shape != correct.shape or scores.ndim != 2:
        raise ValueError(f"scores {scores.shape} and correct {correct.shape} must both be [groups, G]")
    # a missing score (e.g. an empty completion) counts as the worst, as the trainer places it last
    scores = np.where(np.isnan(scores), -np.inf, scores)
    n_groups = scores.shape[0]
    per_group_auc = np.full(n_groups, np.nan)
    mixed = mixed_groups(correct)
    per_group_auc[mixed] = group_aurocs(scores, correct)
    top1 = top_choice_correct(scores, correct)
    chance = correct.mean(1)
    ci = dict(resamples=resamples, seed=seed)

    def pooled_spearman(rows):
        return spearman(scores[rows].ravel(), correct[rows].ravel())

    return {
        "auroc": float(per_group_auc[mixed].mean()) if mixed.size else float("nan"),
        "auroc_ci": bootstrap_ci(lambda rows: per_group_auc[mixed][rows].mean(), mixed.size, **ci),
        "n_groups_mixed": int(mixed.size),
        "spearman": pooled_spearman(np.arange(n_groups)),
        "spearman_ci": bootstrap_ci(pooled_spearman, n_groups, **ci),
        "top1_correct": float(top1.mean()),
        "top1_correct_ci": bootstrap_ci(lambda rows: top1[rows].mean(), n_groups, **ci),
        "chance": float(chance.mean()),
        "top1_lift": float((top1 - chance).mean()),
        "top1_lift_ci": bootstrap_ci(lambda rows: (top1 - chance)[rows].mean(), n_groups, **ci),
        "n_groups": int(n_groups),
    }


def wilson_interval(successes: int, n: int, *, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (scipy's binomtest(...).proportion_ci): the p with
    |k/n - p| <= z sqrt(p (1 - p) / n), i.e. (k/n + z^2/2n -+ z sqrt(k/n (1 - k/n) / n + z^2 / 4n^2)) / (1 + z^2 / n).
    (NaN, NaN) if n = 0."""
    if n == 0:
        return float("nan"), float("nan")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, {n}], got {successes}")
    ci = scipy.stats.binomtest(successes, n).proportion_ci(confidence_level=level, method="wilson")
    return float(ci.low), float(ci.high)


def mcnemar_exact_p(gained: int, lost: int) -> float:
    """Two-sided exact McNemar test for paired before/after outcomes on the same problems:
    `gained` problems went wrong -> right, `lost` right -> wrong. Under "no change" each of the
    n = gained + lost discordant problems is a fair coin: scipy's two-sided exact binomial test of
    `gained` of n at 1/2, i.e. p = min(1, 2 * P(Binomial(n, 1/2) <= min(gained, lost)))."""
    n = gained + lost
    if n == 0:
        return 1.0
    return float(scipy.stats.binomtest(gained, n, 0.5).pvalue)


def permutation_p(a, b, *, max_splits: int = 200_000, resamples: int = 20_000, seed: int = 0) -> float:
    """Two-sided permutation test of mean(a) - mean(b) for two independent samples, e.g. the per-seed
    accuracies of two rewards. Under "both come from one distribution" every split of the pooled values
    into groups of len(a) and len(b) is equally likely, so
        p = #{splits with |mean difference| >= the observed one} / #{splits}.
    scipy.stats.permutation_test with the statistic |mean(a) - mean(b)| and alternative "greater" counts
    exactly that (its "two-sided" would instead double the smaller one-sided p, which differs when
    len(a) != len(b)). Exact over all C(n, len(a)) splits when there are at most `max_splits`; otherwise
    estimated from `resamples` seeded random splits as (hits + 1) / (resamples + 1) (scipy's random splits:
    not the draws vigor made before scipy). NaN when either group is empty. With few values p has a floor (`smallest_permutation_p`): 3 against 3 can never go below 0.1."""
    from math import comb

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.size == 0 or b.size == 0:
        return float("nan")
    if min(a.size, b.size) == 1:
        # scipy asks for two values per group; with one, the n splits are "which value stands alone", and
        # its gap is |x_i - (sum - x_i) / (n - 1)| (the observed split: the lone group's value first)
        pooled = np.concatenate((a, b) if a.size == 1 else (b, a))
        gaps = np.abs(pooled - (pooled.sum() - pooled) / (pooled.size - 1))
        return float(np.mean(gaps >= gaps[0] * (1 - 1e-12)))  # equal gaps summed in another order tie

    def gap(x, y, axis):
        return np.abs(x.mean(axis=axis) - y.mean(axis=axis))

    # scipy enumerates every split when n_resamples is at least their number
    exact = comb(a.size + b.size, a.size) <= max_splits
    return float(scipy.stats.permutation_test((a, b), gap, permutation_type="independent", vectorized=True,
                                              n_resamples=max_splits if exact else resamples, alternative="greater",
                                              rng=np.random.default_rng(seed)).pvalue)


def smallest_permutation_p(n_a: int, n_b: int) -> float:
    """The smallest p `permutation_p` can return for groups of n_a and n_b values: only the observed split is
    that extreme, and with equal sizes its mirror (the groups swapped) always is too."""
    from math import comb

    return (2 if n_a == n_b else 1) / comb(n_a + n_b, n_a)
