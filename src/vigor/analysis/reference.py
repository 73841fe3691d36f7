"""Slow, obviously-right versions of the statistics in `vigor.analysis.stats` (for tests only)."""

from __future__ import annotations

import math


def auroc_reference(scores, labels) -> float:
    """Count every (positive, negative) pair: 1 if the positive scores higher, 1/2 if equal."""
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    if not pos or not neg:
        return float("nan")
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def average_ranks_reference(values) -> list[float]:
    """rank_i = 1 + #{j: v_j < v_i} + (#{j: v_j == v_i} - 1) / 2."""
    return [1 + sum(w < v for w in values) + (sum(w == v for w in values) - 1) / 2 for v in values]


def pearson_reference(x, y) -> float:
    n = len(x)
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else float("nan")


def spearman_reference(x, y) -> float:
    return pearson_reference(average_ranks_reference(list(x)), average_ranks_reference(list(y)))


def top_choice_correct_reference(scores, correct) -> list[float]:
    out = []
    for row_scores, row_correct in zip(scores, correct):
        best = max(row_scores)
        tied = [c for s, c in zip(row_scores, row_correct) if s == best]
        out.append(sum(tied) / len(tied))
    return out


def wilson_interval_reference(successes: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Invert the score test on a fine grid: the p whose |k/n - p| <= z sqrt(p (1 - p) / n)."""
    k = successes / n
    inside = [i / 200_000 for i in range(200_001)
              if abs(k - i / 200_000) <= z * math.sqrt((i / 200_000) * (1 - i / 200_000) / n) + 1e-15]
    return min(inside), max(inside)


def mcnemar_exact_p_reference(gained: int, lost: int) -> float:
    """Enumerate every assignment of the discordant problems to gained/lost (each with
    probability 2^-n) and add up those at most as likely as the observed split."""
    from itertools import product

    n = gained + lost
    if n == 0:
        return 1.0
    prob = {}
    for outcome in product((0, 1), repeat=n):
        prob[sum(outcome)] = prob.get(sum(outcome), 0) + 0.5 ** n
    observed = prob[gained]
    return min(1.0, sum(p for p in prob.values() if p <= observed + 1e-15))


def permutation_p_reference(a, b) -> float:
    """Every ordering of the pooled values (n! of them) puts its first len(a) in group a; each split of the
    groups comes up equally often, so the share of orderings at least as extreme is the exact p."""
    from itertools import permutations

    pooled = list(a) + list(b)
    n_a = len(a)

    def gap(values):
        first, rest = values[:n_a], values[n_a:]
        return abs(sum(first) / len(first) - sum(rest) / len(rest))

    observed = gap(pooled)
    orderings = list(permutations(pooled))
    return sum(gap(o) >= observed - 1e-9 for o in orderings) / len(orderings)
