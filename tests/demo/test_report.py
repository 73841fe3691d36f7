"""The demo report's premise section: per intrinsic reward, within-group statistics from the training
rollouts (rewards.jsonl), checked against the slow reference statistics on fresh random data."""

import numpy as np
import pytest

from vigor.analysis.reference import auroc_reference, top_choice_correct_reference
from vigor.demo.plots import reward_columns
from vigor.demo.report import changes_section, premise_section, premise_statistics


def random_dump(seed: int, *, steps: int, group_size: int, mixed: bool = True):
    """A rewards.jsonl as the trainer writes it: per step, every reward's raw value of each completion."""
    rng = np.random.default_rng(seed)
    names = ["vigor", "accuracy", "self_certainty", "logprob", "random"]
    dump = []
    for step in range(steps):
        correct = rng.random(group_size) < 0.5
        if mixed:
            correct[:2] = [True, False]
        raw = np.stack([-rng.gamma(2.0, size=group_size), correct.astype(float), rng.normal(size=group_size),
                        rng.normal(size=group_size), rng.random(group_size)], 1)
        dump.append({"step": step, "rewards": names, "raw": raw.tolist(),
                     "lengths": rng.integers(1, 60, group_size).tolist()})
    return dump


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_premise_statistics_match_the_references(seed):
    group_size = 4
    dump = random_dump(seed, steps=12, group_size=group_size)
    premise = premise_statistics(reward_columns(dump), group_size, resamples=50)
    assert list(premise) == ["vigor", "vigor_uncorrected", "self_certainty", "logprob"]  # model-based only
    raw = np.array([r["raw"] for r in dump])              # [groups, G, rewards]
    lengths = np.array([r["lengths"] for r in dump], dtype=float)
    correct = raw[:, :, 1] > 0.5
    expected_scores = {"vigor": raw[:, :, 0], "vigor_uncorrected": raw[:, :, 0] / np.sqrt(lengths),
                       "self_certainty": raw[:, :, 2], "logprob": raw[:, :, 3]}
    for name, scores in expected_scores.items():
        aurocs = [auroc_reference(s, c) for s, c in zip(scores, correct)]
        top1 = top_choice_correct_reference(scores, correct)
        got = premise[name]
        assert got["n_groups_mixed"] == 12, f"seed {seed}"
        assert got["auroc"] == pytest.approx(np.mean(aurocs), abs=1e-12), f"seed {seed} {name}"
        assert got["top1_correct"] == pytest.approx(np.mean(top1), abs=1e-12), f"seed {seed} {name}"
        assert got["chance"] == pytest.approx(correct.mean(), abs=1e-12)
    report = "\n".join(premise_section(premise))
    assert "| vigor |" in report and "| self_certainty |" in report and "**VIGOR here:**" in report


def test_too_few_mixed_groups_print_no_number():
    dump = random_dump(0, steps=6, group_size=4, mixed=False)
    for record in dump[1:]:  # only the first group can mix
        record["raw"] = [[v if k != 1 else 0.0 for k, v in enumerate(row)] for row in record["raw"]]
    premise = premise_statistics(reward_columns(dump), 4, resamples=20)
    assert premise["vigor"]["n_groups_mixed"] <= 1
    report = "\n".join(premise_section(premise))
    assert "Too few mixed groups" in report and "AUROC |" not in report
    assert premise_statistics(reward_columns([{**r, "rewards": ["vigor", "x", "self_certainty", "logprob", "random"]}
                                              for r in dump]), 4) is None  # no accuracy monitor: nothing graded
    assert "Not measurable" in premise_section(None)[2]


def test_changes_section_says_what_changed():
    result = {"before": {"accuracy": 0.4}, "after": {"accuracy": 0.5}, "direction": "rose", "significant": False,
              "paired": {"gained": 5, "lost": 1, "mcnemar_p": 0.22},
              "curves": {"gold_accuracy": {"first_third": 0.3, "last_third": 0.45}}}
    text = "\n".join(changes_section(result))
    assert "Held-out accuracy rose: 40.0% -> 50.0% (5 gained, 1 lost, McNemar p = 0.22): no change" in text
    assert "30% over the first third of the steps, 45% over the last" in text


def test_plot_curves_writes_one_png_per_logged_curve(tmp_path):
    from vigor.demo.plots import plot_curves

    metrics = [{"step": s, "gold_accuracy": 0.1 * s, "rewards/vigor/mean": -s, "rewards/vigor/grad_norm_mean": 2.0,
                "rewards/vigor/grad_norm_corrected_mean": 3.0 + s} for s in range(1, 5)]
    metrics.append({"step": 5, "entropy": "not a number"})  # a step that logged no curve value is skipped
    written = plot_curves(metrics, "vigor", tmp_path)
    assert written == ["reward.png", "gold_accuracy.png", "grad_norm.png"]  # no entropy, no length logged
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(written)
    assert all((tmp_path / name).read_bytes()[:4] == b"\x89PNG" for name in written)
