"""Chat prompts as users already have them: TRL's conversational rows and verl's rows.

  TRL conversational   `prompt` (or --prompt-column) is a list of {"role", "content"} messages; the gold answer,
                       if any, is a plain column (answer / solution / ..., or --answer-column)
  verl                 `prompt` is a list of messages, the gold answer is `reward_model.ground_truth`, and
                       `data_source` (with `ability`, `extra_info`) names where the row came from

The messages are kept as given (only role and content) and templated once, by `vigor.data.format_prompt`.
"""

from __future__ import annotations

from vigor.data.answers import normalise_gold
from vigor.data.records import DataError

VERL_KEEP = ("data_source", "ability", "extra_info")


def is_chat(value) -> bool:
    """Whether a prompt cell holds messages (a list) rather than text; decided on the first row of a file."""
    return isinstance(value, list)


def prompt_cell(value, *, at: str, column: str, chat: bool) -> tuple[str, list[dict] | None]:
    """(problem text, messages or None) of one prompt cell, which must have the file's kind (text or chat).
    The problem text of a conversation is its last user turn."""
    if chat:
        if isinstance(value, str):
            raise DataError(f"{at}: {column!r} is text, but the first row held chat messages (one format per file)")
        messages = chat_messages(value, at=at, column=column)
        text = next(m["content"] for m in reversed(messages) if m["role"] == "user")
        return text, messages
    if is_chat(value):
        raise DataError(f"{at}: {column!r} holds chat messages, but the first row held text (one format per file)")
    if not isinstance(value, str):
        raise DataError(f"{at}: {column!r} must be text or a list of {{role, content}} messages, "
                        f"got {type(value).__name__}")
    return value, None


def chat_messages(value, *, at: str, column: str) -> list[dict]:
    """The messages of a chat cell, checked: a non-empty list of {role: str, content: str} with a user turn."""
    if not isinstance(value, list) or not value:
        raise DataError(f"{at}: {column!r} must be a non-empty list of {{role, content}} messages")
    for i, message in enumerate(value, start=1):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str) or "content" not in message:
            got = sorted(message) if isinstance(message, dict) else type(message).__name__
            raise DataError(f"{at}: {column!r} message {i} must be an object with 'role' and 'content', got {got}")
        if not isinstance(message["content"], str):
            raise DataError(f"{at}: {column!r} message {i} ({message['role']}): 'content' must be text, "
                            f"got {type(message['content']).__name__}")
    if not any(m["role"] == "user" for m in value):
        raise DataError(f"{at}: {column!r} has no 'user' message (roles: {[m['role'] for m in value]})")
    # only role and content: Parquet fills keys that other rows have with None, which templates may choke on
    return [{"role": m["role"], "content": m["content"]} for m in value]


def verl_gold(row: dict, *, at: str) -> str:
    """`reward_model.ground_truth` of a verl row, as a normalised final answer."""
    reward_model = row["reward_model"]
    if not isinstance(reward_model, dict) or "ground_truth" not in reward_model:
        raise DataError(f"{at}: 'reward_model' must be an object with a 'ground_truth' field, got "
                        f"{sorted(reward_model) if isinstance(reward_model, dict) else type(reward_model).__name__}")
    truth = reward_model["ground_truth"]
    if isinstance(truth, bool) or not isinstance(truth, (str, int, float)) or not str(truth).strip():
        raise DataError(f"{at}: 'reward_model.ground_truth' must be a final answer (text or a number), "
                        f"got {truth!r:.60}")
    return normalise_gold(truth)
