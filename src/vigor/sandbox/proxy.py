"""Grade model-written code without ever running it next to the tests: `run_tests_with_proxy`.

Two sandboxes per sample, joined by a socket pair the host creates (see docs/sandbox.md):
- the candidate sandbox runs the model-written code (then the benchmark's setup code) and
  answers requests;
- the test sandbox runs only the benchmark's tests. Every name the tests take from the solution
  is a proxy there: calling it sends the arguments over, and the result comes back as plain data
  (None, bool, int, float, complex, str, bytes, list, tuple, dict, set, frozenset), rebuilt as
  exact builtin types. Anything else (an object whose __eq__ always says True, a subclass of
  int...) fails the test with the reason.
- the end-of-tests signal is written by the test process, after its last test, on a pipe only it
  holds: output, exit codes and anything the candidate prints are never a verdict.
Checks where f and/or a predicted value are model-written (is f(x) == y) use the same call: put the
model-written parts in `candidate_source`, and name them in `remote_names` (called, or passed by
reference) or `fetched_names` (fetched once as plain data before the tests run). CRUXEval does not:
its predictions are checked to be values and run in one sandbox (vigor.evaluation.code.run_cruxeval_many).
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from typing import Mapping

from vigor.sandbox import memory, runner
from vigor.sandbox.runner import SandboxLimits, SandboxResult

RUNTIME = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_proxy_runtime.py")
TESTS_DONE = b"vigor-tests-done\n"  # = _proxy_runtime.TESTS_DONE
GONE = "CandidateGone: "


@dataclass
class ProxyResult:
    passed: bool  # the tests ran to their end (signal from the test process) and exited 0
    status: str  # "passed", "failed", "timeout", "memory" or "error"
    reason: str  # one line: the tests' failure, or the candidate's when it ended first
    tests: SandboxResult
    candidate: SandboxResult
    duration_s: float


def free_names(test_source: str, builtin_overrides=()) -> list[str]:
    """Names the tests read but never bind: they come from the solution. Builtins only when listed in
    `builtin_overrides` (the reference solution redefines them, e.g. MBPP 126's `sum`): a candidate
    may not hand the tests its own `set` or `len`."""
    tree = ast.parse(test_source)
    read, bound = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
    return sorted(read - bound - (set(dir(builtins)) - set(builtin_overrides)))


def _module_like(test_source: str, names) -> list[str]:
    """Free names that are standard-library modules and that the tests only use as `name.attribute`
    (`math.isclose(...)` without `import math`); a called `random(...)` is the solution's."""
    called = {node.func.id for node in ast.walk(ast.parse(test_source))
              if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    return [n for n in names if n in sys.stdlib_module_names and n not in called]


def run_tests_with_proxy(candidate_source: str, test_source: str, *, remote_names: Mapping[str, str] | None = None,
                         fetched_names: Mapping[str, str] | None = None, setup_source: str = "",
                         builtin_overrides=(),
                         timeout_s: float = 10.0, memory_mb: int = 1024, allow_weak: bool = False,
                         **limits) -> ProxyResult:
    """Run `test_source` against `candidate_source` in two sandboxes (see the module docstring).

    remote_names: {name in the tests: name in the solution}, default: every free name of the tests
    (standard-library modules among them are imported in the test process instead; builtins only
    when in builtin_overrides, see free_names).
    fetched_names: {name in the tests: name in the solution} of values fetched before the tests run.
    setup_source: trusted code that builds objects from the solution's classes; runs after the
    solution, in the candidate process. Never raises for anything the candidate does.
    """
    for label, text in (("candidate_source", candidate_source), ("test_source", test_source),
                        ("setup_source", setup_source)):
        if not isinstance(text, str):
            raise TypeError(f"run_tests_with_proxy: {label} must be a str, got {type(text).__name__}")
    settings = SandboxLimits(timeout_s=timeout_s, memory_mb=memory_mb, **limits)
    modules: list[str] = []
    if remote_names is None:
        try:
            names = free_names(test_source, builtin_overrides)
        except SyntaxError as err:  # a bad row of a user's data set: this sample is an error, the rest go on
            unrun = SandboxResult(False, "error", "not run", None, "", "", 0.0, True)
            return ProxyResult(False, "error", f"the tests do not parse: {err}", unrun, unrun, 0.0)
        modules = [n for n in _module_like(test_source, names) if n not in builtin_overrides]
        remote_names = {n: n for n in names if n not in modules}
    isolated = runner._require_isolation(allow_weak)
    with memory.reserve(2 * settings.memory_mb):  # both sandboxes at once: a pair never waits on itself
        return _run_pair(candidate_source, setup_source, test_source, dict(remote_names), dict(fetched_names or {}),
                         modules, settings, isolated)


def _run_pair(candidate_source, setup_source, test_source, remote_names, fetched_names, modules, settings,
              isolated) -> ProxyResult:
    with open(RUNTIME, encoding="utf-8") as f:
        runtime = f.read()
    candidate_end, tests_end = socket.socketpair()
    verdict_read, verdict_write = os.pipe()
    # Inside the isolated sandbox the launcher moves the given descriptors to 3, 4, ...; in the
    # weak mode they keep the host's numbers.
    fd = (lambda host_fd, slot: slot) if isolated else (lambda host_fd, slot: host_fd)  # noqa: E731
    candidate_main = (f"{runtime}\nserve_candidate({candidate_source!r}, {setup_source!r}, "
                      f"{fd(candidate_end.fileno(), 3)})\n")
    tests_main = (f"{runtime}\nrun_tests({test_source!r}, {remote_names!r}, {fetched_names!r}, {modules!r}, "
                  f"{fd(tests_end.fileno(), 3)}, {fd(verdict_write, 4)})\n")
    owned = {"candidate": [candidate_end], "tests": [tests_end, verdict_write]}
    candidate_proc: list = []

    def close_host_copies(which):  # once started the child holds them; EOF must follow its exit
        for handle in owned[which]:
            handle.close() if hasattr(handle, "close") else os.close(handle)
        owned[which] = []

    def started(which):
        def callback(proc):
            if which == "candidate":
                candidate_proc.append(proc)
            close_host_copies(which)
        return callback

    outcome: dict = {}

    def run_candidate():
        outcome["candidate"] = runner._run_guarded(candidate_main, settings, isolated,
                                                   program_fds=(candidate_end.fileno(),), started=started("candidate"))
        close_host_copies("candidate")  # also when it never started: the tests then see EOF at once

    start = time.monotonic()
    thread = threading.Thread(target=run_candidate, daemon=True)
    try:
        thread.start()
        tests = runner._run_guarded(tests_main, settings, isolated, program_fds=(tests_end.fileno(), verdict_write),
                                    started=started("tests"))
        close_host_copies("tests")
        stopped = _stop(candidate_proc)
        thread.join()
        verdict = runner._read_bytes(verdict_read)
    finally:
        for which in owned:
            close_host_copies(which)
        os.close(verdict_read)
    candidate = outcome["candidate"]
    if stopped:  # killed by us, not by a limit: say so instead of "sandbox exited early"
        candidate = dataclasses.replace(candidate, status="failed", reason="stopped once the tests had ended")
    status, reason = _judge(tests, candidate, verdict == TESTS_DONE, stopped)
    return ProxyResult(status == "passed", status, reason, tests, candidate, time.monotonic() - start)


def _stop(procs) -> bool:
    """Kill the candidate's sandbox once the tests are over; True if it was still running."""
    if procs and procs[0].poll() is None:
        try:
            os.killpg(procs[0].pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    return False


def _judge(tests: SandboxResult, candidate: SandboxResult, finished: bool, candidate_stopped: bool):
    if tests.passed and finished:
        return "passed", "passed"
    if tests.passed:
        return "failed", "the test process exited 0 without its end-of-tests signal"
    if tests.reason.startswith(GONE) and not candidate_stopped:  # the candidate ended first: its cause is the reason
        if candidate.status == "passed":
            return "failed", "the candidate exited (code 0) before the tests finished"
        return ("failed" if candidate.status == "error" else candidate.status), f"candidate: {candidate.reason}"
    return tests.status, tests.reason
