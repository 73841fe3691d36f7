"""The demo report's premise curve: the training reward's windowed AUROC by step from metrics.jsonl, plotted and
described when the monitor logged it, and a sentence saying why not when it did not (no gold)."""

import numpy as np

from vigor.demo.report import PREMISE_PLOT, premise_by_step, premise_curve_section


def test_curve_is_plotted_and_described_when_logged(tmp_path):
    rng = np.random.default_rng()
    values = rng.random(5).round(4)
    metrics = [{"step": 0, "eval/mean_accuracy": 0.1}]  # a record without the key is skipped
    metrics += [{"step": s + 1, "premise/vigor/auroc_window": float(v), "loss": 0.0} for s, v in enumerate(values)]
    curve = premise_by_step(metrics, "vigor", tmp_path)
    assert curve["steps"] == [1, 2, 3, 4, 5] and curve["auroc_window"] == values.tolist()
    assert (tmp_path / PREMISE_PLOT).stat().st_size > 0
    (text,) = [line for line in premise_curve_section(curve) if line]
    assert f"from {values[0]:.3f} at step 1 to {values[-1]:.3f} at step 5" in text and PREMISE_PLOT in text


def test_no_premise_keys_says_so(tmp_path):
    metrics = [{"step": 1, "rewards/vigor/mean": -1.0}, {"step": 2, "rewards/vigor/mean": -0.5}]
    curve = premise_by_step(metrics, "vigor_uncorrected", tmp_path)
    assert curve["steps"] == [] and not (tmp_path / PREMISE_PLOT).exists()
    (text,) = [line for line in premise_curve_section(curve) if line]
    assert "not tracked during training" in text and "premise/vigor_uncorrected/auroc_window" in text
