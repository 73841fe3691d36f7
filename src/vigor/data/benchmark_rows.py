"""Rows of the benchmarks that need their own reading (the paper's extra columns) -> PromptRecords.

  minerva        problem, solution       gold = last \\boxed{} of solution, '$' removed
  olympiadbench  question, final_answer  gold = final_answer[0], '$' removed (Qwen2.5-Math's harness)
  cruxeval-o/-i  code, input, output, id the CRUXEval repository's chain-of-thought prompts (prompts.py,
                                         make_cot_output_prompt / make_cot_input_prompt), graded by execution
  ifeval         key, prompt, instruction_id_list, kwargs   graded by the instructions' checkers

Each reader is named by its record in `vigor.data.benchmark_registry`, with the fields it needs; every field a
grader needs is checked here, so a bad file is a one-line error naming file, line and field
before any model loads.
"""

from __future__ import annotations

from vigor.data.records import DataError, PromptRecord, column_category, read_rows

# The CRUXEval repository's prompts.py, verbatim (chain of thought; chat models generate without stop words,
# so the answer is read from [ANSWER]...[/ANSWER]).
CRUX_OUTPUT_PROMPT = '''You are given a Python function and an assertion containing an input to the function. Complete the assertion with a literal (no unsimplified expressions, no function calls) containing the output when executing the provided code on the given input, even if the function is incorrect or incomplete. Do NOT output any extra information. Execute the program step by step before arriving at an answer, and provide the full assertion with the correct output in [ANSWER] and [/ANSWER] tags, following the examples.

[PYTHON]
def f(s):
    s = s + s
    return "b" + s + "a"
assert f("hi") == ??
[/PYTHON]
[THOUGHT]
Let's execute the code step by step:

1. The function f is defined, which takes a single argument s.
2. The function is called with the argument "hi", so within the function, s is initially "hi".
3. Inside the function, s is concatenated with itself, so s becomes "hihi".
4. The function then returns a new string that starts with "b", followed by the value of s (which is now "hihi"), and ends with "a".
5. The return value of the function is therefore "bhihia".
[/THOUGHT]
[ANSWER]
assert f("hi") == "bhihia"
[/ANSWER]

[PYTHON]
{code}
assert f({input}) == ??
[/PYTHON]
[THOUGHT]
'''

CRUX_INPUT_PROMPT = '''You will be given a function f and an output in the form f(??) == output. Your task is to find any input such that executing f on the input leads to the given output. There may be multiple answers, but only output one. First, think step by step. You MUST surround the answer with [ANSWER] and [/ANSWER] tags. Express your answer as a passing assertion containing the input and the given output.

[PYTHON]
def f(x):
    return x + 1
assert f(??) == 17
[/PYTHON]
[THOUGHT]
To find an input such that executing f on the input leads to the given output, we can work backwards from the given assertion. We know that f(??) == 17. 

Since the function f(x) returns x + 1, for f(??) to be equal to 17, the value of ?? should be 16. 
[/THOUGHT]
[ANSWER]
assert f(16) == 17
[/ANSWER]

[PYTHON]
{code}
assert f(??) == {output}
[/PYTHON]
[THOUGHT]
'''


def benchmark_rows_to_records(benchmark, path, *, limit: int | None = None,
                              category_column: str | None = None) -> list[PromptRecord]:
    """Records of `benchmark` (a `vigor.data.benchmark_registry.Benchmark` with a reader) read from `path`;
    `category_column` names the column of each record's category."""
    name, needs = benchmark.name, benchmark.needs
    records = []
    for index, (line, row) in enumerate(read_rows(path)):
        if limit is not None and index >= limit:
            break
        at = f"{path}:{line}"
        for key in needs:
            if row.get(key) is None:
                raise DataError(f"{at}: {name} record has no {key!r} field (needs {', '.join(needs)})")
        record = benchmark.reader(row, at)
        record.id = record.id if record.id is not None else str(index)
        if category_column is not None:
            record.categories = column_category(row, category_column, at=at, where=str(path), first=index == 0)
        record.source, record.where = name, at
        records.append(record)
    return records


def _text(row, key, at, *, empty_ok: bool = False) -> str:
    value = row[key]
    if not isinstance(value, str) or not (empty_ok or value.strip()):
        raise DataError(f"{at}: {key!r} must be non-empty text, got {value!r:.60}")
    return value


def minerva_reader(row, at):
    from vigor.data.formats import CONVERTERS as MATH_LAYOUTS

    for key in ("problem", "solution"):
        _text(row, key, at)  # both non-empty text
    record = MATH_LAYOUTS["math"](row, at=at)  # MATH's layout: gold = the last \boxed{} of the solution
    record.answer = record.answer.replace("$", "").strip()
    return record


def olympiadbench_reader(row, at):
    answers = row["final_answer"]
    if not isinstance(answers, list) or not answers or not isinstance(answers[0], str):
        raise DataError(f"{at}: 'final_answer' must be a non-empty list of strings, got {answers!r:.60}")
    return PromptRecord(str(row["id"]), _text(row, "question", at), answers[0].replace("$", "").strip(),
                        meta={k: row.get(k) for k in ("unit", "answer_type", "is_multiple_answer", "subfield")})


def cruxeval_reader(mode):
    def convert(row, at):
        # a function of no arguments has the empty input ""
        code, given, output = _text(row, "code", at), _text(row, "input", at, empty_ok=True), _text(row, "output", at)
        if mode == "output":
            prompt, gold = CRUX_OUTPUT_PROMPT.format(code=code, input=given), output
        else:
            prompt, gold = CRUX_INPUT_PROMPT.format(code=code, output=output), given
        return PromptRecord(str(row["id"]), prompt, gold,
                            meta={"cruxeval_mode": mode, "code": code, "input": given, "output": output})
    return convert


def ifeval_reader(row, at):
    ids, kwargs = row["instruction_id_list"], row["kwargs"]
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise DataError(f"{at}: 'instruction_id_list' must be a non-empty list of instruction ids")
    if not isinstance(kwargs, list) or len(kwargs) != len(ids) or not all(isinstance(k, dict) for k in kwargs):
        raise DataError(f"{at}: 'kwargs' must be a list of {len(ids)} dicts, one per instruction")
    return PromptRecord(str(row["key"]), _text(row, "prompt", at),
                        meta={"instruction_id_list": ids, "kwargs": kwargs})
