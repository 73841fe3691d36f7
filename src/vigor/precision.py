"""What a run computes in, said once at its start: device, weight dtype, autocast dtype and the CPU's
torch kernel level (`torch.backends.cpu.get_cpu_capability()`).

Why it matters: on a CPU without native bfloat16 (below AVX-512), bf16 autocast makes PyTorch emulate
every matrix product (`bf16_dot_with_fp32_arith`); issue 8 measured a demo step at 743 s against
~100 s in float32 on a 2-core AVX2 AMD EPYC. So CPU runs use float32 unless bf16 is asked for.
"""

from __future__ import annotations

NATIVE_BF16_CAPABILITIES = ("AVX512",)  # x86 kernel levels with bf16 conversion/dot instructions


def cpu_capability() -> str:
    """The SIMD level torch's CPU kernels run at, e.g. 'AVX2' or 'AVX512' (follows ATEN_CPU_CAPABILITY)."""
    import torch

    return torch.backends.cpu.get_cpu_capability()


def cpu_has_native_bf16() -> bool:
    return cpu_capability().upper().startswith(NATIVE_BF16_CAPABILITIES)


def bf16_on_cpu_warning() -> str:
    """The one-line warning for bf16 requested on a CPU without native bf16 ('' when there is none to give)."""
    if cpu_has_native_bf16():
        return ""
    return (f"bf16 on a CPU without native bfloat16 (torch CPU capability {cpu_capability()}): every matrix "
            "product is emulated, several times slower than float32; drop --bf16 to train in float32")


def autocast_dtype(bf16: bool, fp16: bool):
    """The autocast dtype mixed precision runs under (None: no autocast, the weights' dtype throughout)."""
    import torch

    return torch.bfloat16 if bf16 else torch.float16 if fp16 else None


def run_banner(*, device, weights, autocast=None) -> str:
    """One line: where and in what precision this run computes (`weights`: the model's dtype)."""
    import torch

    device = torch.device(device)
    where = f"{device}" + (f" ({torch.get_num_threads()} threads)" if device.type == "cpu" else "")
    name = lambda dtype: str(dtype).removeprefix("torch.") if dtype is not None else "none"  # noqa: E731
    return (f"vigor: device {where}, weights {name(weights)}, autocast {name(autocast)}, "
            f"torch CPU capability {cpu_capability()}")
