"""The vLLM engine is built with the dtype vigor resolved (--dtype), not vLLM's own pick. vLLM cannot run
here (no GPU), so this checks the keyword arguments `load_vllm` gives `vllm.LLM`."""

import pytest
import torch

from vigor.evaluation.generation import vllm_options
from vigor.precision import resolve_device_and_dtype


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_the_resolved_dtype_reaches_the_engine(dtype):
    _, resolved = resolve_device_and_dtype("cpu", dtype)  # what `vigor eval --dtype` resolves to
    assert vllm_options("/models/m", seed=3, dtype=resolved) == {"model": "/models/m", "seed": 3, "dtype": dtype}
    assert vllm_options("/models/m", seed=3, dtype=dtype)["dtype"] == dtype


def test_no_dtype_leaves_the_choice_to_vllm():
    assert vllm_options("/models/m") == {"model": "/models/m", "seed": 0}
    assert vllm_options("m", dtype=torch.float16)["dtype"] == "float16"
