"""Every test runs with a fresh random seed, printed in the report when it fails.

The seed (or $VIGOR_TEST_SEED, to replay a failure) seeds Python's, numpy's and torch's global
generators before each test, so a test that draws "fresh random inputs" from them, or that takes
the `fresh_seed` fixture for its own generator, can be replayed exactly.
"""

import os
import random

import numpy as np
import pytest
import torch

SEED_VARIABLE = "VIGOR_TEST_SEED"


@pytest.fixture(autouse=True)
def fresh_seed(request) -> int:
    seed = int(os.environ.get(SEED_VARIABLE) or random.SystemRandom().randrange(2**31 - 1))
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    request.node.fresh_seed = seed
    return seed


@pytest.fixture(autouse=True)
def fresh_banner():
    """Each test runs its commands as a fresh process would: the run banner (shown once per process) shows again."""
    from vigor.precision import SHOWN_BANNERS

    SHOWN_BANNERS.clear()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    seed = getattr(item, "fresh_seed", None)
    if report.failed and seed is not None:
        report.sections.append(("fresh random seed", f"seed {seed}; replay with {SEED_VARIABLE}={seed} "
                                                     f"pytest '{item.nodeid}'"))
