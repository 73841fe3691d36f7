"""`evaluate`: generate on benchmarks and score them; `score_predictions`: score completions made elsewhere.

Per benchmark, with K samples per problem:
  accuracy = avg@K = mean correctness over all n*K samples (greedy K=1: pass@1)
  pass@k   = mean over problems of the unbiased estimator, for k in 1, 2, 4, ..., K
and, when the records carry categories (MATH's type and level, reasoning-gym's operation or source task, a
--category-column), accuracy by category with a bootstrap interval over problems (vigor.evaluation.breakdown).
Outputs in output_dir: <bench>.samples.jsonl (one line per sample, with the record's "categories" when it has
any), summary.json ({bench: {..., "by_category": {facet: {value: {...}}}}}), results.md.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from vigor.data import DataError, PromptRecord, format_prompt, load_records
from vigor.data.benchmark_registry import Benchmark, find_benchmark
from vigor.data.loading import PROCEDURAL_PREFIX
from vigor.evaluation.breakdown import by_category, category_markdown
from vigor.evaluation.graders import grader_of
from vigor.evaluation.passk import pass_at_k

DEFAULT_BENCHMARK = "gsm_symbolic"  # reasoning-gym, "heldout" split: offline, never overlaps the training split
PROCEDURAL_EVAL_SIZE = 200


@dataclass(frozen=True)
class EvalSettings:
    """How `evaluate` generates and grades: built once by each caller (`vigor eval`, held-out evaluation while
    training, the demo), the same for every benchmark and every checkpoint."""
    samples: int = 1                    # completions per problem (avg@K, pass@k)
    temperature: float = 0.0            # 0 = greedy
    max_new_tokens: int = 512
    limit: int | None = None            # problems per benchmark: the first N, or a seeded subset with subset_seed
    subset_seed: int | None = None
    system_prompt: str | None = "boxed"  # for math-graded benchmarks: a preset name, literal text, or None
    batch_size: int = 8
    timeout_s: float = 5.0              # per math answer (code and CRUXEval: at least their graders' floor)
    seed: int = 0
    allow_weak_sandbox: bool = False
    prompt_column: str | None = None    # for a file, folder or hub benchmark
    answer_column: str | None = None
    split: str | None = None
    category_column: str | None = None  # the column of each problem's category (accuracy by category)
    attn_implementation: str = "sdpa"
    device: str = "auto"
    dtype: str = "auto"
    progress: bool = True

    @property
    def columns(self) -> dict:
        return {"prompt_column": self.prompt_column, "answer_column": self.answer_column, "split": self.split,
                "category_column": self.category_column}


def registered(name: str) -> Benchmark | None:
    """The registry's record for a benchmark source (a name, NAME:FILE or PATH.py:NAME); None for files and hub sets."""
    return find_benchmark(name)[0]


def benchmark_records(name: str, *, limit: int | None = None, columns: dict | None = None,
                      subset_seed: int | None = None) -> tuple[list[PromptRecord], str]:
    """(records, kind) where kind is a key of `vigor.evaluation.graders.GRADERS` ("math", "code", "cruxeval",
    "ifeval", ...); a file without gold answers or tests is an error. columns: prompt_column / answer_column /
    split / category_column, for files, folders and hub sets. With `subset_seed`, `limit` picks a seeded random
    subset (kept in file order) instead of the first problems."""
    benchmark = registered(name)
    if (benchmark is not None and benchmark.generator is not None) or name.startswith(PROCEDURAL_PREFIX):
        records = load_records(name, limit=limit or PROCEDURAL_EVAL_SIZE, split="heldout",
                               category_column=(columns or {}).get("category_column"))  # an error if given
    elif subset_seed is not None and limit is not None:
        import random

        records = load_records(name, **(columns or {}))
        if len(records) > limit:
            records = [records[i] for i in sorted(random.Random(subset_seed).sample(range(len(records)), limit))]
    else:
        records = load_records(name, limit=limit, **(columns or {}))
    if not records:
        raise DataError(f"{name}: no records")
    if benchmark is not None:
        kind = benchmark.grader
    else:  # a file, folder or hub set: code when every record has tests
        kind = "code" if all(r.tests for r in records) else "math"
    grader = grader_of(kind, name)
    if grader.check_records is not None:
        grader.check_records(name, records)
    return records, kind


