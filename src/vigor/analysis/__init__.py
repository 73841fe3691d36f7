"""`vigor analyze`: does an intrinsic reward predict correctness for a given model and data?"""

from vigor.analysis.signals import SIGNALS
from vigor.analysis.stats import auroc, bootstrap_ci, signal_summary, spearman, top_choice_correct

__all__ = ["SIGNALS", "auroc", "bootstrap_ci", "signal_summary", "spearman", "top_choice_correct"]
