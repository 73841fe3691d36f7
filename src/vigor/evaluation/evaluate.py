"""`evaluate`: generate on benchmarks and score them; `score_predictions`: score completions made elsewhere.

Per benchmark, with K samples per problem:
  accuracy = avg@K = mean correctness over all n*K samples (greedy K=1: pass@1)
  pass@k   = mean over problems of the unbiased estimator, for k in 1, 2, 4, ..., K
Outputs in output_dir: <bench>.samples.jsonl (one line per sample), summary.json ({bench: {...}}), results.md.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from vigor.data import CODE_BENCHMARKS, DataError, PromptRecord, format_prompt, load_records
from vigor.data.loading import PROCEDURAL_PREFIX, split_own_file
from vigor.evaluation.passk import pass_at_k

# Boxed-answer benchmarks are graded on the last \boxed{}; GSM8K-style sets fall back to '####' and the last number.
ANSWER_STYLE = {"math500": "boxed", "aime24": "boxed", "aime25": "boxed", "amc23": "boxed", "minerva": "boxed",
                "olympiadbench": "boxed"}
# benchmarks with their own grader (kind): CRUXEval by execution, IFEval by the instructions' checkers
OWN_KIND = {"cruxeval-o": "cruxeval", "cruxeval-i": "cruxeval", "ifeval": "ifeval"}
SANDBOXED_KINDS = ("code", "cruxeval")
DEFAULT_BENCHMARK = "gsm_symbolic"  # reasoning-gym, "heldout" split: offline, never overlaps the training split
PROCEDURAL_EVAL_SIZE = 200


def shipped_kind(name: str) -> str:
    """The kind `benchmark_records` gives a shipped benchmark, without reading it."""
    return OWN_KIND.get(name) or ("code" if name in CODE_BENCHMARKS else "math")


def benchmark_records(name: str, *, limit: int | None = None, columns: dict | None = None,
                      subset_seed: int | None = None) -> tuple[list[PromptRecord], str]:
    """(records, kind) where kind is "code", "cruxeval", "ifeval" or "math"; a file without gold answers or tests
    is an error. columns: prompt_column / answer_column / split, for files, folders and hub sets. With
    `subset_seed`, `limit` picks a seeded random subset (kept in file order) instead of the first problems."""
    if name == DEFAULT_BENCHMARK or name.startswith(PROCEDURAL_PREFIX):
        records = load_records(name, limit=limit or PROCEDURAL_EVAL_SIZE, split="heldout")
    elif subset_seed is not None and limit is not None:
        import random

        records = load_records(name, **(columns or {}))
        if len(records) > limit:
            records = [records[i] for i in sorted(random.Random(subset_seed).sample(range(len(records)), limit))]
    else:
        records = load_records(name, limit=limit, **(columns or {}))
    if not records:
        raise DataError(f"{name}: no records")
    kind = OWN_KIND.get(split_own_file(name)[0])
    if kind == "ifeval":
        from vigor.evaluation.ifeval import check_records

        check_records(records)
    if kind is not None:
        return records, kind
    if name in CODE_BENCHMARKS or all(r.tests for r in records):
        return records, "code"
    missing = next((r for r in records if r.answer is None), None)
    if missing is not None:
        raise DataError(f"{name}: record {missing.id} has no gold answer; a file needs an 'answer' column "
                        "(or a MATH 'solution' with \\boxed{}, or GSM8K '#### N')")
    return records, "math"


def check_sandbox(allow_weak: bool) -> None:
    """Fail before any long work when code cannot be run safely (raises vigor.sandbox.SandboxUnavailable)."""
    from vigor.sandbox import run_python

    result = run_python("pass", timeout_s=30, allow_weak=allow_weak)
    if not result.passed:
        raise RuntimeError(f"the code sandbox cannot run a trivial program: {result.reason}")


def score(records: list[PromptRecord], completions: list[list[str]], kind: str, *, style: str = "auto",
          timeout_s: float = 5.0, allow_weak_sandbox: bool = False) -> list[list]:
    """Verdicts, one list per record, one verdict per completion."""
    from vigor.evaluation.code import grade_code_many
    from vigor.evaluation.cruxeval import grade_cruxeval_many
    from vigor.evaluation.grading import grade_math_many
    from vigor.evaluation.ifeval import grade_ifeval_many

    flat = [(r, c) for r, cs in zip(records, completions) for c in cs]
    if kind == "code":
        verdicts = grade_code_many([r for r, _ in flat], [c for _, c in flat], timeout_s=max(timeout_s, 10.0),
                                   allow_weak=allow_weak_sandbox)
    elif kind == "cruxeval":
        verdicts = grade_cruxeval_many([r for r, _ in flat], [c for _, c in flat], timeout_s=max(timeout_s, 5.0),
                                       allow_weak=allow_weak_sandbox)
    elif kind == "ifeval":
        verdicts = grade_ifeval_many([r for r, _ in flat], [c for _, c in flat])
    else:
        verdicts = grade_math_many([(c, r.answer) for r, c in flat], style=style, timeout_s=timeout_s)
    out, i = [], 0
    for cs in completions:
        out.append(verdicts[i:i + len(cs)])
        i += len(cs)
    return out


def summarise(verdicts: list[list]) -> dict:
    from vigor.evaluation.ifeval import IFEvalVerdict, ifeval_metrics

    samples = min(len(v) for v in verdicts)
    correct = [sum(x.correct for x in v) for v in verdicts]
    ks = sorted({1, samples} | {2 ** j for j in range(1, 12) if 2 ** j < samples})
    total = sum(len(v) for v in verdicts)
    summary = {"accuracy": sum(correct) / total, "n": len(verdicts), "samples": samples,
               "pass@k": {str(k): sum(pass_at_k(len(v), c, k) for v, c in zip(verdicts, correct)) / len(verdicts)
                          for k in ks}}
    if isinstance(verdicts[0][0], IFEvalVerdict):  # accuracy is prompt-level strict; the other three as well
        summary |= ifeval_metrics(verdicts)
    return summary


def write_samples(path: Path, records, prompts, completions, verdicts):
    with open(path, "w", encoding="utf-8") as f:
        for r, p, cs, vs in zip(records, prompts, completions, verdicts):
            for k, (c, v) in enumerate(zip(cs, vs)):
                f.write(json.dumps({"id": r.id, "sample": k, "prompt": p, "completion": c, "extracted": v.extracted,
                                    "gold": r.answer, "correct": v.correct, "reason": v.reason}) + "\n")


def markdown_table(summary: dict) -> str:
    ks = sorted({k for s in summary.values() for k in s["pass@k"]}, key=int)
    lines = ["| benchmark | n | samples | accuracy | " + " | ".join(f"pass@{k}" for k in ks) + " |",
             "|---|---:|---:|---:|" + "---:|" * len(ks)]
    for name, s in summary.items():
        cells = [f"{100 * s['pass@k'][k]:.2f}" if k in s["pass@k"] else "" for k in ks]
        lines.append(f"| {name} | {s['n']} | {s['samples']} | {100 * s['accuracy']:.2f} | " + " | ".join(cells) + " |")
    for name, s in summary.items():
        if "prompt_strict" in s:
            lines.append(f"\n{name}: prompt-level strict {100 * s['prompt_strict']:.2f}, "
                         f"loose {100 * s['prompt_loose']:.2f}; "
                         f"instruction-level strict {100 * s['instruction_strict']:.2f}, "
                         f"loose {100 * s['instruction_loose']:.2f}")
    return "\n".join(lines) + "\n"


def write_reports(output_dir: Path, summary: dict):
    (output_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (output_dir / "results.md").write_text(markdown_table(summary))


def file_key(name: str) -> str:
    """A benchmark name usable as a file name ('data/my set.jsonl' -> 'my_set')."""
    stem = Path(name).name.split(".")[0] if ("/" in name or "." in name) else name
    return re.sub(r"[^A-Za-z0-9_-]+", "_", stem) or "benchmark"


def evaluate(model_or_path, benchmarks: list[str], *, samples: int = 1, temperature: float = 0.0,
             max_new_tokens: int = 512, limit: int | None = None, output_dir=None, system_prompt="boxed",
             batch_size: int = 8, tokenizer=None, timeout_s: float = 5.0, seed: int = 0,
             progress: bool = True, allow_weak_sandbox: bool = False, columns: dict | None = None,
             subset_seed: int | None = None, attn_implementation: str = "sdpa", device: str = "auto",
             dtype: str = "auto") -> dict:
    """Generate and score; returns {bench: {"accuracy", "pass@k", "n", "samples"}} and writes the reports.

    A model given by path is loaded on `device` in `dtype` (`vigor.precision.resolve_device_and_dtype`: auto =
    CUDA in bfloat16 when there is one, else CPU in float32); an in-memory model is used where and as it is."""
    from tqdm.auto import tqdm

    from vigor.evaluation.generation import generate_completions, generate_with_vllm, load_vllm, vllm_available
    from vigor.models import check_attn_implementation
    from vigor.precision import resolve_device_and_dtype, show_banner

    if samples > 1 and temperature == 0:
        raise ValueError(f"samples={samples} with temperature 0 gives {samples} identical greedy completions; "
                         "set a temperature > 0")
    load = isinstance(model_or_path, (str, Path)) or model_or_path is None
    if load:
        device, dtype = resolve_device_and_dtype(device, dtype)
    else:  # the caller's model (the policy during training): never moved nor recast
        device = next(model_or_path.parameters()).device
    # every input error (names, files, columns, sandbox) surfaces here, before any model is loaded
    loaded = {b: benchmark_records(b, limit=limit, columns=columns, subset_seed=subset_seed) for b in benchmarks}
    if any(kind in SANDBOXED_KINDS for _, kind in loaded.values()):
        check_sandbox(allow_weak_sandbox)
    use_vllm = isinstance(model_or_path, (str, Path)) and device.type == "cuda" and vllm_available()
    if not use_vllm:
        check_attn_implementation(attn_implementation, on_cuda=device.type == "cuda")
    if load:
        from vigor.models import load_model_and_tokenizer, load_tokenizer, resolve_model_path

        if use_vllm:
            model_path = resolve_model_path(model_or_path)
            model, tokenizer = load_vllm(model_path, seed=seed, dtype=dtype), load_tokenizer(model_path)
        else:
            model, tokenizer = load_model_and_tokenizer(model_or_path, dtype=dtype, device=device,
                                                        attn_implementation=attn_implementation)
            show_banner(device=model.device, weights=model.dtype,
                        log=lambda line: print(line, file=sys.stderr, flush=True))
    else:
        model = model_or_path
        if tokenizer is None:
            raise ValueError("evaluate: pass tokenizer=... along with an in-memory model")
    output_dir = Path(output_dir) if output_dir is not None else None
    if output_dir is not None:
        output_dir.mkdir(parents=True, exist_ok=True)
    summary = {}
    for name, (records, kind) in loaded.items():
        # HumanEval completions continue the function prompt; everything else is a (chat) problem prompt
        prompts = [r.prompt if name == "humaneval" else
                   format_prompt(r.messages or r.prompt, tokenizer,
                                 system_prompt=system_prompt if kind == "math" else None)
                   for r in records]
        style = ANSWER_STYLE.get(name, "auto")
        chunk = len(records) if use_vllm else batch_size
        completions, verdicts, correct, done = [], [], 0, 0
        bar = tqdm(total=len(records), desc=f"eval {name}", unit="problem", disable=not progress)
        for start in range(0, len(records), chunk):
            part = prompts[start:start + chunk]
            kw = dict(max_new_tokens=max_new_tokens, temperature=temperature, samples=samples, seed=seed + start)
            outs = (generate_with_vllm(model, part, **kw) if use_vllm
                    else generate_completions(model, tokenizer, part, batch_size=batch_size, **kw))
            vs = score(records[start:start + chunk], outs, kind, style=style, timeout_s=timeout_s,
                       allow_weak_sandbox=allow_weak_sandbox)
            completions += outs
            verdicts += vs
            correct += sum(v.correct for row in vs for v in row)
            done += sum(len(row) for row in vs)
            bar.update(len(part))
            bar.set_postfix(accuracy=f"{correct / done:.3f}")
        bar.close()
        summary[name] = summarise(verdicts) | {"temperature": temperature, "max_new_tokens": max_new_tokens}
        if output_dir is not None:
            write_samples(output_dir / f"{file_key(name)}.samples.jsonl", records, prompts, completions, verdicts)
    if output_dir is not None:
        write_reports(output_dir, summary)
    return summary


def read_predictions(path, records: list[PromptRecord]) -> list[list[str]]:
    """Completions per record from a JSONL of {"id", "completion"} (several lines per id = several samples)."""
    from vigor.data import read_rows

    by_id = {r.id: [] for r in records}
    for line, row in read_rows(path):
        if "id" not in row or "completion" not in row:
            raise DataError(f"{path}:{line}: a prediction needs 'id' and 'completion' (fields: {sorted(row)})")
        if not isinstance(row["completion"], str):
            raise DataError(f"{path}:{line}: 'completion' must be a string")
        key = str(row["id"])
        if key not in by_id:
            raise DataError(f"{path}:{line}: id {key!r} is not in the benchmark (ids look like {records[0].id!r})")
        by_id[key].append(row["completion"])
    missing = [k for k, v in by_id.items() if not v]
    if missing:
        raise DataError(f"{path}: no completion for {len(missing)} of {len(records)} problems "
                        f"(first: {missing[:3]}); use --limit N to score only the first N")
    counts = {len(v) for v in by_id.values()}
    if len(counts) > 1:
        raise DataError(f"{path}: problems have different numbers of completions ({sorted(counts)})")
    return [by_id[r.id] for r in records]


def score_predictions(benchmark: str, predictions, *, output_dir=None, limit: int | None = None,
                      timeout_s: float = 5.0, allow_weak_sandbox: bool = False, columns: dict | None = None) -> dict:
    records, kind = benchmark_records(benchmark, limit=limit, columns=columns)
    completions = read_predictions(predictions, records)
    if kind in SANDBOXED_KINDS:
        check_sandbox(allow_weak_sandbox)
    verdicts = score(records, completions, kind, style=ANSWER_STYLE.get(benchmark, "auto"), timeout_s=timeout_s,
                     allow_weak_sandbox=allow_weak_sandbox)
    summary = {benchmark: summarise(verdicts)}
    if output_dir is not None:
        output_dir = Path(output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        prompts = [r.prompt for r in records]
        write_samples(output_dir / f"{file_key(benchmark)}.samples.jsonl", records, prompts, completions, verdicts)
        write_reports(output_dir, summary)
    return summary