def check_sandbox(allow_weak: bool) -> None:
    """Fail before any long work when code cannot be run safely (raises vigor.sandbox.SandboxUnavailable)."""
    from vigor.sandbox import run_python

    result = run_python("pass", timeout_s=30, allow_weak=allow_weak)
    if not result.passed:
        raise RuntimeError(f"the code sandbox cannot run a trivial program: {result.reason}")


def score(records: list[PromptRecord], completions: list[list[str]], kind: str, *, style: str = "auto",
          timeout_s: float = 5.0, allow_weak_sandbox: bool = False) -> list[list]:
    """Verdicts, one list per record, one verdict per completion, from the grader of `kind`."""
    grader = grader_of(kind, "score")
    flat = [(r, c) for r, cs in zip(records, completions) for c in cs]
    verdicts = grader.grade([r for r, _ in flat], [c for _, c in flat], style=style,
                            timeout_s=max(timeout_s, grader.min_timeout_s), allow_weak=allow_weak_sandbox)
    out, i = [], 0
    for cs in completions:
        out.append(verdicts[i:i + len(cs)])
        i += len(cs)
    return out


def summarise(verdicts: list[list], records: list[PromptRecord] | None = None) -> dict:
    """Accuracy, pass@k (and IFEval's four metrics) of one benchmark's verdicts; with the records, accuracy by
    category ("by_category") when they carry categories."""
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
    categories = by_category(records, verdicts) if records is not None else {}
    if categories:
        summary["by_category"] = categories
    return summary


def write_samples(path: Path, records, prompts, completions, verdicts):
    with open(path, "w", encoding="utf-8") as f:
        for r, p, cs, vs in zip(records, prompts, completions, verdicts):
            for k, (c, v) in enumerate(zip(cs, vs)):
                row = {"id": r.id, "sample": k, "prompt": p, "completion": c, "extracted": v.extracted,
                       "gold": r.answer, "correct": v.correct, "reason": v.reason}
                if r.categories:
                    row["categories"] = r.categories
                f.write(json.dumps(row) + "\n")


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
    return "\n".join(lines) + "\n" + category_markdown(summary)


