"""Turn raw rows into PromptRecords, and say which format was recognised and which columns it used.

Benchmark layouts are recognised by their columns (first match wins):
  humaneval  task_id, prompt, test, entry_point        (openai/human-eval)
  mbpp       text, code, test_list                     (google-research MBPP full file)
  mbpp_sanitized prompt, code, test_list, test_imports (sanitized-mbpp.json)
  answer     problem, answer                           (MATH-500 / PRM800K splits, AIME, AMC)
  math       problem, solution                         (MATH, MATH-lighteval; gold = last \\boxed{} of solution)
  gsm8k      question, answer ending in "#### N"       (GSM8K; also Qwen's harness copy), when the first
             record's answer has "####"; other question/answer tables are plain columns
Any other table has a prompt column (`prompt_column`, else the first of PROMPT_COLUMN_GUESSES present) and is
  plain text         the prompt cell is text; gold answer from `answer_column` (or a guessed column)
  TRL conversational the prompt cell is a list of {role, content} messages (see vigor.data.chat)
  verl               the row has `reward_model` (gold: `reward_model.ground_truth`) and `data_source`
The first row decides the format; a later row of another shape is an error naming that row.
Record id: `unique_id` or `task_id` when the row has one, else the record's index from 0.
Record categories: MATH's subject and difficulty (`type` or MATH-500's `subject`, and `level`), or, with
`category_column`, that column alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from vigor.data.answers import after_hashes, last_boxed, normalise_gold
from vigor.data.chat import VERL_KEEP, is_chat, prompt_cell, verl_gold
from vigor.data.records import DataError, PromptRecord, column_category

LAYOUTS = {
    "humaneval": ("task_id", "prompt", "test", "entry_point"),
    "mbpp": ("text", "code", "test_list"),
    "mbpp_sanitized": ("prompt", "code", "test_list", "test_imports"),
    "answer": ("problem", "answer"),
    "math": ("problem", "solution"),
    "gsm8k": ("question", "answer"),
}
LAYOUT_COLUMNS = {  # layout: (where the prompt comes from, where the gold answer or tests come from)
    "humaneval": ("'prompt'", "tests 'test', 'entry_point'"),
    "mbpp": ("'text' + 'test_list'", "tests 'test_list'"),
    "mbpp_sanitized": ("'prompt' + 'test_list'", "tests 'test_list'"),
    "answer": ("'problem'", "'answer'"),
    "math": ("'problem'", "last \\boxed{} of 'solution'"),
    "gsm8k": ("'question'", "after '####' in 'answer'"),
}
PROMPT_COLUMN_GUESSES = ("problem", "question", "prompt", "text", "instruction", "input")
ANSWER_COLUMN_GUESSES = ("answer", "final_answer", "solution", "target", "output")


@dataclass(frozen=True)
class DataFormat:
    """What `load_records` recognised: the format's name and the columns it read."""
    name: str                 # a benchmark layout, "plain text", "TRL conversational", "verl" or "procedural"
    prompt: str               # where the prompt comes from, e.g. "'prompt' (chat messages)"
    gold: str | None = None   # where the gold answer (or code tests) comes from; None: no gold

    def describe(self) -> str:
        return f"format {self.name}; prompt: {self.prompt}; gold: {self.gold or 'none'}"


def detect_layout(row: dict) -> str | None:
    cols = set(row)
    for name, need in LAYOUTS.items():
        if cols.issuperset(need) and (name != "gsm8k" or "####" in str(row["answer"])):
            return name
    return None


def rows_to_records(rows, *, where: str, source: str, prompt_column: str | None = None,
                    answer_column: str | None = None, limit: int | None = None, category_column: str | None = None
                    ) -> tuple[list[PromptRecord], DataFormat | None]:
    """(records, recognised format; None when there are no rows). rows: iterable of (line, dict);
    `where` names the file in error messages; `category_column` names the column of each record's category."""
    records, layout, data_format, chat = [], None, None, False
    for index, (line, row) in enumerate(rows):
        if limit is not None and index >= limit:
            break
        at = f"{where}:{line}"
        if layout is None:
            layout, prompt_column, answer_column = choose_layout(row, prompt_column, answer_column, at=at)
            data_format = describe_layout(layout, prompt_column, answer_column, row)
            chat = prompt_column is not None and is_chat(row.get(prompt_column))  # text or messages, for every row
        try:
            record = CONVERTERS[layout](row, at=at, prompt_column=prompt_column, answer_column=answer_column,
                                        chat=chat)
        except KeyError as err:
            raise DataError(f"{at}: record has no {err.args[0]!r} field (fields: {sorted(row)})") from None
        if not isinstance(record.prompt, str) or not record.prompt.strip():
            raise DataError(f"{at}: empty or non-text prompt")
        if record.id is None:
            record.id = str(index)
        if category_column is not None:
            record.categories = column_category(row, category_column, at=at, where=where, first=index == 0)
        record.source, record.where = source, at
        records.append(record)
    return records, data_format


