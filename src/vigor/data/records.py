"""Prompt records and the raw readers for JSONL / JSON / CSV / Parquet files and saved HF dataset folders.

Every reader yields `(line, row)` so that a malformed record can be reported as `FILE:LINE: what is wrong`
(line is 1-based in the file for JSONL/CSV, the 1-based element/row index for JSON arrays and Parquet/HF folders).
"""

from __future__ import annotations

import csv
import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator


class DataError(ValueError):
    """A data source is missing or malformed; the message names the file (and line) and what is wrong."""


@dataclass
class PromptRecord:
    id: str                          # benchmark's own id (task_id / unique_id / line number from 0, as str)
    prompt: str                      # the problem text, no template applied
    answer: str | None = None        # gold final answer (math), normalised string
    tests: str | None = None         # code: test program text (asserts / HumanEval `check`)
    entry_point: str | None = None   # code: function name (HumanEval)
    source: str = ""                 # e.g. "gsm8k", "math500", "file:/path"
    meta: dict = field(default_factory=dict)


TABLE_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".csv", ".parquet")


def read_rows(path: str | Path, split: str | None = None) -> Iterator[tuple[int, dict]]:
    """Yield (line, row dict) from a JSONL(.gz), JSON (array, or {"data"/"rows": [...]}), CSV or Parquet file,
    or a folder written by `datasets.Dataset.save_to_disk`."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    name = path.name.lower()
    if path.is_dir():
        yield from _read_hf_folder(path, split)
    elif name.endswith((".jsonl", ".jsonl.gz")):
        opener = gzip.open if name.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as f:
            for line_no, line in enumerate(f, start=1):
                if not line.strip():
                    continue  # a trailing blank line is not a record
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as err:
                    raise DataError(f"{path}:{line_no}: invalid JSON ({err.msg} at column {err.colno})") from None
                yield line_no, _as_dict(row, path, line_no)
    elif name.endswith(".json"):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise DataError(f"{path}:{err.lineno}: invalid JSON ({err.msg} at column {err.colno})") from None
        if isinstance(data, dict):
            data = next((data[k] for k in ("data", "rows", "records", "examples") if isinstance(data.get(k), list)), None)
        if not isinstance(data, list):
            raise DataError(f"{path}: expected a JSON array of records (or an object with a 'data' list)")
        for i, row in enumerate(data, start=1):
            yield i, _as_dict(row, path, i, unit="element")
    elif name.endswith(".csv"):
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            for row in reader:
                yield reader.line_num, dict(row)
    elif name.endswith(".parquet"):
        import pyarrow.parquet as pq

        for i, row in enumerate(pq.read_table(path).to_pylist(), start=1):
            yield i, row
    else:
        raise DataError(f"{path}: unsupported file type; use one of {', '.join(TABLE_SUFFIXES)} "
                        "or a folder saved with datasets.save_to_disk")


def _read_hf_folder(path: Path, split: str | None) -> Iterator[tuple[int, dict]]:
    import datasets

    if not ((path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists()):
        raise DataError(f"{path}: a folder must be a Hugging Face dataset saved with save_to_disk "
                        "(no dataset_info.json or dataset_dict.json inside)")
    ds = datasets.load_from_disk(str(path))
    if isinstance(ds, datasets.DatasetDict):
        if split is None and len(ds) == 1:
            split = next(iter(ds))
        if split not in ds:
            raise DataError(f"{path}: holds splits {list(ds)}; pass split=... (--split) to pick one")
        ds = ds[split]
    for i, row in enumerate(ds, start=1):
        yield i, row


def _as_dict(row, path, line_no, unit="line"):
    if not isinstance(row, dict):
        where = f"{path}:{line_no}" if unit == "line" else f"{path}: element {line_no}"
        raise DataError(f"{where}: expected a JSON object, got {type(row).__name__}")
    return row
