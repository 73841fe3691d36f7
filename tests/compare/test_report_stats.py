"""The report's statistics on fresh random outcomes ([seeds, problems, samples]) against slow loops."""

import numpy as np
import pytest

from vigor.analysis.stats import mcnemar_exact_p
from vigor.compare.report import RESAMPLES, cell, paired


def loop_bootstrap(per_problem_value, n_problems, resamples=RESAMPLES, seed=0):
    """Percentile bootstrap over problems, written out (same generator and draws as bootstrap_ci)."""
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(resamples):
        picks = rng.integers(0, n_problems, n_problems)
        draws.append(sum(per_problem_value(int(p)) for p in picks) / n_problems)
    return tuple(np.percentile(draws, [2.5, 97.5]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cell_and_paired_match_loops(seed):
    rng = np.random.default_rng(seed)
    seeds, problems, samples = 2, 17, 3
    difficulty = rng.uniform(0, 1, problems)
    a = rng.uniform(0, 1, (seeds, problems, samples)) < difficulty[None, :, None]
    b = rng.uniform(0, 1, (seeds, problems, samples)) < difficulty[None, :, None] * 0.8

    def problem_mean(x, p):
        return sum(bool(x[s, p, k]) for s in range(seeds) for k in range(samples)) / (seeds * samples)

    means_a = [problem_mean(a, p) for p in range(problems)]
    got = cell(a)
    assert got["accuracy"] == pytest.approx(sum(means_a) / problems), seed
    assert got["ci95"] == pytest.approx(loop_bootstrap(lambda p: means_a[p], problems)), seed
    got = paired(a, b)
    diffs = [problem_mean(a, p) - problem_mean(b, p) for p in range(problems)]
    assert got["difference"] == pytest.approx(sum(diffs) / problems), seed
    assert got["ci95"] == pytest.approx(loop_bootstrap(lambda p: diffs[p], problems)), seed
    gained = sum(1 for s in range(seeds) for p in range(problems) for k in range(samples) if a[s, p, k] and not b[s, p, k])
    lost = sum(1 for s in range(seeds) for p in range(problems) for k in range(samples) if b[s, p, k] and not a[s, p, k])
    assert (got["gained"], got["lost"]) == (gained, lost), seed
    assert got["mcnemar_p"] == mcnemar_exact_p(gained, lost)