def choose_layout(row: dict, prompt_column: str | None, answer_column: str | None, *, at: str):
    """(layout, prompt column, answer column) of a file, from its first row. The answer column is guessed only
    along with the prompt column, and a verl row's gold is `reward_model.ground_truth` unless one is given."""
    guess_answer = prompt_column is None
    if prompt_column is None:
        layout = detect_layout(row)
        if layout is not None:
            return layout, None, None
        prompt_column = next((c for c in PROMPT_COLUMN_GUESSES if c in row), None)
        if prompt_column is None:
            raise DataError(f"{at}: cannot tell which column holds the prompt (columns: {sorted(row)}); "
                            "pass prompt_column=... (--prompt-column)")
    if "reward_model" in row and answer_column is None:
        return "verl", prompt_column, None
    if guess_answer:
        answer_column = answer_column or next((c for c in ANSWER_COLUMN_GUESSES if c in row), None)
    return ("chat" if is_chat(row.get(prompt_column)) else "columns"), prompt_column, answer_column


def describe_layout(layout: str, prompt_column: str | None, answer_column: str | None, first_row: dict) -> DataFormat:
    if layout in LAYOUT_COLUMNS:
        return DataFormat(layout, *LAYOUT_COLUMNS[layout])
    kind = "chat messages" if is_chat(first_row.get(prompt_column)) else "text"
    prompt = f"{prompt_column!r} ({kind})"
    if layout == "verl":
        source = ", data source 'data_source'" if "data_source" in first_row else ""
        return DataFormat("verl", prompt, f"'reward_model.ground_truth'{source}")
    name = "TRL conversational" if layout == "chat" else "plain text"
    return DataFormat(name, prompt, repr(answer_column) if answer_column else None)


def _own_id(row) -> str | None:
    for key in ("unique_id", "task_id"):
        if row.get(key) not in (None, ""):
            return str(row[key])
    return None


def _math_answer(row, *, at, **_):
    if row["answer"] is None or str(row["answer"]).strip() == "":
        raise DataError(f"{at}: empty 'answer'")
    return PromptRecord(_own_id(row), row["problem"], normalise_gold(row["answer"]),
                        meta=_meta(row, "solution", "subject", "level", "type", "url"), categories=math_categories(row))


def _math_solution(row, *, at, **_):
    gold = last_boxed(row["solution"])
    if gold is None:
        raise DataError(f"{at}: 'solution' has no \\boxed{{...}} final answer")
    return PromptRecord(_own_id(row), row["problem"], gold, meta=_meta(row, "solution", "level", "type"),
                        categories=math_categories(row))


def math_categories(row) -> dict[str, str]:
    """MATH's subject and difficulty: {"type": MATH's `type` (MATH-500 calls it `subject`), "level": "Level N"}
    (MATH writes "Level 3", MATH-500 the number 3); a facet the row lacks is left out."""
    categories = {}
    subject = row.get("type") or row.get("subject")
    if subject not in (None, ""):
        categories["type"] = str(subject)
    level = row.get("level")
    if level not in (None, ""):
        categories["level"] = level if isinstance(level, str) and level.startswith("Level") else f"Level {level}"
    return categories


def _gsm8k(row, *, at, **_):
    gold = after_hashes(str(row["answer"]))
    if gold is None:
        raise DataError(f"{at}: GSM8K 'answer' does not end with '#### <final answer>'")
    return PromptRecord(_own_id(row), row["question"], gold, meta={"solution": row["answer"]})


def _humaneval(row, *, at, **_):
    return PromptRecord(str(row["task_id"]), row["prompt"], tests=row["test"], entry_point=row["entry_point"],
                        meta=_meta(row, "canonical_solution"))


def _mbpp(row, *, at, **_):
    tests = _assert_lines(row["test_list"], at)
    prompt = f"{row['text']}\nYour code should pass these tests:\n{tests}"
    setup = row.get("test_setup_code") or ""
    return PromptRecord(str(row.get("task_id", "")) or None, prompt, tests=tests,
                        meta={"reference_code": row["code"], "test_setup_code": setup, "description": row["text"]})


def _mbpp_sanitized(row, *, at, **_):
    tests = _assert_lines(row["test_list"], at)
    prompt = f"{row['prompt']}\nYour code should pass these tests:\n{tests}"
    return PromptRecord(str(row.get("task_id", "")) or None, prompt, tests=tests,
                        meta={"reference_code": row["code"], "test_setup_code": "\n".join(row["test_imports"]),
                              "description": row["prompt"]})


def _columns(row, *, at, prompt_column, answer_column, chat):
    text, messages = prompt_cell(row[prompt_column], at=at, column=prompt_column, chat=chat)
    answer = normalise_gold(row[answer_column]) if answer_column else None
    return PromptRecord(_own_id(row), text, answer, messages=messages,
                        meta={k: v for k, v in row.items() if k not in (prompt_column, answer_column)})


def _verl(row, *, at, prompt_column, chat, **_):
    text, messages = prompt_cell(row[prompt_column], at=at, column=prompt_column, chat=chat)
    return PromptRecord(_own_id(row), text, verl_gold(row, at=at), messages=messages, meta=_meta(row, *VERL_KEEP))


def _assert_lines(test_list, at) -> str:
    if not isinstance(test_list, list) or not all(isinstance(t, str) for t in test_list) or not test_list:
        raise DataError(f"{at}: 'test_list' must be a non-empty list of assert statements")
    return "\n".join(test_list)


def _meta(row, *keys):
    return {k: row[k] for k in keys if k in row}


CONVERTERS = {"humaneval": _humaneval, "mbpp": _mbpp, "mbpp_sanitized": _mbpp_sanitized, "answer": _math_answer,
              "math": _math_solution, "gsm8k": _gsm8k, "columns": _columns, "chat": _columns,
              "verl": _verl}
