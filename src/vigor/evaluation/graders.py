"""The grader registry: one `Grader` per kind, the one dispatch that `vigor eval` (`evaluate.score`) and the
`accuracy` reward (`vigor.rewards.extrinsic.Accuracy`) both grade through, so every kind is a training reward too.

  math      math-verify equivalence of the extracted final answer with the record's `answer`
  code      the program built from the completion passes the record's tests in `vigor.sandbox`
  cruxeval  the predicted output / input, checked by execution in `vigor.sandbox`
  ifeval    the instructions' checkers (`if-verifiable`) on the response

A benchmark names its kind (`vigor.data.benchmark_registry.Benchmark.grader`); a new kind is one
`register_grader(Grader(...))`. The grading functions themselves live in grading.py, code.py, cruxeval.py and
ifeval.py; this module only says which one a kind uses and what the kind needs around it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from vigor.data.records import DataError, PromptRecord


@dataclass(frozen=True)
class Grader:
    kind: str
    # (records, completions, *, style, timeout_s, allow_weak) -> one Verdict per completion (records[i] is the
    # problem completions[i] answers)
    grade: Callable[..., list]
    min_timeout_s: float = 0.0       # `vigor eval` grades with max(--grader-timeout, this)
    sandboxed: bool = False          # runs model-written code: the sandbox must work before any model loads
    system_prompt: bool = False      # the run's system prompt (the boxed-answer instruction) is used
    average: str | None = None       # the paper's average a benchmark of this kind counts in (None: none)
    # (benchmark name, records): raises DataError before any model loads
    check_records: Callable[[str, list[PromptRecord]], None] | None = None


GRADERS: dict[str, Grader] = {}


def register_grader(grader: Grader) -> Grader:
    if grader.kind in GRADERS and GRADERS[grader.kind] != grader:
        raise ValueError(f"a grader of kind {grader.kind!r} is already registered")
    GRADERS[grader.kind] = grader
    return grader


def grader_of(kind: str, where: str) -> Grader:
    """The grader of `kind`; an unknown kind is a one-line DataError naming `where` (the benchmark)."""
    if kind not in GRADERS:
        raise DataError(f"{where}: unknown grader kind {kind!r} (known: {', '.join(GRADERS)})")
    return GRADERS[kind]


def _math(records, completions, *, style="auto", timeout_s=5.0, allow_weak=False):
    from vigor.evaluation.grading import grade_math_many

    return grade_math_many([(c, r.answer) for r, c in zip(records, completions)], style=style, timeout_s=timeout_s)


def _code(records, completions, *, style="auto", timeout_s=10.0, allow_weak=False):
    from vigor.evaluation.code import grade_code_many

    return grade_code_many(records, completions, timeout_s=timeout_s, allow_weak=allow_weak)


def _cruxeval(records, completions, *, style="auto", timeout_s=5.0, allow_weak=False):
    from vigor.evaluation.cruxeval import grade_cruxeval_many

    return grade_cruxeval_many(records, completions, timeout_s=timeout_s, allow_weak=allow_weak)


def _ifeval(records, completions, *, style="auto", timeout_s=5.0, allow_weak=False):
    from vigor.evaluation.ifeval import grade_ifeval_many

    return grade_ifeval_many(records, completions)


def _math_check(name, records):
    missing = next((r for r in records if r.answer is None), None)
    if missing is not None:
        raise DataError(f"{name}: record {missing.id} has no gold answer; a file needs an 'answer' column "
                        "(or a MATH 'solution' with \\boxed{}, or GSM8K '#### N')")


def _ifeval_check(name, records):
    from vigor.evaluation.ifeval import check_records

    check_records(records)


register_grader(Grader("math", _math, system_prompt=True, average="math", check_records=_math_check))
register_grader(Grader("code", _code, min_timeout_s=10.0, sandboxed=True, average="code"))
register_grader(Grader("cruxeval", _cruxeval, min_timeout_s=5.0, sandboxed=True, average="code"))
register_grader(Grader("ifeval", _ifeval, check_records=_ifeval_check))
