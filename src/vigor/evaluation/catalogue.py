"""What the registries say to people: `vigor eval --benchmark`'s help and the README's benchmark table, both
rendered from `vigor.data.benchmark_registry` (tests/evaluation/test_benchmark_registry.py checks the README)."""

from __future__ import annotations

from vigor.data.benchmark_registry import REGISTRY, shipped
from vigor.evaluation.evaluate import DEFAULT_BENCHMARK, PROCEDURAL_EVAL_SIZE

README_BEGIN = "<!-- benchmark table: generated from vigor.data.benchmark_registry (catalogue.benchmark_table) -->"
README_END = "<!-- end of benchmark table -->"


def benchmark_help() -> str:
    own = [n for n, b in REGISTRY.items() if b.own_file_ok]
    generated = [n for n, b in REGISTRY.items() if b.generator is not None]
    return (f"{', '.join(shipped())} (also NAME:FILE for {', '.join(own)}), {' or '.join(generated)} or "
            f"reasoning-gym:NAME (held-out split, {PROCEDURAL_EVAL_SIZE} problems unless --limit), your own "
            "Benchmark as PATH.py:NAME, or a .jsonl/.json/.csv/.parquet file or dataset folder; several: space or "
            f"comma separated (default: {DEFAULT_BENCHMARK})")


def benchmark_table() -> str:
    """The README's table: one row per registered benchmark."""
    lines = ["| benchmark | what it is | graded by | suite | answer read from | own file (`NAME:FILE`) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for name, b in REGISTRY.items():
        answer = {"boxed": "last `\\boxed{}`", "auto": "last `\\boxed{}`, `####`, last number"}[b.answer_style]
        answer = answer if b.grader == "math" else "its grader"
        lines.append(f"| `{name}` | {b.help} | {b.grader} | {b.suite or ''} | {answer} | "
                     f"{'yes' if b.own_file_ok else ''} |")
    return "\n".join(lines) + "\n"


def readme_table(readme_text: str) -> str:
    """The table between the README's markers (what `benchmark_table` must equal)."""
    start = readme_text.index(README_BEGIN) + len(README_BEGIN) + 1
    return readme_text[start:readme_text.index(README_END, start)]


def with_table(readme_text: str) -> str:
    """The README with its benchmark table re-rendered from the registry."""
    old = readme_table(readme_text)
    start = readme_text.index(README_BEGIN)
    return readme_text[:start] + readme_text[start:].replace(old, benchmark_table(), 1)


if __name__ == "__main__":  # after registering a benchmark: python -m vigor.evaluation.catalogue README.md
    import sys
    from pathlib import Path

    readme = Path(sys.argv[1])
    readme.write_text(with_table(readme.read_text()))
