"""`--category-column` in training: the column's values reach the training dataset (one JSON string a row, which
the premise monitor reads back per group), and a column that does not exist is a one-line error naming the file
and the column before the model loads, with no output folder left."""

import json
import os
import subprocess
import sys

from tests.training.training_helpers import as_cli_args, tiny_run_options


def write_rows(path, rows):
    with open(path, "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    return str(path)


def test_the_column_reaches_the_training_dataset(tiny_model_dir, tmp_path):
    from vigor.training import VigorGRPOConfig
    from vigor.training.assembly import build_dataset
    from vigor.training.preflight import check_before_loading
    from vigor.training.premise import CATEGORY_COLUMN

    rows = [{"problem": f"{i}+{i}=", "answer": str(2 * i), "topic": "even" if i % 2 == 0 else "odd"} for i in range(8)]
    data = write_rows(tmp_path / "rows.jsonl", rows)
    config = VigorGRPOConfig(**tiny_run_options(tiny_model_dir, data, tmp_path / "out", category_column="topic"))
    checked = check_before_loading(config)
    dataset = build_dataset(checked.records, checked.prompts)
    by_prompt = {r["problem"]: r["topic"] for r in rows}
    for record, row in zip(checked.records, dataset):
        assert json.loads(row[CATEGORY_COLUMN]) == {"topic": by_prompt[record.prompt]}


def test_no_categories_no_column(tiny_model_dir, prompts_file, tmp_path):
    from vigor.training import VigorGRPOConfig
    from vigor.training.assembly import build_dataset
    from vigor.training.preflight import check_before_loading
    from vigor.training.premise import CATEGORY_COLUMN

    checked = check_before_loading(VigorGRPOConfig(**tiny_run_options(tiny_model_dir, prompts_file, tmp_path / "o")))
    assert CATEGORY_COLUMN not in build_dataset(checked.records, checked.prompts).column_names


def test_a_missing_column_is_one_line_before_loading(tiny_model_dir, prompts_file, tmp_path):
    out = tmp_path / "out"
    options = tiny_run_options(tiny_model_dir, prompts_file, out, category_column="topic")
    result = subprocess.run([sys.executable, "-m", "vigor.cli", "train", *as_cli_args(options)],
                            capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert "topic" in last and "sums.jsonl" in last, result.stderr[-2000:]
    assert not out.exists()
