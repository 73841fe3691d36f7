"""`vigor eval --suite`: the columns of each suite, their average, and the bad-input errors."""

import json

import pytest

from vigor.cli import main
from vigor.data import BENCHMARKS
from vigor.data.benchmark_registry import REGISTRY
from vigor.evaluation.evaluate import benchmark_records
from vigor.evaluation.suites import AVERAGED_AS, COLUMNS, SUITES, suite_averages, suite_benchmarks


def test_suites_name_shipped_benchmarks_and_average_them_unweighted():
    assert all(b in BENCHMARKS for names in SUITES.values() for b in names)
    assert set(COLUMNS) == set(BENCHMARKS)
    for name in BENCHMARKS:  # each shipped benchmark is in the suite its kind (as it is loaded) averages as
        kind = benchmark_records(name, limit=1)[1]
        assert kind == REGISTRY[name].grader, name
        assert [suite for suite, columns in SUITES.items() if name in columns] == \
            ([AVERAGED_AS[kind]] if kind in AVERAGED_AS else []), name
    assert suite_benchmarks(["code", "math", "code"]) == list(SUITES["code"]) + list(SUITES["math"])
    summary = {"humaneval": {"accuracy": 0.5, "n": 164}, "mbpp": {"accuracy": 0.25, "n": 500},
               "cruxeval-o": {"accuracy": 0.0, "n": 800}, "cruxeval-i": {"accuracy": 1.0, "n": 800},
               "gsm8k": {"accuracy": 0.9, "n": 1319}}
    averages = suite_averages(summary, ["code", "math"])
    assert list(averages) == ["code"]  # math's columns are not all there: no average
    assert averages["code"]["average"] == pytest.approx((0.5 + 0.25 + 0.0 + 1.0) / 4)


@pytest.mark.parametrize("args, message", [
    (["--suite", "maths"], "--suite: unknown suite 'maths'; choose from math, code"),
    (["--suite", "code", "--predictions", "p.jsonl"], "--predictions scores one benchmark at a time"),
])
def test_bad_suite_is_a_one_line_error_before_any_model_loads(tmp_path, capsys, args, message):
    assert main(["eval", "--model", str(tmp_path / "no-model"), *args, "--output-dir", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err


def test_code_suite_with_ifeval_runs_end_to_end_on_a_tiny_model(tmp_path, capsys):
    from vigor.tiny import char_tokenizer, tiny_causal_lm

    model = tmp_path / "tiny"
    tok = char_tokenizer()
    tiny_causal_lm("llama", vocab_size=len(tok), seed=0, max_positions=4096).save_pretrained(model)
    tok.save_pretrained(model)
    out = tmp_path / "out"
    assert main(["eval", "--model", str(model), "--suite", "code", "--benchmark", "ifeval", "--limit", "1",
                 "--max-new-tokens", "4", "--output-dir", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary) == [*SUITES["code"], "ifeval"]
    suites = json.loads((out / "suites.json").read_text())
    assert suites["limit"] == 1
    assert suites["code"]["average"] == pytest.approx(sum(summary[b]["accuracy"] for b in SUITES["code"]) / 4)
    printed = capsys.readouterr().out
    assert "code average over 4 columns (humaneval, mbpp, cruxeval-o, cruxeval-i)" in printed
    assert "ifeval: prompt-level strict" in printed
    row = json.loads((out / "cruxeval-o.samples.jsonl").read_text().splitlines()[0])
    assert "[PYTHON]" in row["prompt"] and row["gold"] == "[(4, 1), (4, 1), (4, 1), (4, 1), (2, 3), (2, 3)]"
