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
from vigor.evaluation.cruxeval import extract_prediction, grade_cruxeval_many, invalid_reason, ungraded_golds
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


def test_predictions_that_are_not_values_fail_before_the_sandbox():
    o = load_records("cruxeval-o", limit=1)[0]
    i = load_records("cruxeval-i", limit=1)[0]
    assert "single Python expression" in invalid_reason("[1] or True\nimport os", o)
    assert "BoolOp is not allowed" in invalid_reason("[1] or True", o)
    assert "uses the name 'f'" in invalid_reason(f"f({o.meta['input']})", o)
    assert "must be a call f" in invalid_reason("f([1]) or True", i)
    assert "must be a call f" in invalid_reason("[1, 2]", i)
    assert "Starred is not allowed" in invalid_reason("f(*[1, 2])", i)
    assert "uses ** unpacking" in invalid_reason("f(**{'a': 1})", i)
    assert invalid_reason("", o) == "no answer found"
    assert invalid_reason("{'a': [1, -2.5, (3, None)], 'b': set()}", o) is None
    assert invalid_reason("f([1, 2], dict(a=1), 'x' + 'y', range(3), k=frozenset({1}))", i) is None


# The issue's attacks (a policy in training sees the task's code in its prompt).
CODE_REWRITE = ("f(setattr(f, '__code__', (lambda *a: {out}).__code__))")  # cruxeval-i: f's code replaced
EXEC_SOURCE = ("(lambda g: (exec({code!r}, g), g['f']({given}))[1])({{}})")  # cruxeval-o: computes, not predicts


def test_the_issues_attacks_and_other_non_values_are_fails_with_the_reason_not_errors():
    o = load_records("cruxeval-o", limit=3)
    i = load_records("cruxeval-i", limit=3)
    hacks = [
        (i[0], answer(CODE_REWRITE.format(out=i[0].meta["output"]), i[0].meta["output"])),
        (o[0], answer(f"f({o[0].meta['input']})", EXEC_SOURCE.format(code=o[0].meta["code"], given=o[0].meta["input"]))),
        (o[1], answer(f"f({o[1].meta['input']})", f"exec({o[1].meta['code']!r}) or f({o[1].meta['input']})")),
        (o[1], answer(f"f({o[1].meta['input']})", "[1] or True")),           # `assert f(x) == [1] or True`
        (o[2], answer(f"f({o[2].meta['input']})", "__import__('os')._exit(0)")),
        (o[2], answer(f"f({o[2].meta['input']})", "type('Y', (), {'__eq__': lambda s, o: True})()")),
        (i[1], answer(f"f({i[1].meta['input']}) or True", i[1].meta["output"])),
        (i[2], answer("f(__import__('os').kill(__import__('os').getpid(), 9))", i[2].meta["output"])),
        (o[0], answer("f(1)", "(" * 100_000 + ")" * 100_000)),             # the parser's own limit
    ]
    verdicts = grade_cruxeval_many([r for r, _ in hacks], [c for _, c in hacks])
    assert not any(v.correct for v in verdicts), [v.reason for v in verdicts]
    assert all(v.reason.startswith("invalid: ") for v in verdicts), [v.reason for v in verdicts]
    assert "an argument is not a value: uses the name 'setattr'" in verdicts[0].reason, verdicts[0].reason
    assert "not a value" in verdicts[1].reason and "not a value" in verdicts[2].reason
    # and the next sample is graded: the gold after them passes
    gold = grade_cruxeval_many([o[0], i[0]], [answer(f"f({o[0].meta['input']})", o[0].meta["output"]),
                                              answer(f"f({i[0].meta['input']})", i[0].meta["output"])])
    assert all(v.correct for v in gold), [v.reason for v in gold]


def test_the_six_gold_inputs_that_are_not_values_are_named():
    """cruxeval-i: 12 of 800 gold inputs are not literals (the issue's "about 14" also counted `f()` and a
    trailing comma); 6 are values under the allow-list (dict(...), range(...), 'a' + 'b'), 6 are not (attribute
    access, a lambda, a global of the task's code): those are reported by name, and a literal equal to the
    gold passes."""
    records = load_records("cruxeval-i")
    literal = [r for r in records if _is_literal_call(r.meta["input"])]
    assert len(records) - len(literal) == 12
    names = ungraded_golds(records)
    assert names == ["sample_152", "sample_258", "sample_344", "sample_364", "sample_720", "sample_770"]
    assert ungraded_golds(load_records("cruxeval-o")) == []
    by_id = {r.id: r for r in records}
    v = grade_cruxeval_many([by_id["sample_152"], by_id["sample_770"], by_id["sample_344"]],
                            [answer("f('A' * 20)", by_id["sample_152"].meta["output"]),
                             answer("f('$78', '$')", by_id["sample_770"].meta["output"]),
                             answer(f"f({by_id['sample_344'].meta['input']})", by_id["sample_344"].meta["output"])])
    assert [x.correct for x in v] == [True, True, False], [x.reason for x in v]
    assert "Lambda is not allowed" in v[2].reason


def _is_literal_call(args: str) -> bool:
    call = ast.parse(f"f({args})", mode="eval").body
    try:
        for a in [*call.args, *(k.value for k in call.keywords)]:
            ast.literal_eval(a)
    except ValueError:
        return False
    return True


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
    ungraded = set(ungraded_golds(records_i))  # named in test_the_six_gold_inputs_that_are_not_values_are_named
    picks = rng.sample([k for k in range(len(records_o)) if records_i[k].id not in ungraded
                        and records_i[(k + 1) % len(records_i)].id not in ungraded], 24)
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
