"""A sharding the VIGOR reward cannot run under (FSDP1, DeepSpeed ZeRO-3) is refused in one line
before the model loads, whether it comes from the config or from `accelerate launch`'s environment.

(`vigor train` under FSDP2 itself cannot run on a CPU: accelerate 1.15 turns FSDP on only for
GPU-like distributed types, `AcceleratorState` in accelerate/state.py, so a CPU launch with the
FSDP2 recipe trains unsharded (MULTI_CPU). The sharded engine is tested directly with
torch.distributed in test_sharded_gradnorm.py.)"""

import json

import pytest

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
                  fsdp=None, fsdp_config=None)
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
    check_backends(fsdp2, needs_gradients=True)
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")
    monkeypatch.setenv("ACCELERATE_DEEPSPEED_ZERO_STAGE", "3")
    with pytest.raises(ValueError, match="^DeepSpeed ZeRO-3"):
        check_backends(_settings(), needs_gradients=True)
