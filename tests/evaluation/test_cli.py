"""`vigor eval` end to end: scoring predictions files (math and code) and generating with a saved tiny model."""

import json

import pytest

from vigor.cli import main
from vigor.data import load_records
from vigor.evaluation.passk import pass_at_k


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def read_summary(out):
    return json.loads((out / "summary.json").read_text())


def test_score_math_predictions(tmp_path, capsys):
    gold = [r.answer for r in load_records("gsm8k", limit=6)]
    right = [True, True, False, True, False, True, True, False, True, True, True, True]  # 2 samples per problem
    rows = []
    for i in range(12):
        answer = gold[i // 2] if right[i] else str(int(gold[i // 2]) + 1)
        rows.append({"id": i // 2, "completion": f"Reasoning...\n#### {int(answer):,}"})
    preds = write_jsonl(tmp_path / "preds.jsonl", rows)
    out = tmp_path / "out"
    assert main(["eval", "--benchmark", "gsm8k", "--predictions", str(preds), "--limit", "6",
                 "--output-dir", str(out)]) == 0
    summary = read_summary(out)["gsm8k"]
    correct_per_problem = [right[2 * j] + right[2 * j + 1] for j in range(6)]
    assert summary["accuracy"] == pytest.approx(9 / 12)
    assert (summary["n"], summary["samples"]) == (6, 2)
    assert summary["pass@k"]["2"] == pytest.approx(sum(pass_at_k(2, c, 2) for c in correct_per_problem) / 6)
    samples = [json.loads(line) for line in (out / "gsm8k.samples.jsonl").read_text().splitlines()]
    assert len(samples) == 12 and [s["correct"] for s in samples] == right
    assert set(samples[0]) == {"id", "sample", "prompt", "completion", "extracted", "gold", "correct", "reason"}
    table = (out / "results.md").read_text()
    assert "| gsm8k | 6 | 2 | 75.00 |" in table and table == capsys.readouterr().out


def test_score_code_predictions(tmp_path):
    he = load_records("humaneval", limit=4)
    completions = [r.meta["canonical_solution"] for r in he]
    completions[2] = "    return None\n"
    preds = write_jsonl(tmp_path / "he.jsonl", [{"id": r.id, "completion": c} for r, c in zip(he, completions)])
    assert main(["eval", "--benchmark", "humaneval", "--predictions", str(preds), "--limit", "4",
                 "--output-dir", str(tmp_path / "he")]) == 0
    assert read_summary(tmp_path / "he")["humaneval"]["accuracy"] == pytest.approx(0.75)
    mbpp = load_records("mbpp", limit=2)
    preds = write_jsonl(tmp_path / "mbpp.jsonl", [{"id": int(r.id), "completion": r.meta["reference_code"]}
                                                  for r in mbpp])
    assert main(["eval", "--benchmark", "mbpp", "--predictions", str(preds), "--limit", "2",
                 "--output-dir", str(tmp_path / "mbpp")]) == 0
    assert read_summary(tmp_path / "mbpp")["mbpp"]["accuracy"] == 1.0


@pytest.mark.parametrize("rows, args, message", [
    ([{"id": 0, "completion": "1"}, {"id": 1}], [], r"preds.jsonl:2: a prediction needs 'id' and 'completion'"),
    ([{"id": 0, "completion": "1"}, {"id": 99, "completion": "1"}], [], r"preds.jsonl:2: id '99' is not in"),
    ([{"id": 0, "completion": "1"}], [], r"no completion for 1 of 2 problems"),
    ([{"id": 0, "completion": "1"}, {"id": 1, "completion": "1"}], ["--benchmark", "aime24"],
     r"--predictions scores one benchmark at a time"),
])
def test_bad_predictions_are_one_line_usage_errors(tmp_path, capsys, rows, args, message):
    preds = write_jsonl(tmp_path / "preds.jsonl", rows)
    code = main(["eval", "--benchmark", "gsm8k", *args, "--predictions", str(preds), "--limit", "2",
                 "--output-dir", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert __import__("re").search(message, err), err
    assert not (tmp_path / "out" / "summary.json").exists()


def test_unknown_benchmark_fails_before_loading_a_model(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["eval", "--model", str(tmp_path / "no-model"), "--benchmark", "gsm8k,nosuchbench",
                 "--output-dir", str(tmp_path)]) == 2
    assert "'nosuchbench' is not a shipped benchmark" in capsys.readouterr().err


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    from vigor.tiny import char_tokenizer, tiny_causal_lm

    folder = tmp_path_factory.mktemp("tiny-model")
    tok = char_tokenizer()
    tiny_causal_lm("llama", vocab_size=len(tok), seed=0, max_positions=1024).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def test_generate_and_score_several_benchmarks(tmp_path, tiny_model_dir):
    custom = write_jsonl(tmp_path / "mine.jsonl", [{"question": "1+1?", "answer": "2"}, {"question": "2+2?", "answer": "4"}])
    out = tmp_path / "out"
    assert main(["eval", "--model", str(tiny_model_dir), "--benchmark", "gsm8k", f"aime24,{custom}", "--limit", "2",
                 "--max-new-tokens", "6", "--samples", "2", "--temperature", "0.8", "--output-dir", str(out)]) == 0
    summary = read_summary(out)
    assert list(summary) == ["gsm8k", "aime24", str(custom)]
    for s in summary.values():
        assert (s["n"], s["samples"], sorted(s["pass@k"])) == (2, 2, ["1", "2"])
        assert 0.0 <= s["accuracy"] <= 1.0
    lines = (out / "results.md").read_text().splitlines()
    assert len(lines) == 5 and lines[0].startswith("| benchmark | n | samples | accuracy | pass@1 | pass@2 |")
    rows = [json.loads(line) for line in (out / "mine.samples.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and rows[0]["prompt"].startswith("<|im_start|>system\nLet's think step by step")


def test_generate_defaults_and_code(tmp_path, tiny_model_dir, capsys):
    out = tmp_path / "out"
    assert main(["eval", "--model", str(tiny_model_dir), "--limit", "2", "--max-new-tokens", "4",
                 "--output-dir", str(out), "--no-progress"]) == 0  # no --benchmark: the reasoning-gym held-out set
    assert read_summary(out)["gsm_symbolic"]["n"] == 2
    assert "problem/s" not in capsys.readouterr().err  # --no-progress: no bar
    assert main(["eval", "--model", str(tiny_model_dir), "--benchmark", "humaneval", "--limit", "1",
                 "--max-new-tokens", "4", "--output-dir", str(out)]) == 0
    row = json.loads((out / "humaneval.samples.jsonl").read_text())
    assert row["prompt"] == load_records("humaneval", limit=1)[0].prompt  # code continues the raw prompt
    assert row["correct"] is False and row["reason"].startswith("failed")


def test_code_benchmark_without_isolation_is_a_usage_error(tmp_path, capsys, monkeypatch):
    he = load_records("humaneval", limit=1)
    preds = write_jsonl(tmp_path / "he.jsonl", [{"id": he[0].id, "completion": he[0].meta["canonical_solution"]}])
    monkeypatch.setenv("VIGOR_SANDBOX_FORCE_WEAK", "1")  # the sandbox's own switch: act as if isolation failed
    args = ["eval", "--benchmark", "humaneval", "--predictions", str(preds), "--limit", "1",
            "--output-dir", str(tmp_path / "out")]
    assert main(args) == 2
    assert "--allow-weak-sandbox" in capsys.readouterr().err
    with pytest.warns(RuntimeWarning, match="weak mode"):
        assert main(args + ["--allow-weak-sandbox"]) == 0
    assert read_summary(tmp_path / "out")["humaneval"]["accuracy"] == 1.0


def test_score_a_file_benchmark_with_named_columns(tmp_path):
    bench = write_jsonl(tmp_path / "bench.jsonl", [{"q": "half of 1?", "gold": "\\frac{1}{2}"}, {"q": "2+2?", "gold": 4}])
    preds = write_jsonl(tmp_path / "preds.jsonl", [{"id": 0, "completion": "\\boxed{0.5}"},
                                                   {"id": 1, "completion": "\\boxed{5}"}])
    args = ["eval", "--benchmark", str(bench), "--predictions", str(preds), "--output-dir", str(tmp_path / "out")]
    assert main(args) == 2  # no known layout and no --prompt-column
    assert main(args + ["--prompt-column", "q", "--answer-column", "gold"]) == 0
    assert read_summary(tmp_path / "out")[str(bench)]["accuracy"] == 0.5
