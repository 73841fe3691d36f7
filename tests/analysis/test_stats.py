"""The analysis statistics against slow references, hand computations, vigor's hand-written versions from
before scipy (tests/analysis/stats_by_hand.py) and the numbers committed in docs/results."""

import re
from pathlib import Path

import numpy as np
import pytest

from tests.analysis import stats_by_hand as hand
from vigor.analysis import reference as ref
from vigor.analysis import stats

RESULTS = Path(__file__).resolve().parents[2] / "docs" / "results" / "miniature-compare.md"


def test_auroc_hand_computed_case_with_a_tie():
    # positives score 0.9 and 0.8, negatives 0.8 and 0.1; the four pairs give
    # 1 (0.9 > 0.8) + 1 (0.9 > 0.1) + 1/2 (0.8 = 0.8) + 1 (0.8 > 0.1) = 3.5 of 4.
    assert stats.auroc([0.9, 0.8, 0.8, 0.1], [1, 0, 1, 0]) == pytest.approx(0.875, abs=1e-12)
    assert stats.auroc([1, 2, 3], [0, 0, 1]) == 1.0
    assert stats.auroc([1, 2, 3], [1, 0, 0]) == 0.0
    assert stats.auroc([5, 5, 5, 5], [1, 0, 1, 0]) == 0.5
    assert np.isnan(stats.auroc([1, 2], [1, 1]))


@pytest.mark.parametrize("seed", range(5))
def test_auroc_matches_pair_counting_on_random_inputs_with_ties(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 40))
    scores = rng.integers(0, 5, n).astype(float)  # few values: many ties
    labels = rng.random(n) < 0.4
    labels[0], labels[1] = True, False
    assert stats.auroc(scores, labels) == pytest.approx(ref.auroc_reference(scores, labels), abs=1e-12)
    scores = rng.normal(size=n)
    assert stats.auroc(scores, labels) == pytest.approx(ref.auroc_reference(scores, labels), abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_ranks_and_spearman_match_references(seed):
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(3, 50))
    x = rng.integers(0, 6, n).astype(float)
    y = rng.random(n) < 0.5
    y[0], y[1] = True, False
    np.testing.assert_allclose(stats.average_ranks(x), ref.average_ranks_reference(list(x)), atol=1e-12)
    assert stats.spearman(x, y) == pytest.approx(ref.spearman_reference(x, y.astype(float)), abs=1e-12)
    z = rng.normal(size=n)
    assert stats.spearman(z, 2 * z + 1) == pytest.approx(1.0, abs=1e-12)
    assert stats.spearman(z, -z ** 3) == pytest.approx(-1.0, abs=1e-12)
    assert np.isnan(stats.spearman(np.ones(n), z))


@pytest.mark.parametrize("seed", range(3))
def test_top_choice_correct_matches_reference(seed):
    rng = np.random.default_rng(200 + seed)
    scores = rng.integers(0, 3, (7, 5)).astype(float)
    correct = rng.random((7, 5)) < 0.5
    np.testing.assert_allclose(stats.top_choice_correct(scores, correct),
                               ref.top_choice_correct_reference(scores.tolist(), correct.tolist()), atol=1e-12)


def test_bootstrap_ci_of_a_mean_matches_the_normal_approximation():
    rng = np.random.default_rng(3)
    values = rng.normal(loc=2.0, scale=1.0, size=400)
    low, high = stats.bootstrap_ci(lambda idx: values[idx].mean(), values.size, resamples=2000, seed=1)
    half = 1.96 * values.std(ddof=1) / np.sqrt(values.size)  # ~0.098
    assert low == pytest.approx(values.mean() - half, abs=0.02)
    assert high == pytest.approx(values.mean() + half, abs=0.02)
    assert (low, high) == stats.bootstrap_ci(lambda idx: values[idx].mean(), values.size, resamples=2000, seed=1)
    assert all(np.isnan(stats.bootstrap_ci(lambda idx: 0.0, 0)))
    assert all(np.isnan(stats.bootstrap_ci(lambda idx: 0.0, 1)))


