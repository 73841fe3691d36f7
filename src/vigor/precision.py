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


SHOWN_BANNERS: set[str] = set()  # the banner lines this process has shown


def show_banner(*, device, weights, autocast=None, log=None) -> None:
    """Show `run_banner` (through `log`, default: print to stdout) once per process: the demo, the trainer it
    runs and each of its evaluations would each repeat the same line. A different line (say an evaluation in
    another dtype than training's) is shown: it says something new."""
    line = run_banner(device=device, weights=weights, autocast=autocast)
    if line not in SHOWN_BANNERS:
        SHOWN_BANNERS.add(line)
        (log or (lambda text: print(text, flush=True)))(line)


DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("auto", "float32", "bfloat16", "float16")


def add_device_options(parser, *, runs: str, dtype_use: str = "") -> None:
    """--attn-implementation, --device and --dtype, the options of every command that loads a model outside
    training (checked by `resolve_device_and_dtype`). `runs` says what runs on the device ("generates"); `dtype_use`
    adds what the weights' dtype is used for."""
    parser.add_argument("--attn-implementation", default="sdpa", help="attention kernel: sdpa (default), eager, "
                        "or flash_attention_2 (needs flash-attn and a GPU)")
    parser.add_argument("--device", default="auto", help=f"where the model {runs}: auto (default: cuda when torch "
                        "sees a GPU, else cpu), cpu or cuda")
    parser.add_argument("--dtype", default="auto", help=f"weights dtype{dtype_use}: auto (default: bfloat16 on a GPU "
                        "that supports it, float32 on a CPU, which is exact and fast without native bf16), float32, "
                        "bfloat16 or float16 (GPU only)")


def bf16_by_default(on_cpu: bool) -> bool:
    """The one rule for 'auto' precision: bfloat16 on a CUDA device that supports it, float32 on a CPU
    (see the module docstring for why CPUs stay in float32). Training's `resolve_precision` uses it too."""
    import torch

    return not on_cpu and torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def resolve_device_and_dtype(device: str = "auto", dtype: str = "auto"):
    """(torch.device, torch dtype) for loading a model to run inference or gradient norms on.

    device: auto = cuda when torch sees one, else cpu. dtype: auto = `bf16_by_default`. A bad value, cuda without
    CUDA, or float16 on a CPU is a one-line ValueError naming the flag (raise it before any model loads)."""
    import torch

    if device not in DEVICES:
        raise ValueError(f"--device {device}: unknown, expected one of {', '.join(DEVICES)}")
    if dtype not in DTYPES:
        raise ValueError(f"--dtype {dtype}: unknown, expected one of {', '.join(DTYPES)}")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    elif device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: torch sees no CUDA device (use --device cpu or auto)")
    on_cpu = device == "cpu"
    if dtype == "auto":
        dtype = "bfloat16" if bf16_by_default(on_cpu) else "float32"
    if on_cpu and dtype == "float16":
        raise ValueError("--dtype float16 needs a GPU; on a CPU use float32 (or bfloat16)")
    return torch.device(device), getattr(torch, dtype)
