"""A two-process CPU run (gloo) ranks whole groups; a killed run resumes where it stopped."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch

from tests.training.training_helpers import as_cli_args, read_jsonl, tiny_run_options

VENV_BIN = os.path.dirname(sys.executable)
ENV = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
           OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")


def run(cmd, timeout=240, env=None):
    """Run `cmd` in its own process group, so a timeout kills the workers too; `env` adds variables."""
    proc = subprocess.Popen(cmd, env=dict(ENV, **(env or {})), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


@pytest.mark.slow
def test_two_processes_rank_over_the_whole_group(tiny_model_dir, prompts_file, tmp_path):
    # accelerate 1.15 `launch --cpu` starts a single process; torchrun gives the same env accelerate reads.
    options = tiny_run_options(tiny_model_dir, prompts_file, tmp_path / "out", per_device_train_batch_size=4,
                               num_generations=8, max_steps=2, reward_dump=True, log_completions_every=1)
    proc = run([os.path.join(VENV_BIN, "torchrun"), "--standalone", "--nproc-per-node", "2",
                "-m", "vigor.cli", "train", *as_cli_args(options)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    dumps = read_jsonl(tmp_path / "out" / "rewards.jsonl")
    assert len(dumps) == 2
    table = [-1 + 2 * k / 7 for k in range(8)]
    for dump in dumps:
        assert dump["process"] == [0, 0, 0, 0, 1, 1, 1, 1]  # one group of 8, half on each process
        assert len(set(dump["prompts"])) == 1  # ... of one prompt: the gather keeps TRL's sampler order
        shaped = [row[0] for row in dump["shaped"]]
        assert sorted(shaped) == pytest.approx(table)  # 8 distinct ranks: ranked over both halves
        advantages = sorted(row[0] for row in dump["advantages"])
        assert advantages == pytest.approx([-1.4287, -1.0205, -0.6123, -0.2041, 0.2041, 0.6123, 1.0205, 1.4287],
                                           abs=1e-4)
    assert [r["step"] for r in read_jsonl(tmp_path / "out" / "metrics.jsonl")] == [1, 2]
    rows = read_jsonl(tmp_path / "out" / "completions.jsonl")  # gathered from both processes, written once
    assert [r["step"] for r in rows] == [0] * 8 + [1] * 8
    assert [r["completion"] for r in rows] == [c for dump in dumps for c in dump["completions"]]


KILL_AFTER_CHECKPOINT = textwrap.dedent("""
    import os, signal, sys
    from transformers import TrainerCallback
    from vigor.training import VigorGRPOConfig, train

    class KillAfterSave(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            if state.global_step == 2:
                os.kill(os.getpid(), signal.SIGKILL)

    if __name__ == "__main__":
        options = eval(sys.argv[1])
        train(VigorGRPOConfig(**options), callbacks=[KillAfterSave()])
""")


@pytest.mark.slow
def test_killed_run_resumes_with_same_data_order_and_optimizer(tiny_model_dir, prompts_file, tmp_path):
    from safetensors.torch import load_file

    from vigor.training import VigorGRPOConfig, train

    common = dict(max_steps=4, save_strategy="steps", save_steps=1, learning_rate=5e-3, reward_dump=True,
                  log_completions_every=1)
    straight = train(VigorGRPOConfig(**tiny_run_options(tiny_model_dir, prompts_file, tmp_path / "a", **common)))

    options = tiny_run_options(tiny_model_dir, prompts_file, tmp_path / "b", **common)
    script = tmp_path / "kill.py"
    script.write_text(KILL_AFTER_CHECKPOINT)
    killed = run([sys.executable, str(script), repr(options)])
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert os.path.isdir(tmp_path / "b" / "checkpoint-2") and not os.path.isdir(tmp_path / "b" / "checkpoint-3")

    with open(tmp_path / "b" / "completions.jsonl", "a") as f:  # as if killed after sampling step 2
        f.write('{"step": 2, "completion": "sampled before the kill"}\n')

    from vigor.cli import main
    assert main(["train", *as_cli_args(options), "--resume"]) == 0

    steps = [r["step"] for r in read_jsonl(tmp_path / "b" / "metrics.jsonl")]
    assert steps == [1, 2, 3, 4]
    # same prompts, same samples, same optimiser moments: the resumed run ends where the straight one does
    dumps_a, dumps_b = read_jsonl(tmp_path / "a" / "rewards.jsonl"), read_jsonl(tmp_path / "b" / "rewards.jsonl")
    assert [d["step"] for d in dumps_b] == [d["step"] for d in dumps_a] == [0, 1, 2, 3]
    rows_a, rows_b = read_jsonl(tmp_path / "a" / "completions.jsonl"), read_jsonl(tmp_path / "b" / "completions.jsonl")
    assert [r["step"] for r in rows_b] == [r["step"] for r in rows_a] == [s for s in range(4) for _ in range(4)]
    assert [r["completion"] for r in rows_b] == [r["completion"] for r in rows_a]
    torch.testing.assert_close(torch.tensor([d["raw"] for d in dumps_b]), torch.tensor([d["raw"] for d in dumps_a]),
                               rtol=1e-5, atol=1e-6)
    final_a, final_b = load_file(os.path.join(straight, "model.safetensors")), \
        load_file(tmp_path / "b" / "model.safetensors")
    for name in final_a:
        torch.testing.assert_close(final_b[name], final_a[name], rtol=1e-5, atol=1e-6)
    optimizer = torch.load(tmp_path / "b" / "checkpoint-4" / "optimizer.pt", weights_only=False)
    assert min(s["step"] for s in optimizer["state"].values()) == 4  # Adam's step count carried over


KILLABLE_RUN = textwrap.dedent("""
    import os, signal, sys
    import transformers
    from transformers import TrainerCallback
    from vigor.training import VigorGRPOConfig, train

    class Started(TrainerCallback):  # tells the test when training (not the imports) has begun
        def on_train_begin(self, args, state, control, **kwargs):
            open(os.environ["STARTED_FILE"], "w").close()

    def kill_after(owner, name, step):  # SIGKILL right after `owner.name` returns while saving checkpoint-`step`
        original = getattr(owner, name)
        def wrapped(self, *args, **kwargs):
            out = original(self, *args, **kwargs)
            if getattr(self, "state", self).global_step == step:
                os.kill(os.getpid(), signal.SIGKILL)
            return out
        setattr(owner, name, wrapped)

    if __name__ == "__main__":
        options = eval(sys.argv[1])
        if len(sys.argv) > 2:  # e.g. _save_rng_state 4: checkpoint-4 has weights and optimizer, no RNG nor state
            owner = transformers.TrainerState if sys.argv[2] == "save_to_json" else transformers.Trainer
            kill_after(owner, sys.argv[2], int(sys.argv[3]))
        train(VigorGRPOConfig(**options), callbacks=[Started()])
""")
# the stages of transformers' _save_checkpoint, in order; after save_to_json the staged checkpoint is whole
SAVE_STAGES = ("save_model", "_save_optimizer_and_scheduler", "_save_rng_state", "save_to_json")


def run_until_killed(cmd, started_file, delay=None):
    """Run `cmd`; once training has begun, SIGKILL it after `delay` seconds (None: let it end, or kill itself).
    Returns (the CompletedProcess, seconds from the start of training to the end)."""
    import time

    if os.path.exists(started_file):
        os.remove(started_file)
    proc = subprocess.Popen(cmd, env=dict(ENV, STARTED_FILE=started_file), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.time() + 240
    while not os.path.exists(started_file) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    began = time.time()
    if delay is not None:
        while proc.poll() is None and time.time() < began + delay:
            time.sleep(0.001)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    try:
        _, err = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate()
    return subprocess.CompletedProcess(cmd, proc.returncode, "", err), time.time() - began


@pytest.mark.slow
def test_killed_at_random_moments_resumes_to_the_same_weights_and_rewards(tiny_model_dir, prompts_file, tmp_path,
                                                                           fresh_seed):
    """Five SIGKILLs at random moments, one of them inside a checkpoint save; after each the run resumes from its
    last complete checkpoint (or, killed before the first, starts afresh with --overwrite). Every checkpoint-N
    folder left is complete, and the run ends bit-identical to an uninterrupted one."""
    import random

    from safetensors.torch import load_file

    from vigor.training.checkpoints import STAGING_DIR, checkpoint_folders, last_checkpoint, step_of

    print(f"fault-injection seed {fresh_seed}")
    common = dict(max_steps=8, save_strategy="steps", save_steps=2, save_total_limit=2, learning_rate=5e-3,
                  reward_dump=True)
    script = tmp_path / "killable.py"
    script.write_text(KILLABLE_RUN)
    started = str(tmp_path / "started")
    child = lambda out, **extra: [sys.executable, str(script),  # noqa: E731
                                  repr(tiny_run_options(tiny_model_dir, prompts_file, out, **common, **extra))]

    straight, duration = run_until_killed(child(tmp_path / "a"), started)
    assert straight.returncode == 0, straight.stderr[-3000:]

    def same_as_straight(out):
        assert [r["step"] for r in read_jsonl(out / "metrics.jsonl")] == list(range(1, 9))
        dumps_a, dumps_b = read_jsonl(tmp_path / "a" / "rewards.jsonl"), read_jsonl(out / "rewards.jsonl")
        assert [d["step"] for d in dumps_b] == [d["step"] for d in dumps_a] == list(range(8))
        assert [d["raw"] for d in dumps_b] == [d["raw"] for d in dumps_a]  # every step's rewards, exactly
        final_a, final_b = load_file(tmp_path / "a" / "model.safetensors"), load_file(out / "model.safetensors")
        assert sorted(final_b) == sorted(final_a)
        for name in final_a:
            assert torch.equal(final_b[name], final_a[name]), name

    out = tmp_path / "b"
    in_save = random.randrange(5)  # which of the five kills happens inside a checkpoint save
    start, kills = {}, []
    for k in range(5):
        done = step_of(last_checkpoint(str(out)) or "") or 0 if start.get("resume") else 0  # where this start begins
        if k == in_save:
            stage, step = random.choice(SAVE_STAGES), random.choice([s for s in (2, 4, 6, 8) if s > done] or [8])
            proc, _ = run_until_killed(child(out, **start) + [stage, str(step)], started)
            kills.append(f"in {stage} of checkpoint-{step}")
        else:
            delay = random.uniform(0, duration * (8 - done) / 8)  # any moment of what is left to train
            proc, _ = run_until_killed(child(out, **start), started, delay)
            kills.append(f"{delay:.2f} s of {duration:.2f} s after training began")
        print(f"kill {k}: {kills[-1]}: exit {proc.returncode}")
        if proc.returncode == 0:  # it ended before the kill: this chain is done, start another afresh
            same_as_straight(out)
            start = dict(overwrite=True)
            continue
        assert proc.returncode == -9, proc.stderr[-3000:]
        incomplete = [(path, reason) for path, reason in checkpoint_folders(str(out)) if reason]
        assert not incomplete, f"{kills[-1]} left {incomplete}"  # the previous checkpoints or the new one, whole
        start = dict(resume=True) if last_checkpoint(str(out)) else dict(overwrite=True)
    proc, _ = run_until_killed(child(out, **start), started)
    assert proc.returncode == 0, proc.stderr[-3000:]
    same_as_straight(out)
    assert not os.path.exists(out / STAGING_DIR)
    assert [os.path.basename(p) for p, _ in checkpoint_folders(str(out))] == ["checkpoint-6", "checkpoint-8"]
