"""`Gold`: what is known to be right about one prompt, the one record that travels from the data to the rewards.

A `PromptRecord` gives it (`Gold.from_record`); the training dataset carries it as flat columns
(`Gold.COLUMNS`, since a `datasets.Dataset` holds plain values); TRL hands the columns back per
completion and the trainer rebuilds it (`Gold.from_row`) for the rewards (`Rollouts.golds`).
Math has an `answer`; code has `tests` (plus `entry_point`, the `problem` text and
`test_setup_code` to build the sandboxed test program). A record of a registered benchmark with another grader
kind (CRUXEval, IFEval, ...) carries that kind in `grader` and its record's `meta` as JSON, so the accuracy
reward grades it as `vigor eval` does.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import ClassVar

from vigor.data.records import PromptRecord


@dataclass(frozen=True)
class Gold:
    answer: str | None = None           # math: the gold final answer
    tests: str | None = None            # code: the test program (asserts / HumanEval `check`)
    entry_point: str | None = None      # code: the function under test (HumanEval)
    problem: str | None = None          # code: the problem text (HumanEval completions continue it)
    test_setup_code: str | None = None  # code: run before the tests (MBPP)
    grader: str | None = None           # a grader kind other than math and code (its benchmark's), else None
    meta: str | None = None             # with `grader`: the record's meta as JSON (what that grader reads)

    COLUMNS: ClassVar[tuple[str, ...]] = ("answer", "tests", "entry_point", "problem", "test_setup_code", "grader",
                                          "meta")

    @classmethod
    def from_record(cls, record: PromptRecord) -> Gold:
        from vigor.data.benchmark_registry import REGISTRY

        benchmark = REGISTRY.get(record.source)
        if benchmark is not None and benchmark.grader not in ("math", "code"):
            return cls(answer=None if record.answer is None else str(record.answer), grader=benchmark.grader,
                       meta=json.dumps(record.meta))
        if record.tests:
            return cls(tests=record.tests, entry_point=record.entry_point, problem=record.prompt,
                       test_setup_code=record.meta.get("test_setup_code"))
        return cls(answer=None if record.answer is None else str(record.answer))

    @classmethod
    def from_row(cls, row: dict) -> Gold:
        """From a dataset row; columns it lacks (or None) stay None, other columns are ignored."""
        return cls(**{k: (None if row.get(k) is None else str(row[k])) for k in cls.COLUMNS})

    @property
    def kind(self) -> str | None:
        """Its `grader` if set, else 'code' (has tests), 'math' (has a non-blank answer) or None (nothing to check
        against)."""
        if self.grader:
            return self.grader
        if self.tests:
            return "code"
        if self.answer is not None and self.answer.strip():
            return "math"
        return None

    def record(self, record_id: str) -> PromptRecord:
        """The `PromptRecord` its grader reads (`vigor.evaluation.graders`)."""
        if self.kind == "code":
            return self.code_record(record_id)
        return PromptRecord(id=record_id, prompt=self.problem or "", answer=self.answer,
                            meta=json.loads(self.meta) if self.meta else {})

    def code_record(self, record_id: str) -> PromptRecord:
        """The `PromptRecord` the code grader builds its test program from."""
        return PromptRecord(id=record_id, prompt=self.problem or "", tests=self.tests, entry_point=self.entry_point,
                            meta={"test_setup_code": self.test_setup_code or ""})


def gold_columns(golds: list[Gold]) -> list[dict]:
    """Per row, the dataset columns of the gold fields that any row has (a column must exist on every row)."""
    used = [f.name for f in fields(Gold) if any(getattr(g, f.name) is not None for g in golds)]
    return [{k: v for k, v in asdict(g).items() if k in used} for g in golds]
