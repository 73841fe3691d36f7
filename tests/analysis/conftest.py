"""The tiny random model that `vigor analyze`'s tests run on, in memory and saved as a model folder."""

import pytest

from vigor.tiny import char_tokenizer, tiny_causal_lm


@pytest.fixture(scope="module")
def tiny():
    tok = char_tokenizer()
    model = tiny_causal_lm("llama", vocab_size=len(tok), seed=3)
    return model, tok


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory, tiny):
    model, tok = tiny
    folder = tmp_path_factory.mktemp("tiny_model")
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder
