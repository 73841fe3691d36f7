"""CRUXEval grading: read the predicted output (cruxeval-o) or input (cruxeval-i) from a completion, then execute.

Extraction follows the CRUXEval repository's chain-of-thought extractors (openai/openai_prompt.py): the text after
the first `[ANSWER]` (up to `[/ANSWER]`, where the harness stops generating); without tags, the last line that
has `assert` (the harness takes the last line). Then:
  output:  the part after the first `==`                          ("assert f(3) == 6"  -> "6")
  input:   the part before the first `==`, after `assert`         ("assert f(3) == 6"  -> "f(3)")
Added to the harness: code fences and backticks around the answer are dropped.
Validity, stricter than the harness: a prediction is a value, not code. Output: one expression that is a value
(`value_problem`: literals, containers, + - *, dict/list/tuple/set/frozenset/range; no attribute access, no other
names), so `6 or True`, `exec(...)` of the task's source or `f(<input>)` are fails with that reason. Input: a
call f(...) whose arguments are values, so no argument can rewrite f (`f.__code__ = ...`) or read the task's
globals. Parsing is `ast.parse`: nothing of it runs here.
Execution (vigor.evaluation.code.run_cruxeval_many): one sandbox evaluates the value before the benchmark's
code exists, then runs that (trusted) code and checks
  cruxeval-o:  f(<input>) == <predicted output>
  cruxeval-i:  f(<predicted arguments>) == <output>
"""

from __future__ import annotations

import ast
import re

from vigor.data.records import PromptRecord
from vigor.evaluation.grading import Verdict

_FENCE_LINE = re.compile(r"^\s*```[\w+-]*\s*$", re.MULTILINE)


def answer_block(completion: str) -> str:
    """The answer text: inside the first [ANSWER]...[/ANSWER], else the last line with `assert`, else the last line."""
    if "[ANSWER]" in completion:
        block = completion.split("[ANSWER]", 1)[1].split("[/ANSWER]", 1)[0]
    else:
        lines = [ln for ln in completion.strip().splitlines() if ln.strip()]
        asserts = [ln for ln in lines if "assert" in ln]
        block = (asserts or lines or [""])[-1]
    return _FENCE_LINE.sub("", block).strip().strip("`").strip()


def extract_prediction(completion: str, mode: str) -> str:
    """The predicted output literal (mode "output") or the call `f(...)` (mode "input"), as text."""
    if mode not in ("output", "input"):
        raise ValueError(f"extract_prediction: mode must be 'output' or 'input', got {mode!r}")
    block = answer_block(completion)
    if mode == "output":
        return (block.split("==", 1)[1] if "==" in block else block).strip()
    if "==" in block:
        block = block.split("==", 1)[0]
    if "assert" in block:
        block = block.split("assert", 1)[1]
    return block.strip()


# A prediction is a value, never code that runs: what ast.literal_eval reads, plus these constructors and + - *
# (12 of the 800 gold inputs of cruxeval-i are not literals; 6 of them are values so: `dict(e=1)`,
# `range(100, 120)`, `'a' + 'b'`; the other 6 are `ungraded_golds`).
# No attribute access, no subscripts, no lambdas, no other names: a value cannot reach f, its code or a module.
VALUE_NAMES = frozenset({"dict", "list", "tuple", "set", "frozenset", "range"})
_VALUE_NODES = (ast.Expression, ast.Constant, ast.Tuple, ast.List, ast.Set, ast.Dict, ast.UnaryOp, ast.UAdd,
                ast.USub, ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Call, ast.keyword, ast.Name, ast.Load)


def value_problem(node: ast.AST) -> str | None:
    """Why this expression is not a value (None when it is)."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and sub.id not in VALUE_NAMES:
            return f"uses the name {sub.id!r} (a value may only call {', '.join(sorted(VALUE_NAMES))})"
        if isinstance(sub, ast.Call) and not isinstance(sub.func, ast.Name):
            return "calls something that is not a name"
        if isinstance(sub, ast.keyword) and sub.arg is None:
            return "uses ** unpacking"
        if not isinstance(sub, _VALUE_NODES):
            return f"{type(sub).__name__} is not allowed in a value"
    return None


def _parse(prediction: str):
    try:
        return ast.parse(prediction, mode="eval"), None
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # MemoryError: the parser's own nesting limit
        return None, f"not a single Python expression: {prediction[:80]!r}"


def invalid_reason(prediction: str, record: PromptRecord) -> str | None:
    """Why the prediction is not a value that can be checked (None when it is). Output: a value. Input: a call
    f(...) whose arguments are values. Nothing of it runs here: it is only parsed."""
    if not prediction:
        return "no answer found"
    tree, problem = _parse(prediction)
    if problem:
        return problem
    if record.meta["cruxeval_mode"] == "input":
        call = tree.body
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "f"):
            return f"an input prediction must be a call f(...), got {prediction[:80]!r}"
        for arg in [*call.args, *call.keywords]:  # a keyword is walked before its value: `**` is named first
            problem = value_problem(arg)
            if problem:
                return f"an argument is not a value: {problem}: {prediction[:80]!r}"
        return None
    problem = value_problem(tree)
    return f"not a value: {problem}: {prediction[:80]!r}" if problem else None


def call_arguments(prediction: str) -> str:
    """`f(a, b, k=c)` (already valid) -> "((a, b,), {'k': c})": the arguments as one value expression."""
    call = ast.parse(prediction, mode="eval").body
    args = "".join(f"{ast.get_source_segment(prediction, a)}, " for a in call.args)
    kwargs = ", ".join(f"{k.arg!r}: {ast.get_source_segment(prediction, k.value)}" for k in call.keywords)
    return f"(({args}), {{{kwargs}}})"


def ungraded_golds(records: list[PromptRecord]) -> list[str]:
    """Ids whose own gold answer is not a value (cruxeval-i: 6 of 800 inputs use attribute access, a lambda or a
    global of the task's code): the benchmark's answer as written fails; a literal equal to it can still pass."""
    out = []
    for r in records:
        mode = r.meta["cruxeval_mode"]
        gold = f"f({r.meta['input']})" if mode == "input" else r.meta["output"]
        if invalid_reason(gold, r):
            out.append(r.id)
    return out


def grade_cruxeval_many(records: list[PromptRecord], completions: list[str], *, timeout_s: float = 5.0,
                        allow_weak: bool = False) -> list[Verdict]:
    from vigor.evaluation.code import run_cruxeval_many

    if len(records) != len(completions):
        raise ValueError(f"grade_cruxeval_many: {len(records)} records but {len(completions)} completions")
    predictions = [extract_prediction(c, r.meta["cruxeval_mode"]) for r, c in zip(records, completions)]
    verdicts: list = [None] * len(records)
    todo, checks = [], []
    for i, (record, prediction) in enumerate(zip(records, predictions)):
        problem = invalid_reason(prediction, record)
        if problem is not None:
            verdicts[i] = Verdict(False, prediction or None, f"invalid: {problem}")
            continue
        meta = record.meta
        value = prediction if meta["cruxeval_mode"] == "output" else call_arguments(prediction)
        checks.append((meta["cruxeval_mode"], meta["code"], meta["input"], meta["output"], value))
        todo.append(i)
    for i, (ok, reason) in zip(todo, run_cruxeval_many(checks, timeout_s=timeout_s, allow_weak=allow_weak)):
        verdicts[i] = Verdict(ok, predictions[i], reason)
    return verdicts
