"""CRUXEval grading: read the predicted output (cruxeval-o) or input (cruxeval-i) from a completion, then execute.

Extraction follows the CRUXEval repository's chain-of-thought extractors (openai/openai_prompt.py): the text after
the first `[ANSWER]` (up to `[/ANSWER]`, where the harness stops generating); without tags, the last line that
has `assert` (the harness takes the last line). Then:
  output:  the part after the first `==`                          ("assert f(3) == 6"  -> "6")
  input:   the part before the first `==`, after `assert`         ("assert f(3) == 6"  -> "f(3)")
Added to the harness: code fences and backticks around the answer are dropped.
Validity (as the harness): an input prediction must call f; an output prediction must not contain `f(<input>)`.
Stricter than the harness, against one hack: the prediction must parse as ONE expression (and, for inputs, be a
call of f), so `6 or True` cannot make the assertion hold. Parsing is `ast.parse`: nothing of it runs here.
Execution (vigor.evaluation.code.run_cruxeval_many): the model-written side is evaluated in a candidate sandbox and
only its plain-data value reaches the test sandbox, which checks
  cruxeval-o:  f(<input>) == <predicted output>
  cruxeval-i:  <value of the predicted call f(...)> == <output>
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


def invalid_reason(prediction: str, record: PromptRecord) -> str | None:
    """Why the prediction cannot be run (None when it can)."""
    mode, given = record.meta["cruxeval_mode"], record.meta["input"]
    if not prediction:
        return "no answer found"
    try:
        tree = ast.parse(prediction, mode="eval")
    except (SyntaxError, ValueError):
        return f"not a single Python expression: {prediction[:80]!r}"
    if mode == "input":
        call = tree.body
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "f"):
            return f"an input prediction must be a call f(...), got {prediction[:80]!r}"
    elif f"f({given})" in prediction:
        return "the output prediction calls f on the input instead of giving its value"
    return None


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
        checks.append((meta["cruxeval_mode"], meta["code"], meta["input"], meta["output"], prediction))
        todo.append(i)
    for i, (ok, reason) in zip(todo, run_cruxeval_many(checks, timeout_s=timeout_s, allow_weak=allow_weak)):
        verdicts[i] = Verdict(ok, predictions[i], reason)
    return verdicts
