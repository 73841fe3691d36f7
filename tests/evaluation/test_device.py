"""`vigor eval --device/--dtype`: the auto rule on this CPU, one-line errors before any model loads, a bfloat16 run,
and an in-memory model (the policy during training) left where and as it is."""

import pytest
import torch

import vigor.models
from vigor.cli import main
from vigor.precision import resolve_device_and_dtype
from vigor.tiny import char_tokenizer, save_tiny_model, tiny_causal_lm

needs_no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only machine's rule")


@needs_no_cuda
def test_auto_is_cpu_float32_without_cuda():
    assert resolve_device_and_dtype("auto", "auto") == (torch.device("cpu"), torch.float32)
    assert resolve_device_and_dtype("cpu", "bfloat16") == (torch.device("cpu"), torch.bfloat16)


@pytest.fixture
def no_model_load(monkeypatch):
    """Fail the test if the model would load: the errors must come before that."""
    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the bad flag was reported")
    monkeypatch.setattr(vigor.models, "load_model_and_tokenizer", refuse)


BAD_FLAGS = [(["--device", "gpu"], "--device gpu: unknown"), (["--dtype", "half"], "--dtype half: unknown"),
             (["--device", "cpu", "--dtype", "float16"], "--dtype float16 needs a GPU")]
if not torch.cuda.is_available():
    BAD_FLAGS.append((["--device", "cuda"], "--device cuda: torch sees no CUDA device"))


@pytest.mark.parametrize("flags, message", BAD_FLAGS)
def test_bad_device_or_dtype_is_one_line_exit_2(flags, message, tmp_path, capsys, no_model_load):
    assert main(["eval", "--model", str(tmp_path), "--limit", "1", "--output-dir", str(tmp_path)] + flags) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err, err


def test_tiny_eval_in_bfloat16_on_the_cpu(tmp_path, capsys):
    model_dir = save_tiny_model(tmp_path / "tiny", "llama", max_positions=1024)
    out = tmp_path / "out"
    assert main(["eval", "--model", model_dir, "--limit", "2", "--max-new-tokens", "4", "--device", "cpu",
                 "--dtype", "bfloat16", "--output-dir", str(out)]) == 0
    err = capsys.readouterr().err
    assert "vigor: device cpu" in err and "weights bfloat16" in err, err
    assert (out / "summary.json").is_file()


def test_in_memory_model_is_neither_moved_nor_recast(tmp_path):
    from vigor.evaluation.evaluate import EvalSettings, evaluate

    tok = char_tokenizer()
    tok.padding_side = "left"
    model = tiny_causal_lm("llama", vocab_size=len(tok), seed=0, max_positions=1024)
    model.generation_config.pad_token_id = tok.pad_token_id
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    evaluate(model, ["gsm8k"], EvalSettings(limit=1, max_new_tokens=3, progress=False, dtype="bfloat16"),
             tokenizer=tok)
    assert all(p.dtype == torch.float32 and p.device.type == "cpu" for p in model.parameters())
    assert all(torch.equal(p, before[name]) for name, p in model.named_parameters())
