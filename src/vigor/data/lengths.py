"""Which prompts are longer than a token budget, found without tokenizing a prompt that is obviously too long.

A tokenizer can take minutes, or abort the process, on a 50 MB string. No token spans more characters than
the longest string in the vocabulary (byte-level BPE writes one symbol per byte, SentencePiece one per
character, so a token's vocabulary string is at least as long as the text it covers). So a prompt of more than
`max_tokens × longest token × SLACK` characters has more than `max_tokens` tokens and is rejected from its
length alone; every other prompt is tokenized and counted exactly.
"""

from __future__ import annotations

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
