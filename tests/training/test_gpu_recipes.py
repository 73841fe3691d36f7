"""The GPU recipes are valid: every training recipe loads into VigorGRPOConfig, every accelerate
config names a sharding the VIGOR reward runs under, the vllm extra pins a vLLM that TRL 1.16
accepts, and a vLLM mode without vLLM is a one-line error before the model loads."""

import dataclasses
import importlib.util
import pathlib

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
TRAINING_RECIPES = sorted(p.name for p in (ROOT / "recipes").glob("*.yaml"))
ACCELERATE_RECIPES = sorted(p.name for p in (ROOT / "recipes" / "accelerate").glob("*.yaml"))


def test_the_issue_10_recipes_exist():
    assert {"qwen2.5-1.5b-1gpu.yaml", "qwen2.5-1.5b-1gpu-vllm.yaml", "qwen2.5-7b-lora-1gpu.yaml",
            "qwen2.5-3b-math.yaml", "qwen2.5-7b-math.yaml"} <= set(TRAINING_RECIPES)
    assert {"zero2-3gpu.yaml", "zero2-7gpu.yaml", "fsdp2-3gpu.yaml", "fsdp2-7gpu.yaml"} <= set(ACCELERATE_RECIPES)


@pytest.mark.parametrize("name", TRAINING_RECIPES)
def test_training_recipe_loads_into_the_config(name, tmp_path):
    from vigor.training import VigorGRPOConfig

    values = yaml.safe_load((ROOT / "recipes" / name).read_text())
    fields = {f.name for f in dataclasses.fields(VigorGRPOConfig)}
    assert set(values) <= fields, set(values) - fields
    # use_cpu: bf16 recipes are otherwise refused by transformers on a machine without a GPU
    config = VigorGRPOConfig(**dict(values, output_dir=str(tmp_path), use_cpu=True))
    text = (ROOT / "recipes" / name).read_text()
    if name.startswith("qwen"):
        assert "unmeasured" in text.lower() or "untested" in text.lower()  # says what was measured
        assert config.bf16 and config.gradient_checkpointing and config.model_dtype == "bfloat16"


@pytest.mark.parametrize("name", ACCELERATE_RECIPES)
def test_accelerate_recipe_shards_as_the_reward_allows(name):
    from vigor.training.backends import unsupported_sharding

    values = yaml.safe_load((ROOT / "recipes" / "accelerate" / name).read_text())
    if values["distributed_type"] == "FSDP":
        found = ("fsdp", int(values["fsdp_config"]["fsdp_version"]))
    else:
        assert values["distributed_type"] == "DEEPSPEED"
        found = ("deepspeed", int(values["deepspeed_config"]["zero_stage"]))
    assert unsupported_sharding(*found) is None, name
    assert values["num_processes"] == int(name.rsplit("-", 1)[1].removesuffix("gpu.yaml"))


def test_vllm_extra_pins_a_version_trl_accepts():
    from importlib.metadata import requires

    from packaging.requirements import Requirement

    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["vllm"]
    pinned = next(Requirement(r) for r in extra if Requirement(r).name == "vllm")
    (version,) = [s.version for s in pinned.specifier if s.operator == "=="]
    trl_vllm = next(Requirement(r) for r in requires("trl") if r.startswith("vllm") and 'extra == "vllm"' in r)
    assert version in trl_vllm.specifier, (version, str(trl_vllm.specifier))


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed here")
def test_vllm_mode_without_vllm_is_one_line_before_loading(prompts_file, tmp_path, capsys):
    from tests.training.training_helpers import as_cli_args, tiny_run_options
    from vigor.cli import main

    options = tiny_run_options(str(tmp_path / "no-model-here"), prompts_file, tmp_path / "out", use_vllm=True,
                               vllm_mode="colocate")
    assert main(["train", *as_cli_args(options)]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("vigor train")]
    assert errors == ["vigor train: error: use_vllm (vllm_mode colocate) needs the vllm package: "
                      "pip install 'vigor-rl[vllm]'"], errors
