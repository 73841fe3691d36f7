"""The premise monitor in real training runs: the embedded model on the miniature's task (single-digit addition
and subtraction, which gives mixed groups) logs every premise key to metrics.jsonl and TensorBoard, with values
that the rewards dumped by the same run reproduce by pair counting, and each mixed group's category (its
prompt's operation); `premise_monitor=False` logs none."""

import json
import os

import numpy as np
import pytest

from tests.training.test_premise import pair_auroc
from tests.training.training_helpers import read_jsonl, tiny_run_options

SIGNALS = ("vigor", "vigor_uncorrected", "self_certainty", "neg_entropy", "logprob", "length")


def reference_values(dump: dict, group_size: int) -> tuple[list[float], list[str]]:
    """(pair-counted AUROC of VIGOR's reward in each mixed group, each mixed group's operation read from its
    prompt) of one sampling."""
    raw, names = np.array(dump["raw"], dtype=float), dump["rewards"]
    vigor, gold = raw[:, names.index("vigor")], raw[:, names.index("accuracy")]
    out, operations = [], []
    for g in range(len(gold) // group_size):
        rows = slice(g * group_size, (g + 1) * group_size)
        if np.isnan(gold[rows]).any() or gold[rows].min() == gold[rows].max():
            continue
        out.append(pair_auroc(vigor[rows], gold[rows] > 0.5))
        question = dump["prompts"][g * group_size].rsplit("Calculate", 1)[1]
        operations.append("subtraction" if " - " in question else "addition")
    return out, operations


@pytest.mark.timeout(1800)
def test_embedded_model_logs_the_premise_on_the_demo_task(tmp_path):
    from vigor.training import VigorGRPOConfig, train

    options = tiny_run_options(None, "reasoning-gym:single_digit_add_sub", tmp_path / "out", max_samples=16,
                               per_device_train_batch_size=24, num_generations=8, max_completion_length=40,
                               max_steps=3, learning_rate=1e-5, report_to="tensorboard", reward_dump=True,
                               monitor_accuracy=True, premise_window_steps=2, system_prompt="boxed", seed=0)
    out = train(VigorGRPOConfig(**options))
    records = read_jsonl(os.path.join(out, "metrics.jsonl"))
    dumps = read_jsonl(os.path.join(out, "rewards.jsonl"))
    assert [r["step"] for r in records] == [1, 2, 3] and len(dumps) == 3
    per_step, operations = zip(*[reference_values(d, 8) for d in dumps])
    assert sum(map(len, per_step)) > 0, "no mixed group in 3 steps: the test needs an easier task"
    for i, record in enumerate(records):
        for signal in SIGNALS:
            assert f"premise/{signal}/mixed_groups" in record, signal
        window = [v for step in per_step[max(0, i - 1): i + 1] for v in step]
        assert record["premise/step_mixed_groups"] == len(per_step[i])
        assert record["premise/vigor/mixed_groups"] == len(window)
        if per_step[i]:
            assert record["premise/vigor/auroc"] == pytest.approx(np.mean(per_step[i]), abs=1e-9)
            assert all(f"premise/{s}/auroc" in record for s in SIGNALS)
        if window:
            assert record["premise/vigor/auroc_window"] == pytest.approx(np.mean(window), abs=1e-9)
    groups = read_jsonl(os.path.join(out, "premise_groups.jsonl"))
    assert [g["step"] for g in groups] == [1, 2, 3] and set(groups[0]["groups"]) == set(SIGNALS)
    for record, expected in zip(groups, operations):  # each mixed group's category is its prompt's operation
        assert [c["operation"] for c in record.get("categories", [])] == expected

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    [events] = [root for root, _, files in os.walk(out) if any(f.startswith("events.out") for f in files)]
    tags = EventAccumulator(events).Reload().Tags()["scalars"]
    assert "train/premise/vigor/mixed_groups" in tags and "train/premise/length/auroc_window" in tags


def test_off_switch_logs_no_premise(tiny_model_dir, prompts_file, tmp_path):
    from vigor.training import VigorGRPOConfig, train

    for on in (True, False):
        options = tiny_run_options(tiny_model_dir, prompts_file, tmp_path / str(on), monitor_accuracy=True,
                                   premise_monitor=on, max_steps=2)
        out = train(VigorGRPOConfig(**options))
        records = read_jsonl(os.path.join(out, "metrics.jsonl"))
        logged = {k for r in records for k in r if k.startswith("premise/")}
        assert bool(logged) == on and os.path.exists(os.path.join(out, "premise_groups.jsonl")) == on
        if on:
            assert {f"premise/{s}/mixed_groups" for s in SIGNALS} <= logged
            assert json.dumps(records)  # finite or None: valid JSON
