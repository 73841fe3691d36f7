"""A tiny random model folder and a small prompt file, shared by the training tests."""

import json

import pytest


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    from vigor.tiny import save_tiny_model

    return save_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def prompts_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "sums.jsonl"
    with open(path, "w") as f:
        for i in range(16):
            f.write(json.dumps({"problem": f"{i}+{i}=", "answer": str(2 * i)}) + "\n")
    return str(path)
