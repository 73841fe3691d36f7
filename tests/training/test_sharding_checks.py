"""A sharding the VIGOR reward cannot run under (FSDP1, DeepSpeed ZeRO-3), and FSDP on a CPU (which
accelerate 1.15 would silently drop, training an unsharded model), are refused in one line before the
model loads, whether they come from the config or from `accelerate launch`'s environment.

(accelerate 1.15 turns FSDP on only for GPU-like distributed types: `AcceleratorState.__init__`,
accelerate/state.py:986-1016; on a CPU it keeps MULTI_CPU and wraps the model in DDP. FSDP2 itself
runs on CPUs once that gate is lifted: test_fsdp2_train.py, through the test-only
fsdp2_cpu_launch.py.)"""

import json

import pytest
import torch

from tests.training.training_helpers import as_cli_args, tiny_run_options


def test_fsdp1_is_one_line_before_loading(prompts_file, tmp_path, monkeypatch, capsys):
    from vigor.cli import main

    missing_model = str(tmp_path / "no-model-here")  # would fail to load: the refusal must come first
    message = "vigor train: error: FSDP1 is not supported by the vigor reward"
    from_config = tiny_run_options(missing_model, prompts_file, tmp_path / "a", fsdp="full_shard",
                                   fsdp_config=json.dumps({"version": 1}))
    assert main(["train", *as_cli_args(from_config)]) == 2
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")  # what `accelerate launch` sets
    monkeypatch.setenv("FSDP_VERSION", "1")
    assert main(["train", *as_cli_args(tiny_run_options(missing_model, prompts_file, tmp_path / "b"))]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("vigor train")]
    assert len(errors) == 2 and all(line.startswith(message) for line in errors), errors


def _settings(**fields):
    """The fields `check_backends` reads. TrainingArguments itself refuses DeepSpeed settings when
    deepspeed is not installed (it is not, here), so the ZeRO cases use plain settings."""
    from types import SimpleNamespace

    values = dict(attn_implementation="sdpa", use_cpu=True, use_vllm=False, vllm_mode="colocate", deepspeed=None,
                  fsdp=None, fsdp_config=None, device=torch.device("cpu"))
    return SimpleNamespace(**dict(values, **fields))


def test_zero3_is_refused_zero2_and_fsdp2_pass(tmp_path, monkeypatch, prompts_file):
    from vigor.training.backends import check_backends, sharding
    from vigor.training.config import VigorGRPOConfig

    ds_file = tmp_path / "ds.json"
    ds_file.write_text(json.dumps({"zero_optimization": {"stage": 3}}))
    with pytest.raises(ValueError, match="^DeepSpeed ZeRO-3 is not supported by the vigor reward"):
        check_backends(_settings(deepspeed=str(ds_file)), needs_gradients=True)
    check_backends(_settings(deepspeed=str(ds_file)), needs_gradients=False)  # forward-only rewards are fine
    zero2 = _settings(deepspeed=json.dumps({"zero_optimization": {"stage": 2}}))
    assert sharding(zero2) == ("deepspeed", 2)
    check_backends(zero2, needs_gradients=True)
    fsdp2 = VigorGRPOConfig(**tiny_run_options("unused", prompts_file, tmp_path / "out", fsdp="full_shard"))
    assert sharding(fsdp2) == ("fsdp", 2)
    with pytest.raises(ValueError, match="^FSDP2 was requested .* not on cpu: this run would train an unsharded"):
        check_backends(fsdp2, needs_gradients=True)  # use_cpu: accelerate would drop FSDP
    check_backends(_settings(fsdp="full_shard", fsdp_config={"version": 2}, device=torch.device("cuda")),
                   needs_gradients=True)
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")
    monkeypatch.setenv("ACCELERATE_DEEPSPEED_ZERO_STAGE", "3")
    with pytest.raises(ValueError, match="^DeepSpeed ZeRO-3"):
        check_backends(_settings(), needs_gradients=True)


def test_fsdp_on_cpu_is_one_line_before_loading(prompts_file, tmp_path, monkeypatch, capsys):
    """What a CPU launch with recipes/accelerate/fsdp2-*.yaml sets, and the same from the config."""
    from vigor.cli import main

    missing_model = str(tmp_path / "no-model-here")  # would fail to load: the refusal must come first
    from_config = tiny_run_options(missing_model, prompts_file, tmp_path / "a", fsdp="full_shard",
                                   fsdp_config=json.dumps({"version": 2}))
    assert main(["train", *as_cli_args(from_config)]) == 2
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    monkeypatch.setenv("FSDP_VERSION", "2")
    assert main(["train", *as_cli_args(tiny_run_options(missing_model, prompts_file, tmp_path / "b"))]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("vigor train")]
    assert len(errors) == 2 and all(line.startswith("vigor train: error: FSDP2 was requested") for line in errors)
    assert all("not on cpu: this run would train an unsharded model" in line for line in errors), errors


def test_trainer_refuses_fsdp_that_accelerate_left_off(tiny_model_dir, prompts_file, tmp_path, monkeypatch):
    """The backstop for a trainer built directly (no pre-load check): accelerate got an FSDP2 plugin
    from the environment but kept the CPU run unsharded."""
    from datasets import Dataset

    from vigor.models import load_model_and_tokenizer
    from vigor.rewards import RewardSet
    from vigor.training import VigorGRPOConfig
    from vigor.training.trainer import VigorGRPOTrainer

    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    monkeypatch.setenv("FSDP_VERSION", "2")
    config = VigorGRPOConfig(**tiny_run_options(tiny_model_dir, prompts_file, tmp_path / "out"))
    model, tokenizer = load_model_and_tokenizer(tiny_model_dir)
    with pytest.raises(ValueError, match="^FSDP2 was requested .* not on cpu"):
        VigorGRPOTrainer(model.train(), args=config, reward_set=RewardSet.from_spec("vigor", {}),
                         train_dataset=Dataset.from_list([{"prompt": "1+1="}]), processing_class=tokenizer)
