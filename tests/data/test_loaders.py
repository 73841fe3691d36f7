"""Loaders against the real benchmark files (shipped copies and ../shared/data) and malformed-record errors."""

import json
import os
from pathlib import Path

import pytest

from vigor.data import BENCHMARKS, DataError, load_records, read_rows
from vigor.data.benchmark_registry import BENCHMARK_DIR

SHARED = Path(os.environ.get("VIGOR_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"shared benchmark data not found at {SHARED}")

EXPECTED = {  # name: (count, first id, first gold answer)
    "gsm8k": (1319, "0", "18"),
    "math500": (500, "test/precalculus/807.json", "\\left( 3, \\frac{\\pi}{2} \\right)"),
    "aime24": (30, "0", "204"),
    "aime25": (30, "0", "70"),
    "amc23": (40, "0", "27"),
    "minerva": (272, "0", "1.6"),
    "olympiadbench": (675, "1606", "2"),
    "mbpp": (500, "11", None),
    "cruxeval-o": (800, "sample_0", "[(4, 1), (4, 1), (4, 1), (4, 1), (2, 3), (2, 3)]"),  # gold: the output
    "cruxeval-i": (800, "sample_0", "[1, 1, 3, 1, 3, 1]"),  # gold: the input
    "ifeval": (541, "1000", None),  # no gold: graded by the instructions' checkers
    "humaneval": (164, "HumanEval/0", None),
}


@pytest.mark.parametrize("name", BENCHMARKS)
def test_shipped_benchmark_loads(name):
    records = load_records(name)
    count, first_id, first_answer = EXPECTED[name]
    assert len(records) == count
    assert (records[0].id, records[0].answer) == (first_id, first_answer)
    assert len({r.id for r in records}) == count, "ids must be unique"
    assert all(r.source == name and r.prompt.strip() for r in records)
    if name in ("mbpp", "humaneval"):
        assert all(r.tests for r in records)
    elif name == "ifeval":
        assert all(r.meta["instruction_id_list"] for r in records)
    elif name.startswith("cruxeval"):  # a function of no arguments has the empty input ""
        assert all(r.answer is not None and "def f(" in r.meta["code"] for r in records)
    else:
        assert all(r.answer for r in records)


def test_gsm8k_answers_match_hash_marker():
    raw = [json.loads(line) for line in open(BENCHMARK_DIR / "gsm8k/test.jsonl")]
    records = load_records("gsm8k")
    assert [r.answer for r in records] == [row["answer"].split("####")[-1].strip().replace(",", "") for row in raw]
    assert [r.prompt for r in records] == [row["question"] for row in raw]


def test_math500_answer_is_last_boxed_of_solution():
    from vigor.evaluation.answers import last_boxed

    raw = [row for _, row in read_rows(BENCHMARK_DIR / "math500/test.jsonl")]
    assert [last_boxed(row["solution"]) for row in raw] == [row["answer"] for row in raw]
    # the loader's gold is that answer with thousands separators dropped ("58,500" -> "58500"), else unchanged
    assert [r.answer for r in load_records("math500")] == [row["answer"].replace("58,500", "58500") for row in raw]


def test_mbpp_and_humaneval_layouts():
    mbpp = {r.id: r for r in load_records("mbpp")}
    assert set(mbpp) == {str(i) for i in range(11, 511)}
    assert "Node(1)" in mbpp["367"].meta["test_setup_code"]
    assert mbpp["11"].tests.count("assert") == 3 and mbpp["11"].tests in mbpp["11"].prompt
    he = load_records("humaneval", limit=3)
    assert [r.entry_point for r in he] == ["has_close_elements", "separate_paren_groups", "truncate_number"]
    assert "def check(candidate)" in he[0].tests


@needs_shared
def test_shared_math_lighteval_layout():
    records = load_records(str(SHARED / "math_hendrycks/train.jsonl"))
    assert len(records) == 7500
    first = records[0]
    assert (first.id, first.answer, first.meta["type"], first.meta["level"]) == \
        ("train/algebra/0.json", "0", "Algebra", "Level 5")


@needs_shared
def test_shared_files_of_each_layout():
    gsm_train = load_records(str(SHARED / "gsm8k/train.jsonl"))
    assert len(gsm_train) == 7473 and gsm_train[0].answer == "72"
    qwen_gsm = load_records(str(SHARED / "qwen25_math_eval/gsm8k/test.jsonl"))
    assert [r.answer for r in qwen_gsm] == [r.answer for r in load_records("gsm8k")]
    prm = load_records(str(SHARED / "math_prm800k/test.jsonl"))
    assert [(r.id, r.answer) for r in prm] == [(r.id, r.answer) for r in load_records("math500")]
    sanitized = load_records(str(SHARED / "mbpp/sanitized-mbpp.json"))
    assert len(sanitized) == 427 and all(r.tests.startswith("assert") for r in sanitized)
    amc = load_records(str(SHARED / "qwen25_math_eval/amc23/test.jsonl"))
    assert [r.answer for r in amc][:4] == ["27", "36", "45", "3159"]


@pytest.fixture
def gsm_rows():
    return [row for _, row in read_rows(BENCHMARK_DIR / "gsm8k/test.jsonl")][:20]


def test_table_formats_give_the_same_records(tmp_path, gsm_rows):
    import datasets
    import pandas as pd

    df = pd.DataFrame(gsm_rows)
    df.to_csv(tmp_path / "g.csv", index=False)
    df.to_parquet(tmp_path / "g.parquet")
    (tmp_path / "g.json").write_text(json.dumps(gsm_rows))
    datasets.Dataset.from_list(gsm_rows).save_to_disk(str(tmp_path / "folder"))
    want = [(r.id, r.prompt, r.answer) for r in load_records("gsm8k", limit=20)]
    for name in ("g.csv", "g.parquet", "g.json", "folder"):
        got = [(r.id, r.prompt, r.answer) for r in load_records(str(tmp_path / name))]
        assert got == want, name


def test_prompt_and_answer_columns(tmp_path):
    path = tmp_path / "custom.jsonl"
    path.write_text('{"q": "1+1?", "gold": 2.0, "extra": "x"}\n{"q": "2+3?", "gold": "5"}\n')
    records = load_records(str(path), prompt_column="q", answer_column="gold")
    assert [(r.id, r.prompt, r.answer) for r in records] == [("0", "1+1?", "2"), ("1", "2+3?", "5")]
    assert records[0].meta == {"extra": "x"} and records[0].source.startswith("file:")
    with pytest.raises(DataError, match=r"custom.jsonl:1: cannot tell which column"):
        load_records(str(tmp_path / "custom.jsonl"))
    with pytest.raises(DataError, match=r"custom.jsonl:2: record has no 'extra' field"):
        load_records(str(path), prompt_column="extra")


@pytest.mark.parametrize("lines, message", [
    (['{"question": "a", "answer": "#### 1"}', '{"question": "b", "answer": "#### 2"}', '{"question": "c",'],
     r"bad.jsonl:3: invalid JSON"),
    (['{"question": "a", "answer": "#### 1"}', '{"question": "b", "answer": "no marker"}'],
     r"bad.jsonl:2: GSM8K 'answer' does not end with '#### <final answer>'"),
    (['{"problem": "p", "solution": "the answer is 3"}'], r"bad.jsonl:1: 'solution' has no \\boxed"),
    (['{"problem": "p", "answer": "1"}', '[1, 2]'], r"bad.jsonl:2: expected a JSON object"),
    (['{"problem": "", "answer": "1"}'], r"bad.jsonl:1: empty or non-text prompt"),
    (['{"text": "t", "code": "c", "test_list": []}'], r"bad.jsonl:1: 'test_list' must be a non-empty list"),
])
def test_malformed_record_names_file_and_line(tmp_path, lines, message):
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=message):
        load_records(str(path))


def test_bad_sources(tmp_path, monkeypatch):
    with pytest.raises(DataError, match="no such file"):
        load_records(str(tmp_path / "missing.jsonl"))
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(DataError, match="unsupported file type"):
        load_records(str(tmp_path / "x.txt"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataError, match="hub is offline"):
        load_records("someone/some-dataset")
    with pytest.raises(DataError, match="needs a size"):
        load_records("gsm_symbolic")
