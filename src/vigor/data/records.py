"""Prompt records and the raw readers for JSONL / JSON / CSV / Parquet files and saved HF dataset folders.

Every reader yields `(line, row)` so that a malformed record can be reported as `FILE:LINE: what is wrong`
(line is 1-based in the file for JSONL/CSV, the 1-based element/row index for JSON arrays and Parquet/HF folders).
A file that cannot be read at all (bytes that are not UTF-8, a `.gz` that is not gzip or is cut short, a
truncated Parquet file, an oversized CSV field) is a one-line DataError naming the file and where it failed.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator


class DataError(ValueError):
    """A data source is missing or malformed; the message names the file (and line) and what is wrong."""


@dataclass
class PromptRecord:
    id: str                          # benchmark's own id (task_id / unique_id / line number from 0, as str)
    prompt: str                      # the problem text, no template applied (conversations: the last user turn)
    answer: str | None = None        # gold final answer (math), normalised string
    tests: str | None = None         # code: test program text (asserts / HumanEval `check`)
    entry_point: str | None = None   # code: function name (HumanEval)
    source: str = ""                 # e.g. "gsm8k", "math500", "file:/path"
    meta: dict = field(default_factory=dict)
    messages: list[dict] | None = None  # a chat prompt as given ([{role, content}, ...]), templated as is
    where: str = ""                  # "FILE:LINE" of the row, for error messages
    # facet -> value, e.g. {"type": "Algebra", "level": "Level 3"} (MATH), {"operation": "subtraction"}
    # (reasoning-gym), {COLUMN: value} (--category-column); results are broken down by each facet
    categories: dict[str, str] = field(default_factory=dict)


def column_category(row: dict, column: str, *, at: str, where: str, first: bool) -> dict[str, str]:
    """{column: the row's value} for a user's --category-column. A column the first row lacks names the file
    (the column does not exist); a later row without it names that row. An empty cell is "(none)"."""
    if column not in row:
        if first:
            raise DataError(f"{where}: no column {column!r} for the category (--category-column); "
                            f"columns: {sorted(row)}")
        raise DataError(f"{at}: record has no {column!r} field (the --category-column)")
    value = row[column]
    return {column: "(none)" if value is None or str(value).strip() == "" else str(value)}


TABLE_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".json.gz", ".csv", ".csv.gz", ".parquet")

# The csv module refuses fields over 128 KiB by default. A prompt of a million tokens is ~4 M characters, so
# 16 Mi characters leaves room for any real field, while an unclosed quote (which turns the rest of the file
# into one field) still stops with a clear error instead of reading gigabytes into memory.
CSV_FIELD_LIMIT = 16 * 2**20


def read_rows(path: str | Path, split: str | None = None) -> Iterator[tuple[int, dict]]:
    """Yield (line, row dict) from a JSONL, JSON (array, or {"data"/"rows": [...]}) or CSV file (each optionally
    gzip-compressed, `.gz`), a Parquet file, or a folder written by `datasets.Dataset.save_to_disk`."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    name = path.name.lower()
    text_kind = name.removesuffix(".gz")  # .jsonl/.json/.csv, read through gzip when compressed
    if path.is_dir():
        yield from _read_hf_folder(path, split)
    elif text_kind.endswith(".jsonl"):
        for line_no, line in text_lines(path):
            if not line.strip():
                continue  # a trailing blank line is not a record
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"{path}:{line_no}: invalid JSON ({err.msg} at column {err.colno})") from None
            yield line_no, _as_dict(row, path, line_no)
    elif text_kind.endswith(".json"):
        text = "".join(line for _, line in text_lines(path))
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise DataError(f"{path}:{err.lineno}: invalid JSON ({err.msg} at column {err.colno})") from None
        if isinstance(data, dict):
            data = next((data[k] for k in ("data", "rows", "records", "examples") if isinstance(data.get(k), list)), None)
        if not isinstance(data, list):
            raise DataError(f"{path}: expected a JSON array of records (or an object with a 'data' list)")
        for i, row in enumerate(data, start=1):
            yield i, _as_dict(row, path, i, unit="element")
    elif text_kind.endswith(".csv"):
        yield from _read_csv(path)
    elif name.endswith(".parquet"):
        yield from _read_parquet(path)
    else:
        raise DataError(f"{path}: unsupported file type; use one of {', '.join(TABLE_SUFFIXES)} "
                        "or a folder saved with datasets.save_to_disk")


