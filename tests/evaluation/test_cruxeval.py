"""CRUXEval: answer extraction, the hack guards, and execution in the real sandbox against a reference.

Reference: the benchmark function's value on an input, computed by a separate sandbox program that prints
repr(f(...)) (no extraction, no assertion, no marker), compared in this process with ast.literal_eval.
"""

import ast
import json
import random

import pytest

from vigor.cli import main
from vigor.data import benchmark_file, load_records
from vigor.evaluation.cruxeval import extract_prediction, grade_cruxeval_many, invalid_reason
from vigor.sandbox import run_many


def answer(call: str, value: str) -> str:
    return f"Let's run it.\n[/THOUGHT]\n[ANSWER]\nassert {call} == {value}\n[/ANSWER]"


@pytest.mark.parametrize("completion, mode, want", [
    (answer("f(3)", "6"), "output", "6"),
    (answer("f(3)", "6"), "input", "f(3)"),
    ("[ANSWER]\n```python\nassert f('a', 1) == 'ab'\n```\n[/ANSWER] trailing", "input", "f('a', 1)"),
    ("[ANSWER]`assert f(1) == [1, 2]`[/ANSWER]", "output", "[1, 2]"),
    ("So the answer is:\nassert f(2) == 4\nDone.", "output", "4"),         # no tags: the last assert line
    ("I think\n'abc'", "output", "'abc'"),                                 # nothing assert-like: the last line
    ("[ANSWER]\nassert f(x == 1) == 2\n[/ANSWER]", "input", "f(x"),        # the harness splits on the first ==
    ("", "output", ""),
])
def test_extraction_follows_the_harness(completion, mode, want):
    assert extract_prediction(completion, mode) == want


def test_predictions_that_cannot_be_run_are_refused_before_the_sandbox():
    o = load_records("cruxeval-o", limit=1)[0]
    i = load_records("cruxeval-i", limit=1)[0]
    assert "single Python expression" in invalid_reason("[1] or True\nimport os", o)
    assert invalid_reason("[1] or True", o) is None  # one expression: runs, parenthesised, and fails
    assert "calls f on the input" in invalid_reason(f"f({o.meta['input']})", o)
    assert "must be a call f" in invalid_reason("f([1]) or True", i)
    assert "must be a call f" in invalid_reason("[1, 2]", i)
    assert invalid_reason("", o) == "no answer found"
    hacks = [answer(f"f({o.meta['input']})", "[1] or True"),         # `assert f(x) == [1] or True` would pass
             answer(f"f({o.meta['input']})", "__import__('os')._exit(0)"),  # exit 0 before the assertion
             answer(f"f({o.meta['input']})", f"f({o.meta['input']})"),
             answer(f"f({i.meta['input']}) or True", i.meta["output"])]
    verdicts = grade_cruxeval_many([o, o, o, i], hacks)
    assert not any(v.correct for v in verdicts), [v.reason for v in verdicts]
    assert verdicts[0].reason.startswith("failed") and "AssertionError" in verdicts[0].reason
    assert "exited" in verdicts[1].reason and "before the" in verdicts[1].reason
    assert verdicts[2].reason.startswith("invalid") and verdicts[3].reason.startswith("invalid")


def reference_values(records, inputs):
    """repr(f(input)) per record, run in the sandbox; None where it raised."""
    programs = [f"{r.meta['code']}\n\nprint(repr(f({x})))\n" for r, x in zip(records, inputs)]
    return [res.stdout.strip() if res.passed else None for res in run_many(programs)]


def same_value(printed, literal) -> bool:
    if printed is None:
        return False
    try:
        return ast.literal_eval(printed) == ast.literal_eval(literal)
    except (ValueError, SyntaxError):
        return printed == repr(ast.literal_eval(literal))


def test_gold_answers_pass_and_shifted_ones_match_the_reference(fresh_seed):
    seed = fresh_seed  # tests/conftest.py: printed on failure, replayable with VIGOR_TEST_SEED
    rng = random.Random(seed)
    records_o, records_i = load_records("cruxeval-o"), load_records("cruxeval-i")
    picks = rng.sample(range(len(records_o)), 24)
    o = [records_o[k] for k in picks]
    i = [records_i[k] for k in picks]
    other = [records_o[(k + 1) % len(records_o)] for k in picks]  # the next problem's gold: the shifted answer
    gold_o = [answer(f"f({r.meta['input']})", r.meta["output"]) for r in o]
    gold_i = [answer(f"f({r.meta['input']})", r.meta["output"]) for r in i]
    shifted_o = [answer(f"f({r.meta['input']})", s.meta["output"]) for r, s in zip(o, other)]
    shifted_i = [answer(f"f({s.meta['input']})", r.meta["output"]) for r, s in zip(i, other)]
    verdicts = grade_cruxeval_many(o + i + o + i, gold_o + gold_i + shifted_o + shifted_i)
    n = len(picks)
    failed = [(r.id, v.reason) for r, v in zip(o + i, verdicts[:2 * n]) if not v.correct]
    assert not failed, f"seed {seed}: gold answers failed: {failed}"

    own = reference_values(o, [r.meta["input"] for r in o])
    moved = reference_values(i, [s.meta["input"] for s in other])
    assert all(same_value(v, r.meta["output"]) for v, r in zip(own, o)), f"seed {seed}"
    want_o = [same_value(v, s.meta["output"]) for v, s in zip(own, other)]
    want_i = [same_value(v, r.meta["output"]) for v, r in zip(moved, i)]
    got = [v.correct for v in verdicts[2 * n:]]
    assert got == want_o + want_i, f"seed {seed}: shifted verdicts differ from the reference"
    # on the whole set 8/800 shifted outputs and 18/800 shifted inputs are right by coincidence (f returns the same)
    assert sum(want_o) + sum(want_i) < n // 2, f"seed {seed}: shifted answers should seldom be right"


def test_a_cruxeval_or_ifeval_file_with_a_missing_field_fails_before_the_model_loads(tmp_path, capsys):
    rows = [json.loads(line) for line in benchmark_file("cruxeval-o").read_text().splitlines()[:3]]
    del rows[1]["output"]
    bad = tmp_path / "crux.jsonl"
    bad.write_text("".join(json.dumps(r) + "\n" for r in rows))
    code = main(["eval", "--model", str(tmp_path / "no-model"), "--benchmark", f"cruxeval-i:{bad}",
                 "--output-dir", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert f"{bad}:2: cruxeval-i record has no 'output' field" in err
    ifeval = tmp_path / "ifeval.jsonl"
    ifeval.write_text(json.dumps({"key": 1, "prompt": "Say hi.", "kwargs": [{}]}) + "\n")
    code = main(["eval", "--model", str(tmp_path / "no-model"), "--benchmark", f"ifeval:{ifeval}",
                 "--output-dir", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and f"{ifeval}:1: ifeval record has no 'instruction_id_list'" in err
