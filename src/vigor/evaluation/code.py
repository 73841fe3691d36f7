"""Code benchmarks: build the test program for a completion and run it in `vigor.sandbox` (never in this process).

HumanEval: prompt + completion + test + `check(entry_point)` (the completion is the body that follows the prompt;
           a fenced block that redefines the function replaces the prompt's stub instead).
MBPP:      completion (code, fenced or not) + test_setup_code + the asserts (setup code may use the solution,
           e.g. task 367 builds trees with the solution's `Node` class, so it goes after the code).
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

from vigor.data.records import PromptRecord
from vigor.evaluation.grading import Verdict

_FENCE = re.compile(r"```[ \t]*(?:python|py|Python)?[ \t]*\n(.*?)(?:```|$)", re.DOTALL)


def extract_code(completion: str) -> str:
    """The first fenced code block when there is one (chat models), else the completion as is."""
    m = _FENCE.search(completion)
    return m.group(1) if m else completion


def build_program(record: PromptRecord, completion: str) -> str:
    if record.entry_point:  # HumanEval layout
        code = extract_code(completion)
        redefines = re.search(rf"^def\s+{re.escape(record.entry_point)}\s*\(", code, re.MULTILINE)
        head = _imports(record.prompt) if redefines else record.prompt
        return f"{head}{code}\n\n{record.tests}\n\ncheck({record.entry_point})\n"
    setup = record.meta.get("test_setup_code", "")
    return f"{extract_code(completion)}\n\n{setup}\n{record.tests}\n"


def _imports(prompt: str) -> str:
    lines = [ln for ln in prompt.splitlines() if re.match(r"(import|from)\s", ln)]
    return "\n".join(lines) + "\n\n" if lines else ""


def grade_code_many(records: list[PromptRecord], completions: list[str], *, timeout_s: float = 10.0,
                    memory_mb: int = 1024, workers: int = 2, allow_weak: bool = False) -> list[Verdict]:
    """One sandboxed run per (record, completion); a pass means the program exited 0 within the limits."""
    from vigor.sandbox import run_python

    if len(records) != len(completions):
        raise ValueError(f"grade_code_many: {len(records)} records but {len(completions)} completions")
    programs = [build_program(r, c) for r, c in zip(records, completions)]

    def run(program):
        return run_python(program, timeout_s=timeout_s, memory_mb=memory_mb, allow_weak=allow_weak)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = list(pool.map(run, programs))
    return [Verdict(res.passed, extract_code(c), f"{res.status}: {res.reason}")
            for res, c in zip(results, completions)]
