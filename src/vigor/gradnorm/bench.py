"""`vigor bench gradnorm`: time and peak memory of the per-sample gradient norm.

Compares, on one random-weight model and one batch of prompt + completion tokens:
  (a) the reference loop: batch-size-1 forward and autograd.grad per sample (reference.py);
  (b) the engine: one batched forward + activation-only backward (engine.py);
  (c) the baseline: one plain batched forward + backward of the summed losses (.grad filled).
Each method runs in a fresh subprocess, so its peak memory is its own: on CUDA the peak of
`torch.cuda.max_memory_allocated`, on the CPU the peak resident set (VmHWM, reset after set-up),
both minus what the model and the inputs already held. Times are medians over `--repeats`
timed runs after one warm-up.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

SHAPES = {
    # name: (hidden, layers, intermediate, heads, kv_heads, vocab, tied)
    "tiny": (64, 2, 128, 4, 2, 512, True),  # smoke tests only
    "cpu-small": (256, 4, 768, 4, 2, 8192, True),
    "qwen2.5-0.5b": (896, 24, 4864, 14, 2, 151936, True),
    "qwen2.5-1.5b": (1536, 28, 8960, 12, 2, 151936, True),
    "qwen2.5-3b": (2048, 36, 11008, 16, 2, 151936, True),
    "qwen2.5-7b": (3584, 28, 18944, 28, 4, 152064, False),
}
METHODS = {"a": "reference loop", "b": "engine", "c": "plain forward+backward"}


def _settings(args) -> dict:
    cuda = args.device.startswith("cuda")
    return dict(
        shape=args.shape or ("qwen2.5-1.5b" if cuda else "cpu-small"),
        device=args.device,
        dtype=args.dtype or ("bfloat16" if cuda else "float32"),
        batch=args.batch,
        prompt_len=args.prompt_len or (256 if cuda else 64),
        completion_len=args.completion_len or (768 if cuda else 192),
        repeats=args.repeats,
        gradient_checkpointing=args.gradient_checkpointing,
        seed=args.seed,
    )


def run(args) -> int:
    from vigor.errors import UsageError

    s = _settings(args)
    if s["batch"] < 1 or s["prompt_len"] < 1 or s["completion_len"] < 1 or s["repeats"] < 1:
        raise UsageError("--batch, --prompt-len, --completion-len and --repeats must be positive")
    methods = [m for m in args.methods if m in METHODS]
    if not methods or len(methods) != len(args.methods):
        raise UsageError(f"--methods must be letters from 'abc', got {args.methods!r}")
    if s["device"].startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise UsageError("--device cuda asked for, but torch sees no CUDA device")
    hidden, layers, inter, heads, kv, vocab, tied = SHAPES[s["shape"]]
    print(
        f"vigor bench gradnorm: shape {s['shape']} (Qwen2, hidden {hidden}, {layers} layers, intermediate "
        f"{inter}, {heads} heads / {kv} KV, vocab {vocab}, {'tied' if tied else 'untied'} embeddings), "
        f"B={s['batch']}, {s['prompt_len']} prompt + {s['completion_len']} completion tokens, {s['dtype']}, "
        f"{s['device']}{' (gradient checkpointing)' if s['gradient_checkpointing'] else ''}, "
        f"torch threads {os.environ.get('OMP_NUM_THREADS', 'default')}",
        flush=True,
    )
    results = {}
    for m in methods:
        print(f"  running ({m}) {METHODS[m]} ...", flush=True)
        results[m] = _run_worker(s, m)
    report = summarize(s, results)
    print(report["table"])
    out = {"settings": s, "results": results, "summary": report["summary"]}
    if args.profile:
        print("  profiling (b) engine ...", flush=True)
        out["profile"] = _run_worker(s, "profile")
        print(profile_table(out["profile"]))
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(out, f, indent=2)
    return 0


def _run_worker(settings: dict, method: str) -> dict:
    cmd = [sys.executable, "-m", "vigor.gradnorm.bench", "--worker", json.dumps({**settings, "method": method})]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark worker ({method}) failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def profile_table(profile: dict) -> str:
    from vigor.gradnorm.engine import EngineProfile

    prof = EngineProfile(**{k: v for k, v in profile.items() if k in EngineProfile.__dataclass_fields__})
    return (f"\nengine time split, mean of {profile['runs']} profiled run(s) "
            f"(rules are part of the backward; {profile['device_name']}):\n{prof.table()}")


def summarize(settings: dict, results: dict) -> dict:
    def fmt_t(x):
        return f"{x:10.3f} s"

    cpu = not settings["device"].startswith("cuda")
    header = f"{'method':<28}{'time (median)':>16}{'peak memory':>16}"
    rows = ["", header + (f"{'CPU time (median)':>20}" if cpu else "")]
    for m, r in results.items():
        rows.append(f"({m}) {METHODS[m]:<24}{fmt_t(r['median_s']):>16}{r['peak_bytes'] / 2**20:>12.1f} MiB"
                    + (f"{fmt_t(r['median_cpu_s']):>20}" if cpu else ""))
    summary = {}
    if "b" in results and "c" in results:
        summary["engine_over_baseline_time"] = results["b"]["median_s"] / results["c"]["median_s"]
        summary["engine_over_baseline_memory"] = results["b"]["peak_bytes"] / max(1, results["c"]["peak_bytes"])
        rows.append(
            f"(b)/(c): time {summary['engine_over_baseline_time']:.2f}x, "
            f"peak memory {summary['engine_over_baseline_memory']:.2f}x"
        )
        if cpu:
            summary["engine_over_baseline_cpu_time"] = results["b"]["median_cpu_s"] / results["c"]["median_cpu_s"]
            rows.append(f"(b)/(c): CPU time {summary['engine_over_baseline_cpu_time']:.2f}x")
    if "a" in results and "b" in results:
        summary["reference_over_engine_time"] = results["a"]["median_s"] / results["b"]["median_s"]
        a, b = results["a"]["norms"], results["b"]["norms"]
        summary["max_rel_error"] = max(abs(x - y) / abs(x) for x, y in zip(a, b) if x != 0)
        rows.append(f"(a)/(b): time {summary['reference_over_engine_time']:.2f}x")
        rows.append(f"max relative error of (b) against (a): {summary['max_rel_error']:.2e}")
    return {"table": "\n".join(rows), "summary": summary}


# ---------------------------------------------------------------------------- worker
def _rss_bytes(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def build(settings: dict):
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    hidden, layers, inter, heads, kv, vocab, tied = SHAPES[settings["shape"]]
    dtype = getattr(torch, settings["dtype"])
    torch.manual_seed(settings["seed"])
    config = Qwen2Config(
        hidden_size=hidden, num_hidden_layers=layers, intermediate_size=inter, num_attention_heads=heads,
        num_key_value_heads=kv, vocab_size=vocab, tie_word_embeddings=tied, max_position_embeddings=4096,
    )
    with torch.device(settings["device"]):
        model = Qwen2ForCausalLM(config).to(dtype)
    model.config.use_cache = False
    if settings["gradient_checkpointing"]:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    # Completions of different lengths, right-padded after a shared-length prompt.
    b, p, c = settings["batch"], settings["prompt_len"], settings["completion_len"]
    g = torch.Generator().manual_seed(settings["seed"] + 1)
    ids = torch.randint(0, vocab, (b, p + c), generator=g)
    attention = torch.ones(b, p + c, dtype=torch.long)
    loss = torch.zeros(b, p + c, dtype=torch.long)
    for i in range(b):
        n = c - (i * c) // (2 * b)  # lengths from c down to about c/2
        attention[i, p + n :] = 0
        loss[i, p : p + n] = 1
    dev = settings["device"]
    return model, ids.to(dev), attention.to(dev), loss.to(dev)


def worker(settings: dict) -> dict:
    import torch

    from vigor.gradnorm import per_sample_grad_norms, reference_grad_norms
    from vigor.gradnorm.common import masked_mean_nll

    model, ids, attention, loss_mask = build(settings)
    cuda = settings["device"].startswith("cuda")
    if settings["method"] == "profile":
        return profile_worker(settings, model, ids, attention, loss_mask)

    def baseline():
        logits = model(input_ids=ids, attention_mask=attention, use_cache=False).logits
        masked_mean_nll(logits, ids, loss_mask).sum().backward()
        norms = torch.zeros(ids.shape[0])  # (c) computes no per-sample norms
        model.zero_grad(set_to_none=True)
        return norms

    fn = {
        "a": lambda: reference_grad_norms(model, ids, attention, loss_mask),
        "b": lambda: per_sample_grad_norms(model, ids, attention, loss_mask),
        "c": baseline,
    }[settings["method"]]

    def sync():
        if cuda:
            torch.cuda.synchronize()

    if cuda:
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
    else:
        base = _rss_bytes("VmRSS")
        with open("/proc/self/clear_refs", "w") as f:  # reset VmHWM (the peak RSS)
            f.write("5")
    norms = fn()  # warm-up (and the norms we report)
    sync()
    times, cpu_times = [], []
    for _ in range(settings["repeats"]):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
        cpu_times.append(time.process_time() - c0)
    peak = (torch.cuda.max_memory_allocated() if cuda else _rss_bytes("VmHWM")) - base
    return {
        "median_s": statistics.median(times),
        "times_s": times,
        # CPU seconds of this process (all threads): on a shared, loaded machine a steadier
        # measure of the work than wall time, which includes waiting for a core.
        "median_cpu_s": statistics.median(cpu_times),
        "peak_bytes": int(peak),
        "norms": [float(x) for x in norms.float().cpu()],
        "device_name": torch.cuda.get_device_name() if cuda else _cpu_name(),
    }


def profile_worker(settings, model, ids, attention, loss_mask) -> dict:
    """Mean time split over `repeats` profiled engine calls, after one unprofiled warm-up."""
    import dataclasses

    import torch

    from vigor.gradnorm import GradNormEngine
    from vigor.gradnorm.engine import EngineProfile

    engine = GradNormEngine(model)
    engine.compute(ids, attention, loss_mask)
    prof = EngineProfile()
    for _ in range(settings["repeats"]):
        engine.compute(ids, attention, loss_mask, profile=prof)
    n = settings["repeats"]
    out = dataclasses.asdict(prof)
    out["forward_s"] /= n
    out["backward_s"] /= n
    out["rule_s"] = {k: v / n for k, v in prof.rule_s.items()}
    out["rule_modules"] = {k: v // n for k, v in prof.rule_modules.items()}
    out["micro_batches"] = prof.micro_batches // n
    out["runs"] = n
    cuda = settings["device"].startswith("cuda")
    out["device_name"] = torch.cuda.get_device_name() if cuda else _cpu_name()
    return out


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip() + f" ({os.cpu_count()} cores)"
    except OSError:
        pass
    return "cpu"


if __name__ == "__main__":  # the worker process of one method (the command is `vigor bench gradnorm`, vigor.bench_cli)
    if len(sys.argv) != 3 or sys.argv[1] != "--worker":
        sys.exit("usage: python -m vigor.gradnorm.bench --worker SETTINGS_JSON (the command is vigor bench gradnorm)")
    print(json.dumps(worker(json.loads(sys.argv[2]))))