def text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(1-based line number, line with its newline) of a UTF-8 text file, gunzipped when the name ends in .gz.
    A leading byte-order mark is dropped. Bytes that are not UTF-8 name the line and the byte offset (in the
    decompressed data for .gz); a .gz that is not gzip, or is truncated or corrupt, is a DataError too."""
    compressed = path.name.lower().endswith(".gz")
    offset, line_no = 0, 0
    try:
        with (gzip.open(path, "rb") if compressed else open(path, "rb")) as f:
            for line_no, raw in enumerate(f, start=1):
                start = len(codecs.BOM_UTF8) if line_no == 1 and raw.startswith(codecs.BOM_UTF8) else 0
                try:
                    text = raw[start:].decode("utf-8")
                except UnicodeDecodeError as err:
                    at = offset + start + err.start
                    raise DataError(f"{path}:{line_no}: not UTF-8 text: byte 0x{raw[start + err.start]:02x} at byte "
                                    f"offset {at}{' of the decompressed data' if compressed else ''} "
                                    "(re-save the file as UTF-8)") from None
                offset += len(raw)
                yield line_no, text
    except gzip.BadGzipFile as err:
        raise DataError(f"{path}: not a gzip file although the name ends in .gz ({err})") from None
    except (EOFError, zlib.error) as err:
        raise DataError(f"{path}: gzip data truncated or corrupt after line {line_no} ({err})") from None
    except OSError as err:
        raise DataError(f"{path}: cannot read: {err.strerror or err}") from None


def _read_csv(path: Path) -> Iterator[tuple[int, dict]]:
    previous_limit = csv.field_size_limit(CSV_FIELD_LIMIT)
    # csv reads any iterable of lines that keep their line endings (as open(newline="") gives them)
    reader = csv.DictReader(line for _, line in text_lines(path))
    try:
        for row in reader:
            if None in row:  # DictReader files the cells past the header under the key None
                raise DataError(f"{path}:{reader.line_num}: {len(reader.fieldnames) + len(row[None])} fields, but the "
                                f"header has {len(reader.fieldnames)}")
            yield reader.line_num, dict(row)
    except csv.Error as err:
        if "field larger than field limit" in str(err):
            raise DataError(f"{path}:{reader.line_num}: a CSV field is longer than {CSV_FIELD_LIMIT:,} characters "
                            "(an unclosed quote? no prompt or answer is that long)") from None
        raise DataError(f"{path}:{reader.line_num}: invalid CSV ({err})") from None
    finally:
        csv.field_size_limit(previous_limit)


def _read_parquet(path: Path) -> Iterator[tuple[int, dict]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        rows = pq.read_table(path).to_pylist()
    except (pa.ArrowException, OSError, UnicodeDecodeError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(f"{path}: not a readable Parquet file (truncated or not Parquet?): {reason}") from None
    yield from enumerate(rows, start=1)


def _read_hf_folder(path: Path, split: str | None) -> Iterator[tuple[int, dict]]:
    import datasets

    if not ((path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists()):
        raise DataError(f"{path}: a folder must be a Hugging Face dataset saved with save_to_disk "
                        "(no dataset_info.json or dataset_dict.json inside)")
    import pyarrow as pa

    try:
        ds = datasets.load_from_disk(str(path))
    except (OSError, ValueError, pa.ArrowException) as err:  # a truncated or corrupt .arrow file, a bad state.json
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(f"{path}: not a readable saved dataset: {reason}") from None
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
