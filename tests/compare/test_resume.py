"""Killing `vigor compare` mid-run (a real SIGKILL of the process group) and rerunning it finishes the
study with no run trained twice: the interrupted run resumes from its last checkpoint."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.compare.conftest import tiny_study_args


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def compare_command(args):
    return [sys.executable, "-m", "vigor.cli", *args]


@pytest.mark.slow
def test_killed_study_resumes_without_training_a_run_twice(tiny_model_dir, data_files, tmp_path):
    train, heldout = data_files
    out = tmp_path / "cmp"
    # a checkpoint every step, so the kill lands between checkpoint-1 and the run's end
    args = tiny_study_args(tiny_model_dir, train, heldout, out, extra=("--save-strategy", "steps", "--save-steps", "1"))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen(compare_command(args), env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    # the second run's first complete checkpoint (trainer_state.json is written last), after the first run finished
    target = out / "random" / "seed0" / "checkpoint-1" / "trainer_state.json"
    deadline = time.time() + 300
    while not target.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert target.exists(), proc.stderr.read()[-2000:]
    assert not (out / "report.md").exists()
    done = subprocess.run(compare_command(args), env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    events = read_jsonl(out / "study.log.jsonl")
    for run in ("vigor/seed0", "random/seed0"):
        actions = [e["action"] for e in events if e["run"] == run]
        assert actions.count("train") == 1, (run, actions)  # started from scratch once
        assert actions.count("done") == 1, (run, actions)
    random_actions = [(e["action"], e.get("from_step")) for e in events if e["run"] == "random/seed0"]
    vigor_actions = [e["action"] for e in events if e["run"] == "vigor/seed0"]
    assert vigor_actions == ["train", "done", "skip"]  # finished before the kill: not trained again
    assert random_actions[0] == ("train", 0) and random_actions[-1][0] == "done"
    assert ("resume", 1) in random_actions or ("resume", 2) in random_actions, random_actions
    for run in ("vigor", "random"):
        metrics = read_jsonl(out / run / "seed0" / "metrics.jsonl")
        train_steps = [r["step"] for r in metrics if "entropy" in r]
        assert train_steps == [1, 2]  # each step logged once, in order, after the resume too
        assert [r["step"] for r in metrics if "eval/mean_accuracy" in r] == [0, 2]
        assert not list((out / run / "seed0").glob("checkpoint-*"))  # deleted once the run finished
    assert (out / "report.md").exists()
