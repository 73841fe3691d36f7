"""`vigor analyze --device/--dtype`: one-line errors before any model loads, and a bfloat16 run on the CPU."""

import json

import pytest
import torch

import vigor.models
from vigor.cli import main
from vigor.tiny import save_tiny_model

BAD_FLAGS = [(["--device", "tpu"], "--device tpu: unknown"), (["--dtype", "fp8"], "--dtype fp8: unknown"),
             (["--device", "cpu", "--dtype", "float16"], "--dtype float16 needs a GPU"),
             (["--device", "cpu", "--attn-implementation", "flash_attention_2"], "needs a CUDA GPU")]
if not torch.cuda.is_available():
    BAD_FLAGS.append((["--device", "cuda"], "--device cuda: torch sees no CUDA device"))


@pytest.mark.parametrize("flags, message", BAD_FLAGS)
def test_bad_device_or_dtype_is_one_line_exit_2(flags, message, tmp_path, capsys, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the bad flag was reported")
    monkeypatch.setattr(vigor.models, "load_model_and_tokenizer", refuse)
    assert main(["analyze", "--model", str(tmp_path), "--output-dir", str(tmp_path)] + flags) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err, err


def test_analyze_in_bfloat16_on_the_cpu(tmp_path, capsys):
    model_dir = save_tiny_model(tmp_path / "tiny", "llama", seed=3)
    data = tmp_path / "problems.jsonl"
    data.write_text("".join(json.dumps({"problem": f"What is {a}+{b}?", "answer": str(a + b)}) + "\n"
                            for a, b in [(1, 2), (3, 4)]))
    out = tmp_path / "out"
    assert main(["analyze", "--model", model_dir, "--dataset", str(data), "--num-prompts", "2", "-G", "2",
                 "--max-new-tokens", "4", "--bootstrap", "10", "--device", "cpu", "--dtype", "bfloat16",
                 "--output-dir", str(out), "--no-progress"]) == 0
    banner = [line for line in capsys.readouterr().out.splitlines() if line.startswith("vigor: device")]
    assert len(banner) == 1 and banner[0].startswith("vigor: device cpu") and "weights bfloat16" in banner[0], banner
    rows = json.loads((out / "analysis.json").read_text())["completions"]
    assert len(rows) == 4 and all(r["grad_norm"] is not None and r["grad_norm"] > 0 for r in rows)
