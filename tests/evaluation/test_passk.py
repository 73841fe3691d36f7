"""The unbiased pass@k estimator: hand values and an exact rational reference on random inputs."""

import random
from fractions import Fraction
from math import comb

import pytest

from vigor.evaluation import pass_at_k


def reference_pass_at_k(n, c, k):
    """1 - C(n-c, k) / C(n, k), exactly (math.comb(m, k) = 0 when m < k)."""
    return float(1 - Fraction(comb(n - c, k), comb(n, k)))


@pytest.mark.parametrize("n, c, k, want", [
    (1, 1, 1, 1.0), (1, 0, 1, 0.0), (5, 2, 1, 0.4), (5, 2, 2, 0.7),  # 1 - C(3,2)/C(5,2) = 1 - 3/10
    (10, 0, 5, 0.0), (4, 3, 2, 1.0), (8, 1, 8, 1.0), (10, 3, 3, 1 - 35 / 120),
])
def test_hand_values(n, c, k, want):
    assert pass_at_k(n, c, k) == pytest.approx(want, abs=1e-12)


def test_against_exact_reference_on_random_inputs(fresh_seed):
    rng = random.Random(fresh_seed)
    for _ in range(500):
        n = rng.randint(1, 200)
        c, k = rng.randint(0, n), rng.randint(1, n)
        assert pass_at_k(n, c, k) == pytest.approx(reference_pass_at_k(n, c, k), abs=1e-9), (n, c, k)


def test_pass_at_1_is_the_mean():
    assert pass_at_k(16, 5, 1) == pytest.approx(5 / 16, abs=1e-12)


@pytest.mark.parametrize("n, c, k", [(5, 6, 1), (5, -1, 1), (5, 2, 0), (5, 2, 6)])
def test_invalid(n, c, k):
    with pytest.raises(ValueError, match="pass_at_k needs"):
        pass_at_k(n, c, k)