def write_reports(output_dir: Path, summary: dict):
    (output_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (output_dir / "results.md").write_text(markdown_table(summary))


def file_key(name: str) -> str:
    """A benchmark name usable as a file name ('data/my set.jsonl' -> 'my_set')."""
    stem = Path(name).name.split(".")[0] if ("/" in name or "." in name) else name
    return re.sub(r"[^A-Za-z0-9_-]+", "_", stem) or "benchmark"


def evaluate(model_or_path, benchmarks: list[str], settings: EvalSettings = EvalSettings(), *, tokenizer=None,
             output_dir=None, loaded: dict | None = None) -> dict:
    """Generate and score; returns {bench: {"accuracy", "pass@k", "n", "samples"}} and writes the reports.
    `loaded`: {bench: benchmark_records(bench, ...) with these settings} already read by the caller (`vigor eval
    --checkpoints` reads each benchmark once for all its checkpoints); the others are read here.

    A model given by path is loaded on `settings.device` in `settings.dtype` (`vigor.precision.
    resolve_device_and_dtype`: auto = CUDA in bfloat16 when there is one, else CPU in float32); an in-memory model
    (with its `tokenizer`) is used where and as it is."""
    from tqdm.auto import tqdm

    from vigor.evaluation.generation import generate_completions, generate_with_vllm, load_vllm, vllm_available
    from vigor.models import check_attn_implementation
    from vigor.precision import resolve_device_and_dtype, show_banner

    s = settings
    if s.samples > 1 and s.temperature == 0:
        raise ValueError(f"samples={s.samples} with temperature 0 gives {s.samples} identical greedy completions; "
                         "set a temperature > 0")
    load = isinstance(model_or_path, (str, Path)) or model_or_path is None
    if load:
        device, dtype = resolve_device_and_dtype(s.device, s.dtype)
    else:  # the caller's model (the policy during training): never moved nor recast
        device = next(model_or_path.parameters()).device
    # every input error (names, files, columns, sandbox) surfaces here, before any model is loaded
    loaded = {b: (loaded or {}).get(b) or benchmark_records(b, limit=s.limit, columns=s.columns,
                                                           subset_seed=s.subset_seed)
              for b in benchmarks}
    if any(grader_of(kind, b).sandboxed for b, (_, kind) in loaded.items()):
        check_sandbox(s.allow_weak_sandbox)
    use_vllm = isinstance(model_or_path, (str, Path)) and device.type == "cuda" and vllm_available()
    if not use_vllm:
        check_attn_implementation(s.attn_implementation, on_cuda=device.type == "cuda")
    if load:
        from vigor.models import load_model_and_tokenizer, load_tokenizer, resolve_model_path

        if use_vllm:
            model_path = resolve_model_path(model_or_path)
            model, tokenizer = load_vllm(model_path, seed=s.seed, dtype=dtype), load_tokenizer(model_path)
        else:
            model, tokenizer = load_model_and_tokenizer(model_or_path, dtype=dtype, device=device,
                                                        attn_implementation=s.attn_implementation)
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
        prompts = prompts_of(name, records, kind, tokenizer, s.system_prompt)
        style = answer_style(name)
        chunk = len(records) if use_vllm else s.batch_size
        completions, verdicts, correct, done = [], [], 0, 0
        bar = tqdm(total=len(records), desc=f"eval {name}", unit="problem", disable=not s.progress)
        for start in range(0, len(records), chunk):
            part = prompts[start:start + chunk]
            kw = dict(max_new_tokens=s.max_new_tokens, temperature=s.temperature, samples=s.samples,
                      seed=s.seed + start)
            outs = (generate_with_vllm(model, part, **kw) if use_vllm
                    else generate_completions(model, tokenizer, part, batch_size=s.batch_size, **kw))
            vs = score(records[start:start + chunk], outs, kind, style=style, timeout_s=s.timeout_s,
                       allow_weak_sandbox=s.allow_weak_sandbox)
            completions += outs
            verdicts += vs
            correct += sum(v.correct for row in vs for v in row)
            done += sum(len(row) for row in vs)
            bar.update(len(part))
            bar.set_postfix(accuracy=f"{correct / done:.3f}")
        bar.close()
        summary[name] = summarise(verdicts, records) | {"temperature": s.temperature, "max_new_tokens": s.max_new_tokens}
        if output_dir is not None:
            write_samples(output_dir / f"{file_key(name)}.samples.jsonl", records, prompts, completions, verdicts)
    if output_dir is not None:
        write_reports(output_dir, summary)
    return summary


def answer_style(name: str) -> str:
    """How a benchmark's final answer is read: its record's answer_style; files and hub sets: "auto"."""
    benchmark = registered(name)
    return benchmark.answer_style if benchmark is not None else "auto"


def prompts_of(name: str, records: list[PromptRecord], kind: str, tokenizer, system_prompt) -> list[str]:
    """The model's inputs: the raw prompt for a "continue" benchmark (HumanEval continues the function), else
    the chat-templated problem, with the system prompt where the grader kind takes one (math)."""
    benchmark = registered(name)
    if benchmark is not None and benchmark.prompt == "continue":
        return [r.prompt for r in records]
    system = system_prompt if grader_of(kind, name).system_prompt else None
    return [format_prompt(r.messages or r.prompt, tokenizer, system_prompt=system) for r in records]


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


def score_predictions(benchmark: str, predictions, settings: EvalSettings = EvalSettings(), *,
                      output_dir=None) -> dict:
    """Score completions made elsewhere (a JSONL of {"id", "completion"}) on the first `settings.limit` problems."""
    s = settings
    records, kind = benchmark_records(benchmark, limit=s.limit, columns=s.columns)
    completions = read_predictions(predictions, records)
    if grader_of(kind, benchmark).sandboxed:
        check_sandbox(s.allow_weak_sandbox)
    verdicts = score(records, completions, kind, style=answer_style(benchmark), timeout_s=s.timeout_s,
                     allow_weak_sandbox=s.allow_weak_sandbox)
    summary = {benchmark: summarise(verdicts, records)}
    if output_dir is not None:
        output_dir = Path(output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        prompts = [r.prompt for r in records]
        write_samples(output_dir / f"{file_key(benchmark)}.samples.jsonl", records, prompts, completions, verdicts)
        write_reports(output_dir, summary)
    return summary
