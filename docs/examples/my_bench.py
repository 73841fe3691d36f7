"""A benchmark of your own, in one file: unit conversions, read from my_bench.jsonl next to this file.

    vigor eval --benchmark docs/examples/my_bench.py:MyBench --model MODEL
    vigor eval --benchmark docs/examples/my_bench.py:MyBench --predictions docs/examples/my_bench_predictions.jsonl
    vigor train --eval-benchmark docs/examples/my_bench.py:MyBench ...
"""

from vigor.data import Benchmark, DataError, PromptRecord


def conversion(row: dict, at: str) -> PromptRecord:
    """One row {"id", "quantity", "unit", "value"} -> the problem and its gold answer; `at` is "FILE:LINE"."""
    if not isinstance(row["value"], (int, float)):
        raise DataError(f"{at}: 'value' must be a number, got {row['value']!r:.40}")
    prompt = f"Convert {row['quantity']} to {row['unit']}. Give the number alone."
    return PromptRecord(str(row["id"]), prompt, answer=str(row["value"]))


MyBench = Benchmark(
    "unit-conversions",
    "five unit conversions (an example of a benchmark in one file)",
    file="my_bench.jsonl",            # relative: read next to this file
    reader=conversion,
    needs=("id", "quantity", "unit", "value"),
    described=("'quantity' and 'unit'", "'value'"),
    grader="math",                    # a kind of vigor.evaluation.graders.GRADERS
    answer_style="boxed",             # only the last \boxed{} counts
)
