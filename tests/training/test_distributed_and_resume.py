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
