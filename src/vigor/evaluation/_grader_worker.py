"""A math grading worker process: `python -m vigor.evaluation._grader_worker FD` (FD: a socket to the parent).

Receives (extracted answer, gold) pairs, sends back (equivalent?, reason). math-verify runs with its signal-based
timeouts off; the parent kills this process when an answer overruns its time limit.
"""

from __future__ import annotations

import re
import sys


def _plain(s: str) -> str:
    """String fallback when math-verify cannot parse: drop spacing and \\left/\\right, unify \\dfrac."""
    s = re.sub(r"\\left|\\right|\\[,!;: ]|\s+|\$", "", s)
    return s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").rstrip(".")


def verify_answer(extracted: str, gold: str) -> tuple[bool, str]:
    """(equivalent?, reason). No time limit of its own: call it in a process that can be killed."""
    from math_verify import parse, verify

    gold_parsed = parse(f"${gold}$", parsing_timeout=None)
    pred_parsed = parse(f"\\boxed{{{extracted}}}", parsing_timeout=None)
    if gold_parsed and pred_parsed:
        if verify(gold_parsed, pred_parsed, timeout_seconds=None):
            return True, "equivalent (math-verify)"
        return False, f"{extracted!r} is not equivalent to {gold!r} (math-verify)"
    if _plain(extracted) == _plain(gold):
        return True, "same text (math-verify could not parse)"
    return False, f"{extracted!r} differs from {gold!r} (math-verify could not parse, text compared)"


def serve(conn) -> None:
    import logging

    import math_verify  # noqa: F401  (import before saying ready, so the first answer's time limit is fair)

    logging.disable(logging.WARNING)  # math-verify warns on every call made with its timeouts off
    conn.send("ready")
    while True:
        try:
            job = conn.recv()
        except EOFError:  # the parent is gone
            return
        if job is None:
            return
        try:
            conn.send(verify_answer(*job))
        except Exception as err:  # a grader bug on one answer must not stop the run
            conn.send((False, f"grader error: {type(err).__name__}: {err}"[:300]))


if __name__ == "__main__":
    from multiprocessing.connection import Connection

    serve(Connection(int(sys.argv[1])))
