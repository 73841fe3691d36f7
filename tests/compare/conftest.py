"""A tiny random model folder, training prompts and a held-out file with single-digit answers."""

import json

import pytest


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    from vigor.tiny import save_tiny_model

    return save_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def data_files(tmp_path_factory):
    """(training prompts, held-out benchmark): single-digit answers, so a random model is sometimes right
    (the last-number fallback) and the accuracies are not all zero."""
    folder = tmp_path_factory.mktemp("data")
    train, heldout = folder / "train.jsonl", folder / "heldout.jsonl"
    with open(train, "w") as f:
        for i in range(16):
            f.write(json.dumps({"problem": f"{i % 5}+{i // 5}=", "answer": str(i % 5 + i // 5)}) + "\n")
    with open(heldout, "w") as f:
        for i in range(12):
            f.write(json.dumps({"problem": f"{i % 4}*{i // 4}=", "answer": str((i % 4) * (i // 4))}) + "\n")
    return str(train), str(heldout)


def tiny_study_args(model_dir, train, heldout, out, *, rewards=("vigor", "random"), seeds=("0",), steps=2,
                    extra=()):
    """The command line of a seconds-long study: 2 steps, evaluations at steps 0 and 2 (avg@4 sampled)."""
    return ["compare", "--model", model_dir, "--dataset", train, "--rewards", *rewards, "--seeds", *seeds,
            "--baseline", rewards[-1], "--eval-benchmark", heldout, "--eval-steps", "2", "--eval-samples", "4",
            "--max-steps", str(steps), "--output-dir", str(out), "--use-cpu", "true",
            "--per-device-train-batch-size", "4", "--num-generations", "4", "--max-completion-length", "8",
            "--eval-temperature", "1.0", "--report-to", "none", "--system-prompt", "", "--learning-rate", "1e-2",
            "--warmup-steps", "0", "--gradient-checkpointing", "false", "--disable-tqdm", "true",
            "--monitor-accuracy", "false", *extra]
