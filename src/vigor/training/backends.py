"""Checks of the GPU-side settings, run before the model loads (one-line `ValueError`s).

- the attention kernel (`attn_implementation`; flash_attention_2 needs flash-attn and CUDA);
- vLLM rollouts (`use_vllm`) need the vllm package (`pip install 'vigor-rl[vllm]'`);
- sharding: the VIGOR reward runs the gradient-norm engine on the training model, which works
  under FSDP2 (its hooks see each layer's whole input and output gradient once the shards are
  gathered for the forward; tests/training/test_sharded_gradnorm.py) and DeepSpeed ZeRO-0/1/2
  (whole parameters on every process). It refuses FSDP1 (flattened parameters the engine
  cannot attribute) and ZeRO-3: DeepSpeed 0.19.8 runs on this CPU, but the engine's backward
  rules fail on ZeRO-3's partitioned parameters (AttributeError 'ds_status').

FSDP needs a device accelerate shards on: accelerate 1.15 turns FSDP on only when the process
group runs on a GPU-like device (`AcceleratorState.__init__`, accelerate/state.py:986-1016: the
`distributed_type in [MULTI_GPU, MULTI_XPU, ...]` branch; a CPU run is MULTI_CPU). On a CPU it
silently drops the FSDP config and wraps the model in DDP, so `vigor train` refuses FSDP on a CPU
before the model loads (`FSDP_DEVICE_TYPES`), and the trainer refuses any run whose requested FSDP
accelerate did not turn on. FSDP2 itself runs on a CPU over gloo once that gate is lifted: the
test tests/training/test_fsdp2_train.py lifts it (test-only) for a 2-process `vigor train`.

Sharding is read from the config (`fsdp`, `fsdp_config`, `deepspeed`) or, under
`accelerate launch`, from the environment accelerate sets (ACCELERATE_USE_FSDP, FSDP_VERSION,
ACCELERATE_USE_DEEPSPEED, ACCELERATE_DEEPSPEED_ZERO_STAGE / ACCELERATE_DEEPSPEED_CONFIG_FILE).
"""

from __future__ import annotations

import importlib.util
import json
import os

VLLM_INSTALL = "pip install 'vigor-rl[vllm]'"
# the device types whose distributed types accelerate 1.15 enables FSDP for (see the module docstring)
FSDP_DEVICE_TYPES = ("cuda", "xpu", "npu", "mlu", "musa", "sdaa", "hpu", "neuron")


def on_cuda(config) -> bool:
    import torch

    return not config.use_cpu and torch.cuda.is_available()


def _true(value) -> bool:
    return str(value).lower() in ("1", "true", "yes")


def _zero_stage_of(ds_config) -> int | None:
    """The ZeRO stage of a DeepSpeed config (dict, JSON text or file path); None if unset."""
    if isinstance(ds_config, str):
        if os.path.isfile(ds_config):
            with open(ds_config) as f:
                ds_config = json.load(f)
        else:
            ds_config = json.loads(ds_config)
    stage = (ds_config or {}).get("zero_optimization", {}).get("stage")
    return None if stage in (None, "auto") else int(stage)


def sharding(config) -> tuple[str, int] | None:
    """("deepspeed", ZeRO stage) or ("fsdp", version) of this run, or None when unsharded."""
    env = os.environ
    if config.deepspeed:
        return "deepspeed", _zero_stage_of(config.deepspeed) or 0
    if _true(env.get("ACCELERATE_USE_DEEPSPEED")):
        stage = env.get("ACCELERATE_DEEPSPEED_ZERO_STAGE")
        if stage is None and env.get("ACCELERATE_DEEPSPEED_CONFIG_FILE"):
            stage = _zero_stage_of(env["ACCELERATE_DEEPSPEED_CONFIG_FILE"])
        return "deepspeed", int(stage or 0)
    if config.fsdp:
        return "fsdp", int((config.fsdp_config or {}).get("version", 2))
    if _true(env.get("ACCELERATE_USE_FSDP")):
        return "fsdp", int(env.get("FSDP_VERSION", 1))  # accelerate's own default is FSDP1
    return None


def unsupported_sharding(kind: str, level: int) -> str | None:
    """Why the VIGOR reward cannot run under this sharding, or None when it can."""
    if kind == "deepspeed" and level == 3:
        return ("DeepSpeed ZeRO-3 is not supported by the vigor reward (its partitioned parameters break the "
                "gradient-norm engine): use FSDP2 (recipes/accelerate/fsdp2-*.yaml) or ZeRO-2")
    if kind == "fsdp" and level == 1:
        return ("FSDP1 is not supported by the vigor reward (flattened parameters): use FSDP2 "
                "(fsdp_version: 2 in the accelerate config, or --fsdp-config '{\"version\": 2}')")
    return None


def fsdp_not_enabled(requested: tuple[str, int], device_type: str) -> str:
    return (f"FSDP{requested[1]} was requested (--fsdp or accelerate's distributed_type: FSDP) but accelerate "
            f"enables FSDP only on GPUs, not on {device_type}: this run would train an unsharded model; "
            "drop the FSDP config or run on GPUs")


def check_backends(config, *, needs_gradients: bool) -> None:
    """Raise a one-line ValueError for a GPU-side setting that cannot work here."""
    from vigor.models import check_attn_implementation

    check_attn_implementation(config.attn_implementation, on_cuda=on_cuda(config))
    if config.use_vllm and importlib.util.find_spec("vllm") is None:
        raise ValueError(f"use_vllm (vllm_mode {config.vllm_mode}) needs the vllm package: {VLLM_INSTALL}")
    found = sharding(config)
    if needs_gradients and found is not None:
        reason = unsupported_sharding(*found)
        if reason:
            raise ValueError(reason)
    if found is not None and found[0] == "fsdp" and config.device.type not in FSDP_DEVICE_TYPES:
        raise ValueError(fsdp_not_enabled(found, config.device.type))
