"""Which prompts are longer than a token budget, found without tokenizing a prompt that is obviously too long.

A tokenizer can take minutes, or abort the process, on a 50 MB string. No token spans more characters than
the longest string in the vocabulary (byte-level BPE writes one symbol per byte, SentencePiece one per
character, so a token's vocabulary string is at least as long as the text it covers). So a prompt of more than
`max_tokens × longest token × SLACK` characters has more than `max_tokens` tokens and is rejected from its
length alone; every other prompt is tokenized and counted exactly.
"""

from __future__ import annotations

import logging

from vigor.data.records import DataError

logger = logging.getLogger("vigor.data")

# Room for normalisers that shorten text before tokenizing (NFKC, stripped accents or whitespace): the character
# bound only has to catch prompts that are absurdly long, the exact count does the rest.
SLACK = 4


def max_token_chars(tokenizer) -> int:
    """The most characters one token of this tokenizer can stand for (its longest vocabulary string)."""
    return max(len(token) for token in tokenizer.get_vocab())


def prompts_over(prompts: list[str], tokenizer, max_tokens: int) -> dict[int, str]:
    """{index: "N tokens" or "N characters"} of the prompts longer than `max_tokens` tokens (the prompts are
    complete: template applied, so no special tokens are added)."""
    char_bound = max_tokens * max_token_chars(tokenizer) * SLACK
    over = {i: f"{len(p):,} characters" for i, p in enumerate(prompts) if len(p) > char_bound}
    rest = [i for i in range(len(prompts)) if i not in over]
    if rest:
        ids = tokenizer([prompts[i] for i in rest], add_special_tokens=False)["input_ids"]
        over.update({i: f"{len(t)} tokens" for i, t in zip(rest, ids) if len(t) > max_tokens})
    return dict(sorted(over.items()))


def prompt_budget(context: int | None, completion_tokens: int, completion_setting: str,
                  max_prompt_length: int | None = None) -> tuple[int | None, str]:
    """(most tokens a templated prompt may have, what sets it), or (None, "") when nothing limits it: the model's
    context less the completion's tokens (a longer prompt plus its completion would run past the positions the
    model has), and `max_prompt_length` when given. `completion_setting` names the completion limit in the
    messages, e.g. "max_completion_length=256" or "--max-new-tokens 256". A completion limit that fills the
    whole context is a DataError. Equal limits name the model's context, the one that cannot be raised."""
    budgets = []
    if context is not None:
        if completion_tokens >= context:
            raise DataError(f"{completion_setting} leaves no room for a prompt in the model's context of "
                            f"{context} tokens")
        budgets.append((context - completion_tokens,
                        f"the model's context of {context} tokens less {completion_setting}"))
    if max_prompt_length:
        budgets.append((max_prompt_length, f"max_prompt_length={max_prompt_length} tokens"))
    # key: compare the budgets only (a tuple min would break ties by the message text)
    return min(budgets, key=lambda budget: budget[0]) if budgets else (None, "")


def fit_prompts(records, prompts: list[str], tokenizer, max_tokens: int, what: str, *, drop: bool = False,
                drop_hint: str = ""):
    """(records, prompts) of at most `max_tokens` tokens each. A longer prompt is a one-line DataError naming its
    row and `what` sets the limit (e.g. "max_prompt_length=512 tokens"), unless `drop`: then the long ones are
    left out with a warning (an error still when none is left). `drop_hint` says how to drop them instead."""
    over = prompts_over(prompts, tokenizer, max_tokens)
    if over and (not drop or len(over) == len(records)):
        first, size = next(iter(over.items()))
        advice = f"; {drop_hint}" if drop_hint and not drop and len(over) < len(records) else ""
        raise DataError(f"{row_name(records[first])}: prompt of {size} is longer than {what} "
                        f"({len(over)} of {len(records)} prompts are){advice}")
    if over:
        logger.warning("dropped %d of %d prompts longer than %s (first: %s)", len(over), len(records), what,
                       row_name(records[next(iter(over))]))
    kept = [i for i in range(len(records)) if i not in over]
    return [records[i] for i in kept], [prompts[i] for i in kept]


def row_name(record) -> str:
    """Where a record came from, for messages: FILE:LINE, else its source and id."""
    return record.where or f"{record.source} prompt {record.id}"
