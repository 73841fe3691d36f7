"""The report's statistics on fresh random outcomes ([seeds, problems, samples]) against slow loops."""

import numpy as np
import pytest

from vigor.analysis.reference import permutation_p_reference
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
    seeds, problems, samples = 3, 17, 3
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
    per_seed_a = [sum(bool(a[s, p, k]) for p in range(problems) for k in range(samples)) / (problems * samples)
                  for s in range(seeds)]
    per_seed_b = [sum(bool(b[s, p, k]) for p in range(problems) for k in range(samples)) / (problems * samples)
                  for s in range(seeds)]
    assert got["seed_accuracies"] == pytest.approx(per_seed_a) and got["baseline_seed_accuracies"] == pytest.approx(
        per_seed_b), seed
    assert got["seed_p"] == pytest.approx(permutation_p_reference(per_seed_a, per_seed_b), abs=1e-12), seed
    assert got["seed_p_floor"] == pytest.approx(0.1), seed  # 3 seeds against 3


def verdict_of(reward_by_seed, baseline_by_seed, problems=400):
    """The verdict for outcomes where seed k of each reward solves its first x_k of the problems."""
    from vigor.compare.report import cell, verdict

    def outcomes(by_seed):
        return np.array([[[p < round(x * problems)] for p in range(problems)] for x in by_seed])

    a, b = outcomes(reward_by_seed), outcomes(baseline_by_seed)
    row = paired(a, b)
    run = {"final_step": 8, "peak": {"drop": 0.0}, "collapse": None}
    return verdict({"table": {"r": {"bench": cell(a)}, "base": {"bench": cell(b)}, "base model": {"bench": cell(b)}},
                    "baseline": "base", "rewards": ["r", "base"], "seeds": list(range(len(reward_by_seed))),
                    "seed_p_floor": row["seed_p_floor"],
                    "benchmarks": [{"key": "bench"}], "runs": [run],
                    "versus": {"r": {"bench": row, "all benchmarks": row}}})


def test_verdict_needs_the_seeds_to_agree():
    # every seed of r above every seed of base, 6 against 6: both tests below 5 %
    text = verdict_of([0.60, 0.61, 0.62, 0.63, 0.64, 0.65], [0.40, 0.41, 0.42, 0.43, 0.44, 0.45])
    assert "Established at the 5% level over problems and over seeds: r against base" in text
    # the same gap over problems, 3 seeds: the most one-sided split 3 seeds give is p = 0.1
    text = verdict_of([0.60, 0.62, 0.64], [0.40, 0.42, 0.44])
    assert "Established" not in text and "no seed-level p can go below 0.1" in text
    assert "Every seed of r is above every seed of base" in text
    # one seed that wins big and two that lose: McNemar still sees a gain, the seeds do not
    text = verdict_of([0.95, 0.38, 0.39], [0.40, 0.41, 0.42])
    assert "McNemar p < 0.05" in text and "Established" not in text and "Every seed" not in text
    text = verdict_of([0.60], [0.40])
    assert "with one seed per reward the run-to-run spread is not measured" in text
    text = verdict_of([0.41, 0.40], [0.40, 0.41])
    assert "No difference detectable at this size" in text
