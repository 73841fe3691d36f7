"""`--attn-implementation sdpa|flash_attention_2|eager` (default sdpa) reaches the one model loader
from every command that loads a model; bad values are one line before the model loads."""

import importlib.util
import logging

import pytest
import torch

from tests.training.training_helpers import as_cli_args, tiny_run_options

HAS_FLASH_ATTN = importlib.util.find_spec("flash_attn") is not None


def test_check_attn_implementation():
    from vigor.models import ATTN_IMPLEMENTATIONS, check_attn_implementation

    assert ATTN_IMPLEMENTATIONS == ("sdpa", "flash_attention_2", "eager")
    assert check_attn_implementation("eager", on_cuda=False) == "eager"
    with pytest.raises(ValueError, match=r"^--attn-implementation flash: unknown, expected one of sdpa, "):
        check_attn_implementation("flash", on_cuda=True)
    with pytest.raises(ValueError, match="^--attn-implementation flash_attention_2 needs a CUDA GPU"):
        check_attn_implementation("flash_attention_2", on_cuda=False)
    if not HAS_FLASH_ATTN:
        with pytest.raises(ValueError, match=r"needs the flash-attn package: pip install flash-attn --no-build-isolation$"):
            check_attn_implementation("flash_attention_2", on_cuda=True)


def test_loader_honours_it_and_kernels_agree(tiny_model_dir):
    from vigor.models import load_model_and_tokenizer

    seed = torch.seed() % 2**31
    ids = torch.randint(4, 90, (3, 17), generator=torch.Generator().manual_seed(seed))
    logits = {}
    for name in ("sdpa", "eager"):
        model, _ = load_model_and_tokenizer(tiny_model_dir, attn_implementation=name)
        assert model.config._attn_implementation == name
        with torch.no_grad():
            logits[name] = model(ids).logits
    torch.testing.assert_close(logits["eager"], logits["sdpa"], rtol=1e-5, atol=1e-5, msg=f"seed {seed}")


def test_train_builds_the_policy_with_it_and_no_trl_warning(tiny_model_dir, prompts_file, tmp_path, caplog):
    from vigor.training import VigorGRPOConfig
    from vigor.training.run import build_trainer

    config = VigorGRPOConfig(**tiny_run_options(tiny_model_dir, prompts_file, tmp_path, attn_implementation="eager"))
    with caplog.at_level(logging.WARNING):
        trainer, _ = build_trainer(config)
    assert trainer.model.config._attn_implementation == "eager"
    assert not any("model_init_kwargs" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("value, message", [
    ("nonsense", "attn_implementation must be one of"),
    ("flash_attention_2", "--attn-implementation flash_attention_2 needs a CUDA GPU"),
])
def test_train_rejects_in_one_line_before_loading(prompts_file, tmp_path, capsys, value, message):
    from vigor.cli import main

    options = tiny_run_options(str(tmp_path / "no-model-here"), prompts_file, tmp_path / "out",
                               attn_implementation=value)
    assert main(["train", *as_cli_args(options)]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("vigor train")]
    assert len(errors) == 1 and message in errors[0], errors


@pytest.mark.parametrize("command", [
    ["eval", "--benchmark", "gsm8k", "--limit", "1"],
    ["analyze", "--num-prompts", "1", "-G", "2"],
])
def test_eval_and_analyze_reject_flash_on_the_cpu(command, tiny_model_dir, tmp_path, capsys):
    from vigor.cli import main

    argv = [command[0], "--model", tiny_model_dir, *command[1:], "--output-dir", str(tmp_path),
            "--attn-implementation", "flash_attention_2"]
    assert main(argv) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith(f"vigor {command[0]}")]
    assert len(errors) == 1 and "--attn-implementation flash_attention_2 needs a CUDA GPU" in errors[0], errors
