"""Code benchmarks: build the test program for a completion and run it in `vigor.sandbox` (never in this process).

HumanEval: prompt + completion + test + `check(entry_point)` (the completion is the body that follows the prompt;
           a fenced block that redefines the function replaces the prompt's stub instead).
MBPP:      completion (code, fenced or not) + test_setup_code + the asserts (setup code may use the solution,
           e.g. task 367 builds trees with the solution's `Node` class, so it goes after the code).
CRUXEval:  `run_cruxeval_many`, the one place CRUXEval predictions run (see its docstring).

A pass needs exit code 0 AND a random marker that the program prints after its last test: a
completion that calls `os._exit(0)` or `sys.exit(0)` before the tests run (an easy reward hack in
RL on code) exits 0 but never prints the marker. Code in the same process could still read the
marker from its own source; this closes the cheap exits, not every hack.
"""

from __future__ import annotations

import re
import secrets
from concurrent.futures import ThreadPoolExecutor

from vigor.data.records import PromptRecord
from vigor.evaluation.grading import Verdict

_FENCE = re.compile(r"```[ \t]*(?:python|py|Python)?[ \t]*\n(.*?)(?:```|$)", re.DOTALL)


def extract_code(completion: str) -> str:
    """The first fenced code block when there is one (chat models), else the completion as is."""
    m = _FENCE.search(completion)
    return m.group(1) if m else completion


def build_program(record: PromptRecord, completion: str, *, marker: str | None = None) -> str:
    """The test program; with `marker`, it prints the marker once every test has run."""
    done = f"\nprint({marker!r}, flush=True)\n" if marker else ""
    if record.entry_point:  # HumanEval layout
        code = extract_code(completion)
        redefines = re.search(rf"^def\s+{re.escape(record.entry_point)}\s*\(", code, re.MULTILINE)
        head = _imports(record.prompt) if redefines else record.prompt
        return f"{head}{code}\n\n{record.tests}\n\ncheck({record.entry_point})\n{done}"
    setup = record.meta.get("test_setup_code", "")
    return f"{extract_code(completion)}\n\n{setup}\n{record.tests}\n{done}"


def _imports(prompt: str) -> str:
    lines = [ln for ln in prompt.splitlines() if re.match(r"(import|from)\s", ln)]
    return "\n".join(lines) + "\n\n" if lines else ""


def grade_code_many(records: list[PromptRecord], completions: list[str], *, timeout_s: float = 10.0,
                    memory_mb: int = 1024, workers: int = 2, allow_weak: bool = False) -> list[Verdict]:
    """One sandboxed run per (record, completion); a pass means the program exited 0 within the
    limits after printing its end-of-tests marker (see the module docstring)."""
    from vigor.sandbox import run_python

    if len(records) != len(completions):
        raise ValueError(f"grade_code_many: {len(records)} records but {len(completions)} completions")
    markers = [f"vigor-tests-done-{secrets.token_hex(16)}" for _ in completions]
    programs = [build_program(r, c, marker=m) for r, c, m in zip(records, completions, markers)]

    def run(program):
        return run_python(program, timeout_s=timeout_s, memory_mb=memory_mb, allow_weak=allow_weak)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = list(pool.map(run, programs))
    verdicts = []
    for res, c, marker in zip(results, completions, markers):
        finished = marker in res.stdout.splitlines()
        if res.passed and not finished:
            reason = "failed: exited 0 before the tests finished (no end-of-tests marker)"
        else:
            reason = f"{res.status}: {res.reason}"
        verdicts.append(Verdict(res.passed and finished, extract_code(c), reason))
    return verdicts


def run_cruxeval_many(checks: list[tuple[str, str, str, str, str]], *, timeout_s: float = 5.0,
                      memory_mb: int = 1024, workers: int = 2, allow_weak: bool = False) -> list[tuple[bool, str]]:
    """CRUXEval execution, in the sandbox: each check is (mode, code defining f, input, output, prediction), where
    the prediction is model-written and already known to be one expression (vigor.evaluation.cruxeval):
      mode "output":  assert (f(<input>)) == (<prediction>)
      mode "input":   assert (<prediction, a call of f>) == (<output>)
    Returns (passed, reason) per check; a pass needs exit 0 AND the marker printed after the assertion."""
    from vigor.sandbox import run_python

    markers = [f"vigor-tests-done-{secrets.token_hex(16)}" for _ in checks]
    programs = []
    for (mode, code, given, output, prediction), marker in zip(checks, markers):
        left, right = (f"f({given})", prediction) if mode == "output" else (prediction, output)
        programs.append(f"{code}\n\nassert ({left}) == ({right})\nprint({marker!r}, flush=True)\n")

    def run(program):
        return run_python(program, timeout_s=timeout_s, memory_mb=memory_mb, allow_weak=allow_weak)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = list(pool.map(run, programs))
    outcomes = []
    for res, marker in zip(results, markers):
        finished = marker in res.stdout.splitlines()
        if res.passed and not finished:
            outcomes.append((False, "failed: exited 0 before the assertion ran (no end-of-tests marker)"))
        else:
            outcomes.append((res.passed and finished, f"{res.status}: {res.reason}"))
    return outcomes
