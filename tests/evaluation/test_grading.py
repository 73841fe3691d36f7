"""Math grading with math-verify in worker processes: equivalence cases, and a hung or dead grader."""

import os
import re
import threading
import time

import pytest

from vigor.evaluation import grade_math, grade_math_many
from vigor.evaluation.grading import GraderPool, shared_pool

HANGS = "\\boxed{2^{2^{2^{2^{2^{2}}}}}}"  # sympy tries to evaluate 2^65536^... and never returns

CASES = [  # (completion, gold, equivalent?)
    ("\\boxed{\\frac{1}{2}}", "0.5", True),            # fractions and decimals
    ("\\boxed{0.5}", "\\frac12", True),
    ("\\boxed{\\dfrac{3}{4}}", "\\frac{3}{4}", True),
    ("\\boxed{0.75}", "\\frac{2}{3}", False),
    ("\\boxed{\\frac{\\sqrt{2}}{2}}", "\\frac{1}{\\sqrt{2}}", True),  # LaTeX forms
    ("\\boxed{(3,\\pi/2)}", "\\left( 3, \\frac{\\pi}{2} \\right)", True),
    ("\\boxed{1+x^2}", "x^2+1", True),
    ("\\boxed{[2,5)}", "[2,5)", True),                   # intervals
    ("\\boxed{(2,5)}", "[2,5)", False),
    ("\\boxed{(-\\infty, 3]}", "(-\\infty,3]", True),
    ("\\boxed{5\\text{ cm}}", "5", True),                # units
    ("\\boxed{90^\\circ}", "90", True),
    ("\\boxed{1,000}", "1000", True),                    # thousands separators
    ("#### 1,234", "1234", True),
    ("so she earns 18 dollars.", "18", True),            # GSM8K last-number fallback
    ("\\boxed{17}", "18", False),                        # wrong answers
    ("\\boxed{x+1}", "x-1", False),
    ("I don't know", "18", False),
]


def test_equivalence_cases():
    verdicts = grade_math_many([(c, g) for c, g, _ in CASES], timeout_s=10)
    assert [v.correct for v in verdicts] == [want for _, _, want in CASES], [
        (case[0], v.reason) for case, v in zip(CASES, verdicts) if v.correct != case[2]]
    assert verdicts[-1].extracted is None and verdicts[-1].reason == "no final answer found"
    assert verdicts[12].extracted == "1,000"


def test_boxed_style_has_no_number_fallback():
    assert not grade_math("the answer is 18", "18", style="boxed").correct
    assert grade_math("the answer is \\boxed{18}", "18", style="boxed").correct


def test_hung_grader_is_killed_and_the_run_goes_on():
    start = time.monotonic()
    verdicts = grade_math_many([(HANGS, "5"), ("\\boxed{4}", "4"), (HANGS, "6"), ("\\boxed{3}", "4")],
                               timeout_s=1.0, workers=2)
    assert time.monotonic() - start < 20
    assert [v.correct for v in verdicts] == [False, True, False, False]
    assert verdicts[0].reason == verdicts[2].reason == "grader timed out after 1 s"
    assert "not equivalent" in verdicts[3].reason


def test_dead_worker_marks_the_answer_wrong_and_is_replaced():
    pool = GraderPool(workers=1)
    try:
        victim = pool._workers[0][0].pid
        threading.Timer(1.0, os.kill, args=(victim, 9)).start()  # the worker dies while grading
        out = pool.map([("2^{2^{2^{2^{2^{2}}}}}", "5"), ("4", "4")], timeout_s=30)
        assert out[0] == (False, "grader crashed (exit code -9)")
        assert out[1][0] is True
        assert pool._workers[0][0].pid != victim
    finally:
        pool.close()


def test_bad_timeout():
    with pytest.raises(ValueError, match="timeout_s must be > 0"):
        grade_math_many([("1", "1")], timeout_s=0)


def test_shared_pool_is_reused():
    assert shared_pool(2) is shared_pool(2) is shared_pool()


def without_lhs(answer: str) -> str:
    """'x=5' -> '5' (math-verify compares an equation's right-hand side with a plain value)."""
    return re.sub(r"^[a-z]\s*=\s*", "", answer)


@pytest.mark.parametrize("name", ["math500", "gsm8k"])
def test_reference_solutions_are_right_and_shifted_ones_wrong(name):
    """Every worked solution of the real set grades correct against its own gold answer; against the previous
    problem's gold it grades wrong unless the two answers agree (up to a leading 'x =')."""
    from vigor.data import load_records

    records = load_records(name)
    own = grade_math_many([(r.meta["solution"], r.answer) for r in records], timeout_s=10)
    assert all(v.correct for v in own), [(r.id, v.reason) for r, v in zip(records, own) if not v.correct][:5]
    shifted = grade_math_many([(records[i].meta["solution"], records[i - 1].answer) for i in range(len(records))],
                              timeout_s=10)
    agree = [without_lhs(records[i].answer) == without_lhs(records[i - 1].answer) for i in range(len(records))]
    assert [v.correct for v in shifted] == agree
