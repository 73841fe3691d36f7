"""A tiny random model folder and a small prompt file, shared by the training tests."""

import json

import pytest


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    from vigor.tiny import char_tokenizer, tiny_causal_lm

    folder = tmp_path_factory.mktemp("tiny-model")
    tok = char_tokenizer()
    model = tiny_causal_lm("qwen2", vocab_size=len(tok), hidden_size=32, layers=2)
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="session")
def prompts_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "sums.jsonl"
    with open(path, "w") as f:
        for i in range(16):
            f.write(json.dumps({"problem": f"{i}+{i}=", "answer": str(2 * i)}) + "\n")
    return str(path)