def test_signal_summary_constructed_case():
    correct = np.array([[1, 0, 0, 1],    # mixed
                        [0, 0, 0, 0],    # all wrong: no AUROC, chance 0
                        [1, 1, 0, 1]], dtype=bool)  # mixed
    scores = np.array([[4.0, 1.0, 2.0, 3.0],     # correct on top: AUROC 1, top pick correct
                       [1.0, 2.0, 3.0, 4.0],
                       [1.0, 2.0, 3.0, np.nan]])  # NaN counts as worst; correct {1, 2, -inf} vs wrong {3}: 0
    out = stats.signal_summary(scores, correct, resamples=200)
    assert out["n_groups"] == 3 and out["n_groups_mixed"] == 2
    assert out["auroc"] == pytest.approx((1.0 + 0.0) / 2)
    assert out["top1_correct"] == pytest.approx((1 + 0 + 0) / 3)
    assert out["chance"] == pytest.approx((0.5 + 0 + 0.75) / 3)
    assert out["top1_lift"] == pytest.approx(out["top1_correct"] - out["chance"])
    pooled = np.where(np.isnan(scores), -np.inf, scores).ravel()
    assert out["spearman"] == pytest.approx(ref.spearman_reference(pooled, correct.ravel().astype(float)))
    low, high = out["auroc_ci"]
    assert 0.0 <= low <= out["auroc"] <= high <= 1.0


def test_signal_summary_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="groups, G"):
        stats.signal_summary(np.zeros((2, 4)), np.zeros((2, 3), dtype=bool))


def test_wilson_interval_hand_values_and_score_test_inversion():
    low, high = stats.wilson_interval(5, 10)  # textbook: 0.2366, 0.7634
    assert low == pytest.approx(0.2366, abs=1e-4) and high == pytest.approx(0.7634, abs=1e-4)
    assert stats.wilson_interval(0, 20)[0] == pytest.approx(0.0, abs=1e-12)
    assert stats.wilson_interval(20, 20)[1] == pytest.approx(1.0, abs=1e-12)
    rng = np.random.default_rng(7)
    for _ in range(4):
        n = int(rng.integers(1, 60))
        k = int(rng.integers(0, n + 1))
        np.testing.assert_allclose(stats.wilson_interval(k, n), ref.wilson_interval_reference(k, n), atol=1e-5)
    assert all(np.isnan(stats.wilson_interval(0, 0)))
    with pytest.raises(ValueError, match="successes"):
        stats.wilson_interval(5, 3)


def test_mcnemar_exact_p_matches_enumeration():
    assert stats.mcnemar_exact_p(0, 0) == 1.0
    assert stats.mcnemar_exact_p(5, 0) == pytest.approx(2 / 32)  # both all-gained and all-lost are as extreme
    rng = np.random.default_rng(8)
    for _ in range(6):
        gained, lost = (int(x) for x in rng.integers(0, 7, 2))
        assert stats.mcnemar_exact_p(gained, lost) == pytest.approx(ref.mcnemar_exact_p_reference(gained, lost),
                                                                    abs=1e-12)


def test_permutation_p_matches_enumerating_every_ordering(fresh_seed):
    rng = np.random.default_rng(fresh_seed)
    for _ in range(8):
        n_a, n_b = (int(x) for x in rng.integers(1, 5, 2))
        # accuracies as they come: a grid of 1/126, so ties between seeds happen
        a, b = (list(rng.integers(0, 127, size) / 126) for size in (n_a, n_b))
        assert stats.permutation_p(a, b) == pytest.approx(ref.permutation_p_reference(a, b), abs=1e-12), (a, b)
    assert stats.permutation_p([0.3, 0.5], [0.4, 0.4]) == 1.0  # the observed split is the least extreme there is
    assert np.isnan(stats.permutation_p([], [0.5]))


def test_permutation_p_floor_and_monte_carlo(fresh_seed):
    assert stats.smallest_permutation_p(3, 3) == pytest.approx(2 / 20)  # the observed split and its mirror
    assert stats.smallest_permutation_p(2, 3) == pytest.approx(1 / 10)
    assert stats.smallest_permutation_p(1, 1) == 1.0
    for n_a, n_b in ((3, 3), (2, 3), (4, 2)):  # reached by far-apart groups, never undercut
        assert stats.permutation_p(np.arange(n_a) + 100.0, np.arange(n_b)) == pytest.approx(
            stats.smallest_permutation_p(n_a, n_b))
    rng = np.random.default_rng(fresh_seed)
    a, b = rng.normal(0.4, 0.1, 9), rng.normal(0.5, 0.1, 9)
    exact = stats.permutation_p(a, b)
    sampled = stats.permutation_p(a, b, max_splits=10, resamples=20_000, seed=fresh_seed)
    assert abs(sampled - exact) < 0.015, (exact, sampled)  # 4 standard errors of 20,000 draws at p = 0.5


