"""`--suite math|code`: the paper's evaluation columns that run offline, and their averages.

The paper (VIGOR, Qwen2.5 base models trained on MATH) reports an average over its math columns and one over its
code columns. Its exact column list could not be checked offline; vigor uses every shipped column of each kind
(a benchmark's `suite` in vigor.data.benchmark_registry):
  math:  gsm8k, math500, aime24, aime25, amc23, minerva, olympiadbench
  code:  humaneval, mbpp, cruxeval-o, cruxeval-i
(LiveCodeBench, which INTUITOR reports, is not shipped.) A suite's average is the unweighted mean of its columns'
accuracies (each column counts once, whatever its size), as papers average benchmark columns.
Which average a benchmark kind counts in is its grader's `average` (`AVERAGED_AS`, vigor.evaluation.graders): a
shipped column's suite is that of its kind (tested), and `vigor compare` averages whatever benchmarks a study ran
the same way.
"""

from __future__ import annotations

from vigor.data.benchmark_registry import shipped, suite_columns
from vigor.evaluation.graders import GRADERS

AVERAGED_AS = {kind: g.average for kind, g in GRADERS.items() if g.average}  # grader kind -> the paper's average
COLUMNS = shipped()  # the registered benchmarks with a file, in the paper's order
SUITES = {suite: suite_columns(suite) for suite in ("math", "code")}


def suite_help() -> str:
    return ("the paper's columns that run offline, with their average: " +
            " or ".join(f"{suite} ({', '.join(columns)})" for suite, columns in SUITES.items()) +
            "; adds to --benchmark")


def suite_benchmarks(names: list[str]) -> list[str]:
    """The benchmarks of these suites, in order, each once; an unknown suite is a ValueError."""
    unknown = [n for n in names if n not in SUITES]
    if unknown:
        raise ValueError(f"--suite: unknown suite {unknown[0]!r}; choose from {', '.join(SUITES)}")
    return list(dict.fromkeys(b for n in names for b in SUITES[n]))


def suite_averages(summary: dict, names: list[str]) -> dict:
    """{suite: {"average": mean accuracy of its columns, "columns": {name: accuracy}}} for the suites whose
    columns are all in `summary`."""
    out = {}
    for name in names:
        columns = SUITES[name]
        if all(c in summary for c in columns):
            accuracies = {c: summary[c]["accuracy"] for c in columns}
            out[name] = {"average": sum(accuracies.values()) / len(columns), "columns": accuracies}
    return out


def averages_markdown(averages: dict, limit: int | None = None) -> str:
    note = f" (--limit {limit}: first {limit} problems of each column, not the paper's full sets)" if limit else ""
    return "".join(f"\n{name} average over {len(a['columns'])} columns ({', '.join(a['columns'])}): "
                   f"{100 * a['average']:.2f}{note}\n" for name, a in averages.items())
