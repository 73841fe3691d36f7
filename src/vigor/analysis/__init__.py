"""`vigor analyze`: does an intrinsic reward predict correctness for a given model and data?

Names are imported on first use (PEP 562) so that `vigor.analysis.cli` loads without numpy.
"""

import importlib

_EXPORTS = {
    "signal_names": "vigor.analysis.signals", "compute_signals": "vigor.analysis.signals",
    "auroc": "vigor.analysis.stats", "bootstrap_ci": "vigor.analysis.stats",
    "signal_summary": "vigor.analysis.stats", "spearman": "vigor.analysis.stats",
    "top_choice_correct": "vigor.analysis.stats", "wilson_interval": "vigor.analysis.stats",
    "mcnemar_exact_p": "vigor.analysis.stats", "run_analysis": "vigor.analysis.run",
}

__all__ = list(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'vigor.analysis' has no attribute {name!r}")