def test_library_calls_match_the_hand_written_versions_on_random_inputs_with_ties(fresh_seed):
    rng = np.random.default_rng(fresh_seed)
    for _ in range(20):
        n = int(rng.integers(2, 60))
        scores = rng.integers(0, 4, n).astype(float)  # few values: many ties
        scores[rng.random(n) < 0.1] = -np.inf         # a missing score, as signal_summary places it
        labels = rng.random(n) < rng.uniform(0.1, 0.9)
        np.testing.assert_array_equal(stats.average_ranks(scores), hand.average_ranks(scores))
        got, want = stats.auroc(scores, labels), hand.auroc(scores, labels)
        assert (np.isnan(got) and np.isnan(want)) or got == pytest.approx(want, abs=1e-12), (scores, labels)
        got, want = stats.spearman(scores, labels), hand.spearman(scores, labels)
        assert (np.isnan(got) and np.isnan(want)) or got == pytest.approx(want, abs=1e-12), (scores, labels)
        k = int(rng.integers(0, n + 1))
        np.testing.assert_allclose(stats.wilson_interval(k, n, level=0.9), hand.wilson_interval(k, n, level=0.9),
                                   rtol=0, atol=1e-12)
        gained, lost = (int(x) for x in rng.integers(0, 300, 2))
        assert stats.mcnemar_exact_p(gained, lost) == pytest.approx(hand.mcnemar_exact_p(gained, lost), rel=1e-9)
    assert np.isnan(stats.spearman(np.ones(5), np.arange(5.0))) and np.isnan(stats.spearman(np.arange(5.0), [2] * 5))
    assert np.isnan(stats.spearman([1.0], [0.0])) and np.isnan(hand.spearman([1.0], [0.0]))


@pytest.mark.parametrize("n_units", [2, 3, 126, 127])  # even and odd: numpy draws bounded integers in pairs
def test_bootstrap_gives_the_same_interval_as_before_scipy_to_the_bit(n_units, fresh_seed):
    rng = np.random.default_rng(fresh_seed)
    values = rng.normal(size=n_units)
    correct = rng.random(n_units) < 0.5
    for statistic in (lambda idx: values[idx].mean(),
                      # NaN on resamples with one class: those draws are skipped, as before
                      lambda idx: hand.spearman(values[idx], correct[idx])):
        for level in (0.95, 0.8):
            args = dict(resamples=300, level=level, seed=fresh_seed % 1000)
            np.testing.assert_array_equal(stats.bootstrap_ci(statistic, n_units, **args),  # NaN equals NaN here
                                          hand.bootstrap_ci(statistic, n_units, **args))
    assert all(np.isnan(stats.bootstrap_ci(lambda idx: float("nan"), 5)))


def test_permutation_p_matches_the_hand_written_version_on_unequal_groups_with_ties(fresh_seed):
    rng = np.random.default_rng(fresh_seed)
    for _ in range(10):
        n_a, n_b = (int(x) for x in rng.integers(1, 8, 2))
        a, b = (rng.integers(0, 6, size) / 5 for size in (n_a, n_b))  # a coarse grid: many tied gaps
        assert stats.permutation_p(a, b) == pytest.approx(hand.permutation_p(a, b), abs=1e-12), (a, b)


def committed_difference_rows():
    """(gained, lost, McNemar p, reward seeds, baseline seeds, seed-level p) of each row of the difference tables
    in docs/results/miniature-compare.md (126 problems, 1 sample each: a seed's accuracy is k / 126)."""
    rows = []
    for line in RESULTS.read_text().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 9 and re.fullmatch(r"\d+", cells[4]):
            seeds = [[float(x) for x in side.split(",")] for side in cells[7].split("/")]
            rows.append((int(cells[4]), int(cells[5]), cells[6], *seeds, cells[8]))
    return rows


def as_printed(p: float) -> str:
    return f"{p:.3g}"  # the report's format for both p columns


def test_committed_mcnemar_and_permutation_p_recomputed_from_the_committed_counts():
    rows = committed_difference_rows()
    assert len(rows) == 12  # two studies, three rewards, a benchmark and "all benchmarks" each
    for gained, lost, mcnemar, reward_pct, baseline_pct, seed_p in rows:
        assert as_printed(stats.mcnemar_exact_p(gained, lost)) == mcnemar
        # per-seed accuracies back to k / 126 (printed to 0.1 %, finer than the grid's 0.79 %)
        reward, baseline = ([round(x * 1.26) / 126 for x in side] for side in (reward_pct, baseline_pct))
        assert [round(100 * x, 1) for x in reward + baseline] == reward_pct + baseline_pct
        assert as_printed(stats.permutation_p(reward, baseline)) == seed_p
        assert stats.permutation_p(reward, baseline) == pytest.approx(hand.permutation_p(reward, baseline), abs=1e-12)


def test_bootstrap_with_no_resamples_is_no_interval():
    """resamples=0 (a caller that wants the point values only) gives (NaN, NaN), as before scipy, not an error."""
    assert all(np.isnan(x) for x in stats.bootstrap_ci(lambda idx: float(len(idx)), 10, resamples=0))
