"""The embedded default model: GGUF -> plain HF folder conversion, path resolution, loading."""

import os
import time

import pytest
import torch

from vigor import models


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """A fresh conversion into an empty cache (the real GGUF, ~20 s)."""
    cache = tmp_path_factory.mktemp("vigor_cache")
    return cache, models.default_model_dir(cache)


@pytest.mark.slow
def test_conversion_matches_gguf_logits_and_generates(converted):
    cache, folder = converted
    assert folder == cache / "models" / models.DEFAULT_MODEL_NAME
    assert {"config.json", "model.safetensors", "tokenizer.json", "README.md"} <= set(os.listdir(folder))
    assert not [p for p in os.listdir(folder.parent) if p.startswith(".")], "temporary folder left behind"

    model, tok = models.load_model_and_tokenizer(str(folder))
    assert model.dtype == torch.float32
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr(), "tied embeddings lost"
    assert tok.pad_token_id != tok.eos_token_id and tok.eos_token == "<|im_end|>"
    assert tok.padding_side == "left"

    gguf_model, gguf_tok = models.load_gguf_model_and_tokenizer()
    text = "The capital of France is Paris. 12 + 30 = 42."
    ids = gguf_tok(text, return_tensors="pt").input_ids
    assert torch.equal(ids, tok(text, return_tensors="pt").input_ids)
    with torch.no_grad():
        expected = gguf_model(ids).logits
        got = model(ids).logits
    # Same dequantized float32 weights and the same code path: equal up to float32 rounding.
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-4)

    messages = [{"role": "user", "content": "What is 2+3? Answer with a number only."}]
    enc = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = model.generate(**enc, max_new_tokens=12, do_sample=False)
    answer = tok.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    assert "5" in answer, answer


def test_conversion_is_reused(converted):
    cache, folder = converted
    stamp = (folder / "model.safetensors").stat().st_mtime_ns
    start = time.perf_counter()
    assert models.default_model_dir(cache) == folder
    assert time.perf_counter() - start < 1.0
    assert (folder / "model.safetensors").stat().st_mtime_ns == stamp


def test_resolve_default_uses_env_cache(converted, monkeypatch):
    cache, folder = converted
    monkeypatch.setenv("VIGOR_CACHE_DIR", str(cache))
    for alias in (None, "default", models.DEFAULT_MODEL_NAME):
        assert models.resolve_model_path(alias) == str(folder)


def test_resolve_model_path_accepts_folders_and_hub_ids(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    assert models.resolve_model_path(str(tmp_path)) == str(tmp_path)
    assert models.resolve_model_path("Qwen/Qwen2.5-0.5B-Instruct") == "Qwen/Qwen2.5-0.5B-Instruct"
    assert models.resolve_model_path("gpt2") == "gpt2"


@pytest.mark.parametrize("bad, message", [
    ("./no/such/folder", "no such folder"),
    ("/definitely/missing", "no such folder"),
    ("owner/name/extra", "no such folder"),
    ("has space/x", "not a hub id"),
])
def test_resolve_model_path_rejects_nonsense(bad, message):
    with pytest.raises(ValueError, match=message):
        models.resolve_model_path(bad)


def test_resolve_model_path_rejects_file_and_empty_folder(tmp_path):
    file = tmp_path / "weights.bin"
    file.write_bytes(b"x")
    with pytest.raises(ValueError, match="is a file"):
        models.resolve_model_path(str(file))
    with pytest.raises(ValueError, match="no config.json"):
        models.resolve_model_path(str(tmp_path))


def test_load_unreadable_folder_gives_one_line_error(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "llama"}')
    with pytest.raises(ValueError) as info:
        models.load_model_and_tokenizer(str(tmp_path))
    assert str(tmp_path) in str(info.value) and "\n" not in str(info.value)


def test_placement_loads_onto_an_accelerator_directly_and_leaves_the_cpu_path_alone(tmp_path):
    """The one-device device_map goes to from_pretrained only for an accelerator (no GPU here: its kwargs are
    checked); on the CPU the load is the plain one, with the same weights as without a device."""
    from vigor.tiny import save_tiny_model

    assert models.placement(None) == models.placement("cpu") == models.placement(torch.device("cpu")) == {}
    assert models.placement("cuda:1") == {"device_map": torch.device("cuda", 1)}
    assert models.placement(torch.device("cuda")) == {"device_map": torch.device("cuda")}
    folder = save_tiny_model(tmp_path / "tiny")
    plain, _ = models.load_model_and_tokenizer(folder)
    on_cpu, _ = models.load_model_and_tokenizer(folder, device="cpu")
    assert not hasattr(on_cpu, "hf_device_map")
    for (name, a), (_, b) in zip(plain.state_dict().items(), on_cpu.state_dict().items(), strict=True):
        assert a.device.type == b.device.type == "cpu" and torch.equal(a, b), name


def test_lora_adapter_folder_loads_merged_into_its_base(tmp_path):
    """What `vigor train --use-peft true` saves (adapter_config.json, no config.json) is a model for
    eval/analyze/train: its base with the adapters merged, giving the adapted model's logits."""
    from peft import LoraConfig, get_peft_model

    from vigor.evaluation.checkpoints import find_checkpoints
    from vigor.tiny import save_tiny_model

    seed = int(torch.randint(0, 2**31 - 1, ()).item())
    torch.manual_seed(seed)
    base_dir = save_tiny_model(tmp_path / "base")
    base, tokenizer = models.load_model_and_tokenizer(base_dir)
    adapted = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, init_lora_weights=False, task_type="CAUSAL_LM"))
    run = tmp_path / "run"
    adapted.save_pretrained(run / "checkpoint-1")
    (run / "metrics.jsonl").write_text('{"step": 1}\n')
    adapted.save_pretrained(run)  # the final adapters, without a tokenizer: the base's is used
    tokenizer.save_pretrained(run / "checkpoint-1")

    ids = torch.randint(3, len(tokenizer), (2, 7))
    with torch.no_grad():
        expected = adapted(input_ids=ids).logits  # the unmerged adapters, the reference
        for folder in (run, run / "checkpoint-1"):
            assert models.resolve_model_path(str(folder)) == str(folder)
            merged, tok = models.load_model_and_tokenizer(str(folder))
            assert type(merged).__name__ == type(base).__name__ and tok.padding_side == "left"
            torch.testing.assert_close(merged(input_ids=ids).logits, expected, rtol=1e-5, atol=1e-5,
                                       msg=lambda m: f"seed {seed}: {m}")
            assert models.load_tokenizer_and_context(str(folder))[1] == base.config.max_position_embeddings
    assert [step for step, _ in find_checkpoints(run)] == [1]  # the final model is checkpoint-1's step

    (run / "adapter_config.json").write_text('{"base_model_name_or_path": "/no/such/base"}')
    with pytest.raises(ValueError, match="--model /no/such/base: no such folder"):
        models.resolve_model_path(str(run))
