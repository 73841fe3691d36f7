"""The premise monitor: per-step and windowed within-group AUROC against a pair-counting reference, the warning
(vigor.training.callbacks.PremiseCallback) on a reward that prefers wrong answers and not on a neutral one, resume,
the off switch and the bad window value. The real-run test is in test_premise_run.py."""

import json
import types

import numpy as np
import pytest
import torch

from vigor.analysis.stats import signal_summary
from vigor.rewards import RewardSet
from vigor.training.callbacks import PREMISE_FILE, PremiseCallback
from vigor.training.premise import RECORDS_FILE, premise_setup

G = 6


def pair_auroc(scores, correct) -> float:
    """Slow, obviously right: over every (right, wrong) pair in the group, 1 if the right one scores higher,
    1/2 if tied, 0 otherwise; NaN scores are below everything."""
    def key(x):
        return -np.inf if np.isnan(x) else x
    right = [key(s) for s, c in zip(scores, correct) if c]
    wrong = [key(s) for s, c in zip(scores, correct) if not c]
    wins = sum(1.0 if r > w else 0.5 if r == w else 0.0 for r in right for w in wrong)
    return wins / (len(right) * len(wrong))


def reference_mean(steps) -> float:
    """Mean of the pair-counted AUROC over every mixed group with known gold in `steps` ([(scores, gold)], [N])."""
    values = []
    for scores, gold in steps:
        for g in range(len(gold) // G):
            s, y = scores[g * G:(g + 1) * G], gold[g * G:(g + 1) * G]
            if np.isnan(y).any() or y.min() == y.max():
                continue
            values.append(pair_auroc(s, y > 0.5))
    return float(np.mean(values)) if values else float("nan"), len(values)


def monitor_for(spec, tmp_path, window=3):
    args = types.SimpleNamespace(premise_monitor=True, premise_signals=None, premise_window_steps=window,
                                 output_dir=str(tmp_path))
    _, monitor = premise_setup(args, RewardSet.from_spec(spec))
    return monitor


def random_step(rng, n_groups, *, prefers_wrong=False):
    """[N, 2] reported (self_certainty, accuracy) with ties (scores on a coarse grid), NaN scores and a group
    without gold, and [N] lengths."""
    gold = (rng.random(n_groups * G) < 0.5).astype(float)
    gold[:G] = np.nan  # a prompt without gold
    scores = rng.integers(0, 4, n_groups * G).astype(float)
    if prefers_wrong:
        scores = np.where(gold > 0.5, 0.0, 1.0) + 0.3 * rng.random(n_groups * G)
    scores[rng.random(n_groups * G) < 0.1] = np.nan
    lengths = rng.integers(1, 5, n_groups * G)  # ties too
    return torch.tensor(np.stack([scores, gold], 1)), torch.tensor(lengths)


def test_step_and_window_auroc_match_pair_counting(tmp_path):
    rng = np.random.default_rng()
    monitor = monitor_for("self_certainty,accuracy:0", tmp_path, window=3)
    assert monitor.signals == ["self_certainty", "neg_entropy", "logprob", "length"]
    assert monitor.trained == ["self_certainty"]
    logged = []  # per logged step: its scoring calls as ({signal: [N]}, gold [N])
    for step in range(1, 7):
        calls = []
        for _ in range(int(rng.integers(1, 3))):  # one or two scoring calls before each log
            reported, lengths = random_step(rng, int(rng.integers(2, 9)))
            statistics = torch.tensor(rng.integers(0, 3, (len(reported), 2)).astype(float))  # ties
            monitor.add(reported, statistics, lengths, G)
            calls.append(({"self_certainty": reported[:, 0].numpy(), "neg_entropy": statistics[:, 0].numpy(),
                           "logprob": statistics[:, 1].numpy(), "length": lengths.double().numpy()},
                          reported[:, 1].numpy()))
        logged.append(calls)
        logs = monitor.step_metrics(step)
        window = [call for calls in logged[-3:] for call in calls]
        for signal in monitor.signals:
            now, n_now = reference_mean([(values[signal], gold) for values, gold in calls])
            pooled, n_pooled = reference_mean([(values[signal], gold) for values, gold in window])
            assert logs.get(f"premise/{signal}/auroc", np.nan) == pytest.approx(now, abs=1e-12, nan_ok=True)
            assert logs.get(f"premise/{signal}/auroc_window", np.nan) == pytest.approx(pooled, abs=1e-12,
                                                                                        nan_ok=True)
            assert logs[f"premise/{signal}/mixed_groups"] == n_pooled
        assert logs["premise/step_mixed_groups"] == n_now
        assert ("premise/self_certainty/auroc_window_ci_high" in logs) == (n_pooled >= 2)
        assert "premise/logprob/auroc_window_ci_high" not in logs  # intervals only for the trained reward
    assert monitor.step_metrics(7) == {}  # nothing sampled since the last log


def test_step_auroc_is_signal_summarys(tmp_path):
    """One definition: the step value equals `vigor analyze`'s `signal_summary` auroc on the same groups."""
    rng = np.random.default_rng()
    monitor = monitor_for("logprob,accuracy:0", tmp_path)
    reported, lengths = random_step(rng, 12)
    reported[:G, 1] = 0.0  # gold known everywhere here
    monitor.add(reported, torch.zeros((len(reported), 2)), lengths, G)
    logs = monitor.step_metrics(1)
    correct = (reported[:, 1].numpy() > 0.5).reshape(-1, G)
    expected = signal_summary(reported[:, 0].numpy().reshape(-1, G), correct, resamples=0)
    assert logs["premise/logprob/auroc"] == pytest.approx(expected["auroc"], abs=1e-12)
    assert logs["premise/step_mixed_groups"] == expected["n_groups_mixed"]


def test_vigor_signals_both_ways(tmp_path):
    """vigor's column gives the corrected and the uncorrected norm, whichever it trains on."""
    args = types.SimpleNamespace(premise_monitor=True, premise_signals=None, premise_window_steps=8,
                                 output_dir=str(tmp_path))
    norms, lengths = torch.tensor([1.0, 2.0, 3.0, 4.0]), torch.tensor([4, 1, 9, 1])
    for correction in (True, False):
        rewards = RewardSet.from_spec("vigor,accuracy:0", {"vigor": {"length_correction": correction}})
        _, monitor = premise_setup(args, rewards)
        assert monitor.trained == ["vigor" if correction else "vigor_uncorrected"]
        column = -(norms * lengths.double().sqrt() if correction else norms)
        reported = torch.stack([column.double(), torch.tensor([1.0, 0, 1, 0])], 1)
        values = monitor.signal_values(reported, torch.zeros((4, 3)), lengths)
        assert torch.allclose(torch.tensor(values["vigor"]), -(norms * lengths.double().sqrt()).double())
        assert torch.allclose(torch.tensor(values["vigor_uncorrected"]), -norms.double())


def feed(monitor, callback, rng, steps, *, prefers_wrong, start=1):
    state = types.SimpleNamespace(global_step=0, is_world_process_zero=True)
    args = types.SimpleNamespace(output_dir=monitor.records_path.rsplit("/", 1)[0])
    for step in range(start, start + steps):
        reported, lengths = random_step(rng, 4, prefers_wrong=prefers_wrong)
        monitor.add(reported, torch.zeros((len(reported), 2)), lengths, G)
        state.global_step = step
        callback.on_log(args, state, types.SimpleNamespace(), logs=monitor.step_metrics(step))
    return args, state


def test_warning_fires_once_when_the_reward_prefers_wrong_answers(tmp_path, caplog):
    rng = np.random.default_rng()
    monitor = monitor_for("self_certainty,accuracy:0", tmp_path, window=4)
    callback = PremiseCallback(monitor)
    with caplog.at_level("WARNING", logger="vigor.training"):
        feed(monitor, callback, rng, 6, prefers_wrong=True)
    fired = json.loads((tmp_path / PREMISE_FILE).read_text())
    # 3 mixed groups a step at most (the first has no gold): 5 in the window from step 2 (almost surely by 3)
    assert fired["signal"] == "self_certainty" and fired["step"] <= 3 and fired["ci95"][1] < 0.5
    assert fired["mixed_groups"] >= 5
    assert "the reward now prefers wrong answers" in fired["reason"] and f"at step {fired['step']}" in fired["reason"]
    assert caplog.text.count("prefers wrong answers") == 1


def test_warning_stays_silent_on_a_neutral_reward(tmp_path):
    """Neutral by construction (so never by chance): each step's random groups come with their mirror images
    (the same scores, gold flipped), whose AUROC is 1 - theirs, so every window's AUROCs are symmetric about 0.5."""
    rng = np.random.default_rng()
    monitor = monitor_for("self_certainty,accuracy:0", tmp_path, window=8)
    callback = PremiseCallback(monitor)
    args = types.SimpleNamespace(output_dir=str(tmp_path))
    for step in range(1, 13):
        reported, lengths = random_step(rng, 4)
        mirror = reported.clone()
        mirror[:, 1] = 1 - mirror[:, 1]
        monitor.add(torch.cat([reported, mirror]), torch.zeros((2 * len(reported), 2)), lengths.repeat(2), G)
        logs = monitor.step_metrics(step)
        assert logs["premise/self_certainty/auroc_window"] == pytest.approx(0.5, abs=1e-12)
        callback.on_log(args, types.SimpleNamespace(global_step=step, is_world_process_zero=True), None, logs=logs)
    assert logs["premise/self_certainty/mixed_groups"] >= 5 and not callback.fired
    assert not (tmp_path / PREMISE_FILE).exists()


def test_resume_rebuilds_the_window_and_forgets_later_firings(tmp_path):
    rng = np.random.default_rng()
    monitor = monitor_for("self_certainty,accuracy:0", tmp_path, window=3)
    callback = PremiseCallback(monitor)
    feed(monitor, callback, rng, 5, prefers_wrong=True)
    window_at_5 = [w["self_certainty"].copy() for w in monitor.window]
    assert 2 <= json.loads((tmp_path / PREMISE_FILE).read_text())["step"] <= 3
    # resume from a checkpoint at step 4: records after it are dropped, the window is steps 2..4
    resumed = monitor_for("self_certainty,accuracy:0", tmp_path, window=3)
    state = types.SimpleNamespace(global_step=4, is_world_process_zero=True)
    args = types.SimpleNamespace(output_dir=str(tmp_path))
    PremiseCallback(resumed).on_train_begin(args, state, None)
    records = [json.loads(line) for line in (tmp_path / RECORDS_FILE).read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3, 4]
    assert len(resumed.window) == 3
    for got, want in zip(resumed.window[1:], window_at_5[:2]):  # steps 3, 4
        assert np.array_equal(got["self_certainty"], want)
    # a resume from step 1, before the firing, forgets it
    PremiseCallback(monitor_for("self_certainty,accuracy:0", tmp_path)).on_train_begin(
        args, types.SimpleNamespace(global_step=1, is_world_process_zero=True), None)
    assert not (tmp_path / PREMISE_FILE).exists()


def test_off_switch_and_no_gold(tmp_path):
    args = types.SimpleNamespace(premise_monitor=False, premise_signals=None, premise_window_steps=8,
                                 output_dir=str(tmp_path))
    rewards = RewardSet.from_spec("vigor,accuracy:0")
    assert premise_setup(args, rewards) == (rewards, None)
    args.premise_monitor = True
    no_gold = RewardSet.from_spec("vigor")
    assert premise_setup(args, no_gold) == (no_gold, None)


def test_premise_signals_add_a_weight_zero_vigor(tmp_path, capsys):
    from vigor.training import VigorGRPOConfig

    config = VigorGRPOConfig(output_dir=str(tmp_path), use_cpu=True, premise_signals=["vigor"])
    rewards, monitor = premise_setup(config, RewardSet.from_spec("self_certainty,accuracy:0"))
    assert rewards.names == ["self_certainty", "accuracy", "vigor"] and rewards.weights == [1.0, 0.0, 0.0]
    assert monitor.trained == ["self_certainty"]
    assert monitor.signals[:2] == ["vigor", "vigor_uncorrected"]
    assert "gradient-norm pass" in capsys.readouterr().out


@pytest.mark.parametrize("option, value, message", [
    ("--premise-window-steps", "0", "premise_window_steps must be >= 1, got 0"),
    ("--premise-signals", "length", "premise_signals: 'length' is not one of"),
])
def test_bad_values_are_one_line_errors_before_loading(option, value, message, tmp_path, capsys):
    from vigor.cli import main

    out = tmp_path / "out"
    code = main(["train", "--output-dir", str(out), "--dataset", "gsm_symbolic", "--max-samples", "4",
                 option, value])
    err = capsys.readouterr().err.strip()
    assert code != 0 and message in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_each_mixed_group_keeps_its_category(tmp_path, fresh_seed):
    """premise_groups.jsonl's "categories" names each mixed group's category, in the order of its AUROCs: checked
    against a loop over the groups that keeps the mixed ones with gold, on fresh random steps (two calls, one log)."""
    rng = np.random.default_rng(fresh_seed)
    monitor = monitor_for("self_certainty,accuracy:0", tmp_path)
    expected_aurocs, expected_categories = [], []
    for _ in range(2):
        reported, lengths = random_step(rng, 7)
        operation = [rng.choice(["addition", "subtraction"]) for _ in range(7)]
        categories = [json.dumps({"operation": op}) for op in operation for _ in range(G)]
        statistics = torch.zeros((len(lengths), len(monitor.statistics)), dtype=torch.float64)
        monitor.add(reported, statistics, lengths, G, categories)
        scores, gold = reported[:, 0].numpy(), reported[:, 1].numpy()
        for g in range(7):
            y = gold[g * G:(g + 1) * G]
            if np.isnan(y).any() or y.min() == y.max():
                continue
            expected_aurocs.append(pair_auroc(scores[g * G:(g + 1) * G], y > 0.5))
            expected_categories.append({"operation": operation[g]})
    monitor.step_metrics(1)
    [record] = [json.loads(line) for line in open(tmp_path / RECORDS_FILE)]
    assert record["categories"] == expected_categories
    np.testing.assert_allclose(record["groups"]["self_certainty"], expected_aurocs, atol=1e-12)


def test_no_categories_no_key(tmp_path, fresh_seed):
    """Data without categories (None for every completion) writes no "categories" key."""
    rng = np.random.default_rng(fresh_seed)
    monitor = monitor_for("self_certainty,accuracy:0", tmp_path)
    reported, lengths = random_step(rng, 4)
    statistics = torch.zeros((len(lengths), len(monitor.statistics)), dtype=torch.float64)
    monitor.add(reported, statistics, lengths, G, [None] * len(lengths))
    monitor.step_metrics(1)
    [record] = [json.loads(line) for line in open(tmp_path / RECORDS_FILE)]
    assert "categories" not in record
