"""Records carry the right categories: reasoning-gym's operation and source task, MATH's type and level, a user's
--category-column; a column that does not exist is a one-line error naming the file and the column."""

import json
import os
import re
from pathlib import Path

import pytest

from vigor.data import DataError, load_records
from vigor.data.procedural import ALIASES, reasoning_gym_records

SHARED = Path(os.environ.get("VIGOR_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize("split", ["train", "heldout"])
def test_single_digit_add_sub_operation(split):
    records = load_records("reasoning-gym:single_digit_add_sub", limit=100, split=split)
    for r in records:  # read back from the question text, independently of reasoning-gym's metadata
        a, op, b = re.fullmatch(r"Calculate (\d+) ([+-]) (\d+)\.", r.prompt).groups()
        assert r.categories == {"operation": {"+": "addition", "-": "subtraction"}[op]}, r.prompt
        assert int(r.answer) == (int(a) + int(b) if op == "+" else int(a) - int(b))
    assert {r.categories["operation"] for r in records} == {"addition", "subtraction"}


def test_the_miniature_heldout_set_is_62_additions_and_64_subtractions():
    # docs/results/miniature-compare.md's hand-written table counts these
    records = load_records("reasoning-gym:single_digit_add_sub", limit=126, split="heldout")
    operations = [r.categories["operation"] for r in records]
    assert (operations.count("addition"), operations.count("subtraction")) == (62, 64)


def test_composite_sets_carry_the_source_task(monkeypatch):
    from reasoning_gym.composite import DatasetSpec

    specs = [DatasetSpec("basic_arithmetic", 1.0, {}), DatasetSpec("chain_sum", 1.0, {})]
    monkeypatch.setitem(ALIASES, "two_tasks", ("composite", {"datasets": specs}))
    records = reasoning_gym_records("two_tasks", size=40, seed=3)
    tasks = [r.categories["task"] for r in records]
    assert set(tasks) == {"basic_arithmetic", "chain_sum"}
    for r, task in zip(records, tasks):  # basic_arithmetic asks "Calculate ...", chain_sum states a sum
        assert r.prompt.startswith("Calculate ") == (task == "basic_arithmetic"), (task, r.prompt)
    # a set of one task has no category to break down by
    assert all(r.categories == {} for r in reasoning_gym_records("basic_arithmetic", size=5, seed=0))


def test_math500_type_and_level():
    records = load_records("math500")
    rows = [json.loads(line) for line in (Path(__file__).resolve().parents[2] / "src/vigor/data/benchmarks/math500/"
                                          "test.jsonl").read_text().splitlines()]
    assert len(records) == len(rows) == 500
    for r, row in zip(records, rows):
        assert r.categories == {"type": row["subject"], "level": f"Level {row['level']}"}
    assert len({r.categories["type"] for r in records}) == 7


@pytest.mark.skipif(not (SHARED / "math_hendrycks").is_dir(), reason=f"MATH not found under {SHARED}")
def test_math_type_and_level_from_the_shared_file():
    path = SHARED / "math_hendrycks" / "test.jsonl"
    rows = [json.loads(line) for _, line in zip(range(300), path.open())]
    records = load_records(str(path), limit=300)
    assert [r.categories for r in records] == [{"type": row["type"], "level": row["level"]} for row in rows]
    assert all(re.fullmatch(r"Level \d", r.categories["level"]) for r in records)


def test_a_user_column(tmp_path):
    rows = [{"question": f"{i}+1?", "answer": str(i + 1), "topic": ["add", "sub", None][i % 3]} for i in range(7)]
    path = write_jsonl(tmp_path / "mine.jsonl", rows)
    records = load_records(str(path), category_column="topic")
    assert [r.categories for r in records] == [{"topic": ["add", "sub", "(none)"][i % 3]} for i in range(7)]
    # it replaces a format's own categories, for registered benchmarks too
    assert load_records("math500", limit=3, category_column="subject")[0].categories == {"subject": "Precalculus"}
    assert load_records(str(path))[0].categories == {}  # no column: no category


def test_a_missing_column_names_the_file_and_the_column(tmp_path):
    path = write_jsonl(tmp_path / "mine.jsonl", [{"question": "1+1?", "answer": "2"}])
    with pytest.raises(DataError) as err:
        load_records(str(path), category_column="topic")
    message = str(err.value)
    assert message.startswith(f"{path}: no column 'topic'") and "\n" not in message
    with pytest.raises(DataError, match=r"math500/test.jsonl: no column 'kind'"):
        load_records("math500", category_column="kind")
    with pytest.raises(DataError, match=r"minerva/test.jsonl: no column 'kind'"):  # a benchmark with its own reader
        load_records("minerva", category_column="kind")
    later = write_jsonl(tmp_path / "later.jsonl", [{"question": "1?", "answer": "1", "topic": "a"},
                                                   {"question": "2?", "answer": "2"}])
    with pytest.raises(DataError, match=r"later.jsonl:2: record has no 'topic' field"):
        load_records(str(later), category_column="topic")
    with pytest.raises(DataError, match="generated set has no columns"):
        load_records("reasoning-gym:single_digit_add_sub", limit=4, category_column="topic")
