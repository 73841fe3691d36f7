"""The collapse guard's relative thresholds, on constructed logs (no training needed)."""

import json
from types import SimpleNamespace

import pytest

from vigor.training.callbacks import COLLAPSE_FILE, CollapseGuardCallback, collapse_signs


def guard_args(tmp_path, **overrides):
    values = dict(output_dir=str(tmp_path), collapse_guard=True, collapse_baseline_steps=3, collapse_window_steps=1,
                  collapse_entropy_fraction=0.3, collapse_max_truncation=0.9, collapse_min_entropy=None,
                  collapse_max_repetition=None, collapse_min_length=None, collapse_max_length=None,
                  collapse_stop=False)
    values.update(overrides)
    return SimpleNamespace(**values)


def feed(guard, args, records):
    control = SimpleNamespace(should_training_stop=False, should_save=False)
    state = SimpleNamespace(global_step=0, is_world_process_zero=True)
    guard.on_train_begin(args, state, control)
    for step, record in enumerate(records, start=1):
        state.global_step = step
        guard.on_log(args, state, control, logs=record)
    return control


@pytest.mark.parametrize("entropies, fired", [([4, 5, 3, 1.1], 4), ([4, 5, 3, 1.3], None), ([4, 5, 3, 2, 1], 5),
                                              ([0.1, 0.1, 0.1, 0.1], None)])
def test_entropy_relative_to_the_first_steps(entropies, fired, tmp_path):
    # initial = mean of the first 3 steps = 4 (or 0.1); fires below 0.3 x 4 = 1.2
    args = guard_args(tmp_path)
    guard = CollapseGuardCallback(args)
    feed(guard, args, [{"entropy": e, "completions/truncation_rate": 0.1} for e in entropies])
    path = tmp_path / COLLAPSE_FILE
    if fired is None:
        assert not path.exists()
    else:
        assert json.loads(path.read_text())["step"] == fired


@pytest.mark.parametrize("truncation, window, fired", [
    # G = 8: one group with all 8 completions at the cap fires a one-step window ...
    ([0.75, 0.75, 0.875, 1.0, 0.75, 0.875, 1.0], 1, 4),
    # ... not the default 3-step window (means 0.875 from step 3 on; the start is 0.79)
    ([0.75, 0.75, 0.875, 1.0, 0.75, 0.875, 1.0], 3, None),
    # a stay at the cap fires once the window holds it (means 0.67, 0.83, 1.0 at steps 4-6)
    ([0.5, 0.5, 0.5, 1.0, 1.0, 1.0], 3, 6),
])
def test_truncation_window(truncation, window, fired, tmp_path):
    args = guard_args(tmp_path, collapse_window_steps=window)
    feed(CollapseGuardCallback(args), args, [{"entropy": 4.0, "completions/truncation_rate": t} for t in truncation])
    path = tmp_path / COLLAPSE_FILE
    assert (json.loads(path.read_text())["step"] if path.exists() else None) == fired


def test_truncation_fires_only_when_the_run_went_there(tmp_path):
    args = guard_args(tmp_path)
    signs = collapse_signs({"entropy": 4, "completions/truncation_rate": 0.95},
                           {"entropy": 4, "completions/truncation_rate": 0.2}, args)
    assert signs == ["95% of completions hit the length cap (initially 20%)"]
    assert collapse_signs({"entropy": 4, "completions/truncation_rate": 0.95},
                          {"entropy": 4, "completions/truncation_rate": 0.93}, args) == []
    off = guard_args(tmp_path, collapse_max_truncation=None, collapse_entropy_fraction=None)
    assert collapse_signs({"entropy": 0.0, "completions/truncation_rate": 1.0},
                          {"entropy": 4, "completions/truncation_rate": 0.0}, off) == []


def test_stop_and_disabled(tmp_path):
    records = [{"entropy": 4.0}] * 3 + [{"entropy": 0.5}]
    args = guard_args(tmp_path / "stop", collapse_stop=True)
    guard = CollapseGuardCallback(args)
    control = feed(guard, args, records)
    assert control.should_training_stop and "at step 4" in guard.reason
    args = guard_args(tmp_path / "off", collapse_guard=False)
    control = feed(CollapseGuardCallback(args), args, records)
    assert not control.should_training_stop and not (tmp_path / "off" / COLLAPSE_FILE).exists()


def test_a_resumed_run_keeps_its_start_and_its_window(tmp_path):
    """Resumed at step 4, the guard reads its start (steps 1-3) and its window (steps 2-4) from metrics.jsonl."""
    from vigor.training.callbacks import METRICS_FILE

    logged = [{"step": step, "entropy": 4.0, "completions/truncation_rate": rate}
              for step, rate in enumerate([0.5, 0.5, 1.0, 1.0], start=1)]
    (tmp_path / METRICS_FILE).write_text("".join(json.dumps(r) + "\n" for r in logged))
    args = guard_args(tmp_path, collapse_window_steps=3)
    guard = CollapseGuardCallback(args)
    control = SimpleNamespace(should_training_stop=False, should_save=False)
    state = SimpleNamespace(global_step=4, is_world_process_zero=True)
    guard.on_train_begin(args, state, control)
    assert guard.initial()["completions/truncation_rate"] == pytest.approx(2 / 3)
    state.global_step = 5
    guard.on_log(args, state, control, logs={"entropy": 4.0, "completions/truncation_rate": 1.0})  # mean 1.0 > 0.9
    assert json.loads((tmp_path / COLLAPSE_FILE).read_text())["step"] == 5
    assert "(means of the last 3 logged steps)" in json.loads((tmp_path / COLLAPSE_FILE).read_text())["reason"]
