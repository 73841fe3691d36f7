"""Math answer grading with math-verify, a hard time limit per answer, in worker processes.

math-verify's own timeouts use signal.alarm (main thread only), so workers (`_grader_worker`, separate
interpreters) call it with the timeouts off and the parent enforces `timeout_s` per answer: a worker that
overruns is killed and replaced, a worker that dies is replaced; either way that answer is marked wrong with
the reason, and grading goes on. Model output never reaches sympy in the calling process.
"""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait

from vigor.evaluation.answers import extract_answer


@dataclass
class Verdict:
    correct: bool
    extracted: str | None
    reason: str


class GraderPool:
    """`workers` persistent processes; `map(jobs, timeout_s)` grades (extracted, gold) pairs in order."""

    def __init__(self, workers: int | None = None):
        self.size = max(1, workers or min(4, os.cpu_count() or 1))
        self._lock = threading.Lock()  # one map at a time: workers hold per-call state
        self._workers = [self._start() for _ in range(self.size)]
        for i in range(self.size):
            self._await_ready(i)

    def _start(self):
        # a fresh interpreter (not fork: the caller may hold threads; not multiprocessing spawn: that re-runs
        # the caller's __main__ script), talking over a socket pair
        ours, theirs = socket.socketpair()
        proc = subprocess.Popen([sys.executable, "-m", "vigor.evaluation._grader_worker", str(theirs.fileno())],
                                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL)
        theirs.close()
        return proc, Connection(ours.detach())

    def _await_ready(self, i, timeout_s: float = 120.0):
        proc, conn = self._workers[i]
        try:
            ready = conn.poll(timeout_s) and conn.recv() == "ready"
        except (EOFError, OSError):
            ready = False
        if not ready:
            raise RuntimeError(f"math grader worker did not start (exit code {proc.poll()})")

    def _replace(self, i):
        proc, conn = self._workers[i]
        proc.kill()
        proc.wait()
        conn.close()
        self._workers[i] = self._start()
        self._await_ready(i)

    def map(self, jobs: list[tuple[str, str]], timeout_s: float) -> list[tuple[bool, str]]:
        with self._lock:
            return self._map(jobs, timeout_s)

    def _map(self, jobs, timeout_s):
        results: list = [None] * len(jobs)
        pending = list(range(len(jobs)))[::-1]
        busy: dict[int, tuple[int, float]] = {}  # worker index -> (job index, deadline)
        while pending or busy:
            for i in range(self.size):
                if i not in busy and pending:
                    job = pending.pop()
                    self._workers[i][1].send(jobs[job])
                    busy[i] = (job, time.monotonic() + timeout_s)
            conns = {self._workers[i][1]: i for i in busy}
            next_deadline = min(d for _, d in busy.values())
            for conn in wait(list(conns), timeout=max(0.0, next_deadline - time.monotonic())):
                i = conns[conn]
                job, _ = busy.pop(i)
                try:
                    results[job] = conn.recv()
                except (EOFError, OSError):
                    code = self._workers[i][0].wait()
                    results[job] = (False, f"grader crashed (exit code {code})")
                    self._replace(i)
            now = time.monotonic()
            for i, (job, deadline) in list(busy.items()):
                if now >= deadline:
                    results[job] = (False, f"grader timed out after {timeout_s:g} s")
                    busy.pop(i)
                    self._replace(i)
        return results

    def close(self):
        for proc, conn in self._workers:
            try:
                conn.send(None)
            except OSError:
                pass
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            conn.close()
        self._workers = []


_shared: GraderPool | None = None


def shared_pool(workers: int | None = None) -> GraderPool:
    """One pool per process, reused across calls (starting workers costs about a second)."""
    global _shared
    if _shared is not None and (workers is None or workers == _shared.size) and _shared._workers:
        return _shared
    if _shared is not None:
        _shared.close()
    _shared = GraderPool(workers)
    return _shared


@atexit.register
def _close_shared():
    if _shared is not None:
        _shared.close()


def grade_math_many(pairs: list[tuple[str, str]], *, style: str = "auto", timeout_s: float = 5.0,
                    workers: int | None = None) -> list[Verdict]:
    """pairs: (completion, gold answer). Extraction runs here; equivalence runs in the pool under `timeout_s`."""
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
    extracted = [extract_answer(completion, style) for completion, _ in pairs]
    todo = [i for i, e in enumerate(extracted) if e is not None and pairs[i][1] is not None]
    verdicts = [Verdict(False, e, "no final answer found" if e is None else "no gold answer")
                for e in extracted]
    if todo:
        outcomes = shared_pool(workers).map([(extracted[i], str(pairs[i][1])) for i in todo], timeout_s)
        for i, (ok, reason) in zip(todo, outcomes):
            verdicts[i] = Verdict(bool(ok), extracted[i], reason)
    return verdicts


def grade_math(completion: str, gold: str, *, style: str = "auto", timeout_s: float = 5.0) -> Verdict:
    return grade_math_many([(completion, gold)], style=style, timeout_s=timeout_s)[0]
