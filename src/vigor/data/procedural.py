"""Offline, seeded procedural problems from `reasoning-gym` (the default data when nothing else is given).

"train" and "heldout" never share a question, whatever their sizes: they draw from different seeds
(heldout uses seed + HELDOUT_SEED_OFFSET) AND each keeps only the questions whose sha256 falls on its side
(first byte even -> train, odd -> heldout). Duplicate questions within a split are dropped too.
reasoning-gym item i depends only on (seed, i), so a smaller size gives a prefix of a larger one.

`name` is any reasoning-gym dataset, or one of vigor's ALIASES: a stable name for a reasoning-gym dataset
with a fixed configuration (e.g. `single_digit_addition`, the demo's default task, chosen because
SmolLM2-135M-Instruct solves part of it; see docs/benchmarks.md).

Categories (`PromptRecord.categories`, by which results are broken down): {"operation": "addition" or
"subtraction"} for single_digit_add_sub (read from reasoning-gym's `metadata["expression"]`), and
{"task": metadata["source_dataset"]} for a set that draws from several reasoning-gym tasks (`composite`).
"""

from __future__ import annotations

import hashlib

from vigor.data.records import DataError, PromptRecord

SPLITS = ("train", "heldout")
HELDOUT_SEED_OFFSET = 1_000_003
DEFAULT_SETS = ("gsm_symbolic", "basic_arithmetic")

# vigor name -> (reasoning-gym dataset, its configuration). Operands 0..10 ("1 digit" in reasoning-gym
# goes up to 10), so single_digit_addition has 121 distinct questions: 59 train, 62 heldout.
# single_digit_add_sub adds "a - b" on the same operands (answers -10..10): 242 questions, 116 train /
# 126 heldout. The split goes by question text, so its heldout half holds all 62 heldout additions.
_SINGLE_DIGIT = dict(min_terms=2, max_terms=2, min_digits=1, max_digits=1, allow_parentheses=False,
                     allow_negation=False)
ALIASES: dict[str, tuple[str, dict]] = {
    "single_digit_addition": ("basic_arithmetic", dict(_SINGLE_DIGIT, operators=("+",))),
    "single_digit_add_sub": ("basic_arithmetic", dict(_SINGLE_DIGIT, operators=("+", "-"))),
}


OPERATIONS = {"+": "addition", "-": "subtraction"}


def operation_category(metadata: dict) -> dict[str, str]:
    """{"operation": ...} of a two-term expression such as "4 - 1" (single_digit_add_sub has no negation, so
    the operator is the middle token)."""
    operator = metadata["expression"].split()[1]
    return {"operation": OPERATIONS[operator]}


CATEGORIES = {"single_digit_add_sub": operation_category}  # vigor name -> categories from an item's metadata


def categories_of(name: str, dataset_name: str, metadata: dict) -> dict[str, str]:
    """An item's categories: the alias's own, else the source task when it is not the dataset itself."""
    if name in CATEGORIES:
        return CATEGORIES[name](metadata)
    source = metadata.get("source_dataset")
    return {"task": source} if source and source != dataset_name else {}


def split_of(question: str) -> str:
    return SPLITS[hashlib.sha256(question.encode()).digest()[0] % 2]


def reasoning_gym_records(name: str = "gsm_symbolic", *, size: int, seed: int, split: str = "train") -> list[PromptRecord]:
    import reasoning_gym

    if split not in SPLITS:
        raise DataError(f"reasoning-gym split must be one of {SPLITS}, got {split!r}")
    if size < 0:
        raise DataError(f"reasoning-gym size must be >= 0, got {size}")
    draw_seed = seed if split == "train" else seed + HELDOUT_SEED_OFFSET
    dataset_name, options = ALIASES.get(name, (name, {}))
    records, seen, candidates = [], set(), max(2 * size + 16, 32)
    while len(records) < size:
        try:
            items = reasoning_gym.create_dataset(dataset_name, size=candidates, seed=draw_seed, **options)
        except Exception as err:  # unknown name or bad config: name the dataset
            raise DataError(f"reasoning-gym dataset {name!r} could not be created: {err}") from err
        records, seen = [], set()
        for index, item in enumerate(items):
            question = item["question"]
            if question in seen or split_of(question) != split:
                continue
            seen.add(question)
            records.append(PromptRecord(id=f"{split}-{index}", prompt=question, answer=str(item["answer"]),
                                        source=f"reasoning-gym:{name}",
                                        meta={"seed": draw_seed, "index": index, "split": split},
                                        categories=categories_of(name, dataset_name, item.get("metadata") or {})))
            if len(records) == size:
                break
        if len(records) < size:
            if candidates > 64 * size + 1024:
                raise DataError(f"reasoning-gym {name!r} gave only {len(records)} distinct {split} questions; "
                                f"asked for {size}")
            candidates *= 2
    return records
