"""Sampling G completions per prompt, keeping the exact token ids.

`vigor.evaluation.generate_completions` returns decoded text only; the signals need the sampled
ids themselves (re-tokenising text does not round-trip, and whether a completion ended with EOS
or was truncated is lost), so this keeps them. Same sampling as the trainer's defaults.
"""

from __future__ import annotations


def sample_completions(model, tokenizer, prompts: list[str], *, num_generations: int, max_new_tokens: int,
                       temperature: float = 0.9, top_k: int = 50, batch_size: int = 8, seed: int = 0,
                       progress: bool = True) -> tuple[list[list[int]], list[list[int]]]:
    """(prompt ids, completion ids) with prompt i repeated `num_generations` times, in that order
    (rows i*G .. i*G+G-1 belong to prompt i). Completion ids stop after the first EOS (kept);
    padding is removed."""
    from tqdm.auto import tqdm

    prompt_ids, completion_ids = [], []
    with tqdm(total=len(prompts) * num_generations, desc="sampling completions", unit="completion",
              disable=not progress) as bar:
        for batch_prompts, batch_completions in iter_sampled_batches(
                model, tokenizer, prompts, num_generations=num_generations, max_new_tokens=max_new_tokens,
                temperature=temperature, top_k=top_k, batch_size=batch_size, seed=seed):
            prompt_ids += batch_prompts
            completion_ids += batch_completions
            bar.update(len(batch_completions))
    return prompt_ids, completion_ids


def iter_sampled_batches(model, tokenizer, prompts: list[str], *, num_generations: int, max_new_tokens: int,
                         temperature: float = 0.9, top_k: int = 50, batch_size: int = 8, seed: int = 0):
    """`sample_completions` one batch of `batch_size` rows at a time, as (prompt ids, completion ids), so the caller
    can grade and score between batches. The seeded random stream is this generator's own (saved and restored
    around each batch), so work done between batches changes no sample: the rows are those of one call."""
    import torch

    tokenizer.padding_side = "left"
    bos = tokenizer.bos_token
    rows = [p for p in prompts for _ in range(num_generations)]
    eos = tokenizer.eos_token_id
    device = next(model.parameters()).device
    outer = torch.random.get_rng_state()
    torch.manual_seed(seed)
    own = torch.random.get_rng_state()
    torch.random.set_rng_state(outer)
    for start in range(0, len(rows), batch_size):
        batch = rows[start:start + batch_size]
        # chat templates write BOS themselves; add special tokens only to raw text
        add_special = not (bos and all(p.startswith(bos) for p in batch))
        enc = tokenizer(batch, return_tensors="pt", padding=True, add_special_tokens=add_special).to(device)
        outer = torch.random.get_rng_state()
        torch.random.set_rng_state(own)
        try:
            with torch.no_grad():
                out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=True,
                                     temperature=temperature, top_k=top_k, top_p=1.0,
                                     pad_token_id=tokenizer.pad_token_id, eos_token_id=eos)
            own = torch.random.get_rng_state()
        finally:
            torch.random.set_rng_state(outer)
        width = enc["input_ids"].shape[1]
        batch_prompts = [[t for t, m in zip(row, mask) if m]
                         for row, mask in zip(enc["input_ids"].tolist(), enc["attention_mask"].tolist())]
        batch_completions = [row[: row.index(eos) + 1] if eos in row else row for row in out[:, width:].tolist()]
        yield batch_prompts, batch_completions
