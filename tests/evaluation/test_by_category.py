"""`vigor eval` breaks accuracy down by category: counts equal a by-hand count, intervals equal a written-out
bootstrap over problems; a --category-column that does not exist is a one-line error with no output folder."""

import json

import numpy as np
import pytest

from vigor.analysis.stats import bootstrap_ci
from vigor.cli import main
from vigor.data import load_records
from vigor.evaluation.breakdown import RESAMPLES, accuracy_ci

ADD_SUB = "reasoning-gym:single_digit_add_sub"


def loop_interval(values, resamples=RESAMPLES, seed=0):
    """Percentile bootstrap of the mean over problems, written out."""
    rng = np.random.default_rng(seed)
    n = len(values)
    draws = []
    for _ in range(resamples):
        picks = rng.integers(0, n, n)
        draws.append(sum(values[int(p)] for p in picks) / n)
    return tuple(np.percentile(draws, [2.5, 97.5]))


@pytest.mark.parametrize("trial", range(3))
def test_accuracy_ci_is_the_bootstrap_over_problems(trial, fresh_seed):
    rng = np.random.default_rng([fresh_seed, trial])
    n, samples = int(rng.integers(2, 40)), int(rng.integers(1, 4))
    per_problem = (rng.uniform(size=(n, samples)) < rng.uniform()).mean(1)
    got = accuracy_ci(per_problem)
    assert got == pytest.approx(loop_interval(list(per_problem)), abs=1e-12), (n, samples)
    # the compare report's interval: the same draws, means summed in another order (vectorised), so equal up to
    # rounding (seed 925962396 drew 0.2875000000000065 against 0.28749999999999026)
    assert got == pytest.approx(bootstrap_ci(lambda idx: per_problem[idx].mean(), n, resamples=RESAMPLES), abs=1e-12)
    assert np.isnan(accuracy_ci(per_problem[:1])).all()


def test_eval_by_category_on_predictions(tmp_path, fresh_seed, capsys):
    records = load_records(ADD_SUB, limit=40, split="heldout")
    rng = np.random.default_rng(fresh_seed)
    right = rng.uniform(size=(40, 2)) < 0.6
    rows = [{"id": r.id, "completion": f"The answer is {r.answer if ok else int(r.answer) + 1}."}
            for r, oks in zip(records, right) for ok in oks]
    predictions = tmp_path / "predictions.jsonl"
    predictions.write_text("".join(json.dumps(row) + "\n" for row in rows))
    out = tmp_path / "out"
    assert main(["eval", "--benchmark", ADD_SUB, "--limit", "40", "--predictions", str(predictions),
                 "--output-dir", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())[ADD_SUB]
    assert summary["accuracy"] == pytest.approx(right.mean())  # the overall number is unchanged
    by_operation = summary["by_category"]["operation"]
    assert list(by_operation) == ["addition", "subtraction"]
    for operation, got in by_operation.items():
        mine = [i for i, r in enumerate(records) if ("+" in r.prompt) == (operation == "addition")]
        assert got["n"] == len(mine) and got["samples"] == 2 * len(mine)
        assert got["accuracy"] == pytest.approx(sum(int(right[i, k]) for i in mine for k in range(2)) / (2 * len(mine)))
        assert got["ci95"] == pytest.approx(loop_interval([right[i].mean() for i in mine]), abs=1e-12)
    samples = [json.loads(line) for line in next(out.glob("*.samples.jsonl")).read_text().splitlines()]
    assert [s["categories"]["operation"] for s in samples[::2]] == \
        ["addition" if "+" in r.prompt else "subtraction" for r in records]
    table = (out / "results.md").read_text()
    add = by_operation["addition"]
    assert (f"| {ADD_SUB} | operation: addition | {add['n']} | {100 * add['accuracy']:.2f} | "
            f"[{100 * add['ci95'][0]:.2f}, {100 * add['ci95'][1]:.2f}] |") in table
    assert table == capsys.readouterr().out


def test_a_user_column_in_eval(tmp_path):
    topics = ["geometry", "algebra", "algebra", "geometry", "algebra"]
    data = tmp_path / "mine.jsonl"
    data.write_text("".join(json.dumps({"question": f"{i} + 1?", "answer": str(i + 1), "topic": t}) + "\n"
                            for i, t in enumerate(topics)))
    predictions = tmp_path / "p.jsonl"
    given = [1, 2, 9, 4, 9]  # right, right, wrong, right, wrong
    predictions.write_text("".join(json.dumps({"id": str(i), "completion": f"#### {g}"}) + "\n"
                                   for i, g in enumerate(given)))
    out = tmp_path / "out"
    assert main(["eval", "--benchmark", str(data), "--predictions", str(predictions), "--category-column", "topic",
                 "--output-dir", str(out)]) == 0
    topic = json.loads((out / "summary.json").read_text())[str(data)]["by_category"]["topic"]
    assert {k: (v["n"], v["accuracy"]) for k, v in topic.items()} == {"algebra": (3, pytest.approx(1 / 3)),
                                                                      "geometry": (2, 1.0)}


def test_a_missing_category_column_is_a_one_line_error(tmp_path, capsys):
    data = tmp_path / "mine.jsonl"
    data.write_text(json.dumps({"question": "1 + 1?", "answer": "2"}) + "\n")
    out = tmp_path / "out"
    for extra in (["--predictions", str(data)], ["--model"], ["--checkpoints", str(tmp_path)]):
        assert main(["eval", "--benchmark", str(data), "--category-column", "topic", "--output-dir", str(out),
                     *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and f"{data}: no column 'topic'" in err, err
        assert not out.exists()
