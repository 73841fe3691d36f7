"""Code benchmarks scored in the real sandbox: reference solutions pass, corrupted ones fail."""

import random

from vigor.data import load_records
from vigor.evaluation.code import build_program, extract_code, grade_code_many


def test_humaneval_canonical_solutions_pass_and_corrupted_fail(fresh_seed):
    records = random.Random(fresh_seed).sample(load_records("humaneval"), 12)  # a fresh subset each run
    canonical = [r.meta["canonical_solution"] for r in records]
    # Return None before the canonical body runs: no HumanEval task expects None from every test
    # (a subtler corruption, e.g. in a helper function, can still be right by accident).
    corrupted = ["    return None\n" + s for s in canonical]
    verdicts = grade_code_many(records + records, canonical + corrupted)
    assert [v.correct for v in verdicts[:12]] == [True] * 12, [(r.id, v.reason) for r, v in zip(records, verdicts)]
    assert not any(v.correct for v in verdicts[12:]), [r.id for r, v in zip(records, verdicts[12:]) if v.correct]
    assert all(v.reason.startswith("failed") for v in verdicts[12:])


def test_mbpp_reference_code_passes_its_tests(fresh_seed):
    mbpp = load_records("mbpp")
    by_id = {r.id: r for r in mbpp}
    records = [by_id["367"]] + random.Random(fresh_seed).sample(mbpp, 9)  # 367 needs its setup code after the solution
    verdicts = grade_code_many(records, [r.meta["reference_code"] for r in records])
    assert all(v.correct for v in verdicts), [(r.id, v.reason) for r, v in zip(records, verdicts) if not v.correct]
    always_true = records[0].meta["reference_code"] + "\ndef is_tree_balanced(root):\n    return True\n"
    wrong = grade_code_many(records[:1], [always_true])
    assert not wrong[0].correct and "AssertionError" in wrong[0].reason


def test_fenced_completions_and_full_function_rewrites():
    he = load_records("humaneval", limit=1)[0]
    body = he.meta["canonical_solution"]
    full = he.prompt + body
    chat = f"Here you go:\n```python\n{full}```\nDone."
    assert extract_code(chat) == full
    program = build_program(he, chat)
    assert program.startswith("from typing import List\n\n") and program.count("def has_close_elements") == 1
    hang = "    while True:\n        pass\n"
    verdicts = grade_code_many([he, he], [chat, hang], timeout_s=2)
    assert verdicts[0].correct and verdicts[1].reason.startswith("timeout")


def test_exiting_zero_before_the_tests_is_not_a_pass():
    he = load_records("humaneval", limit=1)[0]
    mbpp = load_records("mbpp", limit=1)[0]
    hacks = ["    import os\n    os._exit(0)\n", "import sys\nsys.exit(0)\n"]
    body_hack = "    return 1\nimport os\nos._exit(0)\n"  # exits at import time, before check()
    verdicts = grade_code_many([he, mbpp, he], [hacks[0], hacks[1], body_hack])
    assert not any(v.correct for v in verdicts), [v.reason for v in verdicts]
    assert "before the tests finished" in verdicts[2].reason
