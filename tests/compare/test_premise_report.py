"""The compare report's premise section on constructed run folders: the quarter table against a by-hand
computation (pooled per-group AUROCs, the percentile bootstrap redone with the generator bootstrap_ci documents),
the plot written, the arms' training signals."""

import json

import numpy as np
import pytest

from vigor.compare.premise_report import PLOT, RESAMPLES, premise_section, quarter_steps, trained_signal


def write_run(folder, groups_by_step: dict[int, list[float]], signal: str):
    folder.mkdir(parents=True)
    with open(folder / "premise_groups.jsonl", "w") as f:
        for step, values in groups_by_step.items():
            f.write(json.dumps({"step": step, "groups": {signal: values, "length": [0.5] * len(values)}}) + "\n")
    with open(folder / "metrics.jsonl", "w") as f:
        for step, values in groups_by_step.items():
            if values:
                f.write(json.dumps({"step": step, f"premise/{signal}/auroc_window": float(np.mean(values))}) + "\n")


def by_hand_interval(values: np.ndarray, resamples: int) -> tuple[float, float]:
    """Percentile bootstrap of the mean: `resamples` draws of n groups with replacement, rng seeded with 0."""
    rng = np.random.default_rng(0)
    draws = np.array([values[rng.integers(0, values.size, values.size)].mean() for _ in range(resamples)])
    return tuple(np.percentile(draws, [2.5, 97.5]))


def test_quarters():
    assert quarter_steps(32) == (range(1, 9), range(25, 33))
    assert quarter_steps(2) == (range(1, 2), range(2, 3))
    assert quarter_steps(10) == (range(1, 4), range(8, 11))


def test_trained_signal_of_each_arm():
    assert trained_signal("vigor", {}) == "vigor"
    assert trained_signal("vigor+length_correction=false", {}) == "vigor_uncorrected"
    assert trained_signal("vigor+learning_rate=2e-6", {"length_correction": False}) == "vigor_uncorrected"
    assert trained_signal("self_certainty+beta=0.01", {}) == "self_certainty"


def test_quarter_table_matches_a_by_hand_computation(tmp_path):
    rng = np.random.default_rng()
    steps, seeds = 8, [0, 1]
    arms = {"vigor": "vigor", "self_certainty+learning_rate=2e-6": "self_certainty"}
    written = {}
    for entry, signal in arms.items():
        for seed in seeds:
            groups = {s: rng.random(int(rng.integers(0, 4))).round(3).tolist() for s in range(1, steps + 1)}
            groups[1] = groups[1] or [0.25]  # at least one group in each quarter
            groups[8] = groups[8] or [0.75]
            write_run(tmp_path / entry / f"seed{seed}", groups, signal)
            written[entry, seed] = groups
    manifest = {"identity": {"max_steps": steps, "premise_window_steps": 8}, "arms": {}}
    result = {"rewards": list(arms), "seeds": seeds}
    text = premise_section(tmp_path, manifest, result)
    assert (tmp_path / PLOT).stat().st_size > 0 and f"![{PLOT}]({PLOT})" in text
    for entry in arms:
        for quarter, span in (("first", (1, 2)), ("last", (7, 8))):
            values = np.array([v for seed in seeds for s in span for v in written[entry, seed][s]])
            row = result["premise"][entry][quarter]
            assert row["groups"] == values.size
            assert row["auroc"] == pytest.approx(values.mean(), abs=1e-12)
            if values.size >= 2:
                assert row["ci95"] == pytest.approx(by_hand_interval(values, RESAMPLES), abs=1e-12)
        # the curve: mean, min and max over seeds of the windowed value at each step both seeds logged
        steps_, mean, low, high = result["premise"][entry]["curve"]
        both = [s for s in range(1, steps + 1) if all(written[entry, k][s] for k in seeds)]
        assert steps_ == both
        by_seed = np.array([[np.mean(written[entry, k][s]) for s in both] for k in seeds])
        np.testing.assert_allclose(mean, by_seed.mean(0), atol=1e-12)
        np.testing.assert_allclose(low, by_seed.min(0), atol=1e-12)
        np.testing.assert_allclose(high, by_seed.max(0), atol=1e-12)
    assert "| self_certainty+learning_rate=2e-6 | self_certainty | 1-2 |" in text
    assert "## Departures from the reference recipe" in text and "- model: the embedded SmolLM2" in text
    assert result["departures"] and all(":" in d for d in result["departures"])


def test_no_premise_logged_says_so(tmp_path):
    for entry in ("vigor", "random"):
        (tmp_path / entry / "seed0").mkdir(parents=True)
        (tmp_path / entry / "seed0" / "metrics.jsonl").write_text(json.dumps({"step": 1, "loss": 0.0}) + "\n")
    result = {"rewards": ["vigor", "random"], "seeds": [0]}
    text = premise_section(tmp_path, {"identity": {"max_steps": 4}}, result)
    assert "No run logged the premise" in text and not (tmp_path / PLOT).exists() and result["premise"] == {}


def test_the_premise_by_category_matches_a_by_hand_split(tmp_path):
    """With categories in premise_groups.jsonl, each arm's quarters are also split by category: the groups of one
    category pooled over steps and seeds, checked against a by-hand filter of what was written."""
    rng = np.random.default_rng()
    steps, seeds, operations = 8, [0, 1], ["addition", "subtraction"]
    written = {}
    for seed in seeds:
        folder = tmp_path / "vigor" / f"seed{seed}"
        folder.mkdir(parents=True)
        with open(folder / "premise_groups.jsonl", "w") as f:
            for step in range(1, steps + 1):
                values = rng.random(int(rng.integers(1, 5))).round(3).tolist()
                cats = [{"operation": str(rng.choice(operations))} for _ in values]
                written[seed, step] = list(zip(values, cats))
                f.write(json.dumps({"step": step, "groups": {"vigor": values}, "categories": cats}) + "\n")
    manifest = {"identity": {"max_steps": steps, "premise_window_steps": 8}, "arms": {}}
    result = {"rewards": ["vigor"], "seeds": seeds}
    text = premise_section(tmp_path, manifest, result)
    by_category = result["premise"]["vigor"]["by_category"]
    assert sorted(by_category) == [f"operation: {op}" for op in operations
                                   if any(c["operation"] == op for pairs in written.values() for _, c in pairs)]
    for label, cells in by_category.items():
        for quarter, span in (("first", (1, 2)), ("last", (7, 8))):
            values = np.array([v for seed in seeds for s in span for v, c in written[seed, s]
                               if f"operation: {c['operation']}" == label])
            assert cells[quarter]["groups"] == values.size
            if values.size:
                assert cells[quarter]["auroc"] == pytest.approx(values.mean(), abs=1e-12)
    assert "### The premise by category" in text and "| vigor | operation: " in text
