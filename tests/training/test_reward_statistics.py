"""The trainer's logged NaN-ignoring mean and std (`_nanmean`, `_nanstd`): against an exact reference on fresh
random inputs with NaNs, and against torch.nanmean / TRL's nanstd, which define the same statistics (same
Bessel correction, NaN below two values) but round differently (see the comment above `_nanmean`)."""

import math
import random

import pytest
import torch
from trl.trainer.utils import nanstd

from vigor.training.trainer import _nanmean, _nanstd


def reference(values: torch.Tensor) -> tuple[float, float]:
    """(mean, unbiased std) of the non-NaN entries, by exactly rounded sums of Python floats."""
    xs = [float(v) for v in values.tolist() if not math.isnan(v)]
    if not xs:
        return math.nan, math.nan
    mean = math.fsum(xs) / len(xs)
    std = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else math.nan
    return mean, std


def close(ours: float, expected: float, rel: float) -> bool:
    if math.isnan(expected):
        return math.isnan(ours)
    return math.isclose(ours, expected, rel_tol=rel, abs_tol=rel)


# float32 inputs are reduced in float32 (sums of up to 257 values of size ~10: relative error well under 1e-5)
@pytest.mark.parametrize("dtype, rel", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_nan_statistics_are_exact_and_match_torch_and_trl(dtype, rel):
    seed = random.SystemRandom().randrange(2**31)
    generator = torch.Generator().manual_seed(seed)
    for size in [0, 1, 2, 3, 8, 64, 257]:
        for nan_fraction in (0.0, 0.3, 1.0):
            values = (torch.randn(size, generator=generator, dtype=torch.float64) * 7 + 3).to(dtype)
            values[torch.rand(size, generator=generator) < nan_fraction] = math.nan
            where = f"seed {seed}, size {size}, NaN fraction {nan_fraction}, {dtype}"
            mean, std = reference(values)
            assert close(_nanmean(values), mean, rel), where
            assert close(_nanstd(values), std, rel), where
            assert close(_nanmean(values), torch.nanmean(values).item(), rel), where
            # TRL's Bessel factor n / (n - 1) is computed in float32: equal to ~1e-7 relative, not more
            assert close(_nanstd(values), nanstd(values).item(), max(rel, 1e-6)), where
