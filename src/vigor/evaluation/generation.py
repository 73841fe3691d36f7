"""Batched generation: Hugging Face `generate` with left padding (vLLM when installed and a GPU is present)."""

from __future__ import annotations

import importlib.util


def generate_completions(model, tokenizer, prompts: list[str], *, max_new_tokens: int, temperature: float = 0.0,
                         samples: int = 1, batch_size: int = 8, seed: int = 0) -> list[list[str]]:
    """`samples` completions per prompt (greedy when temperature == 0), decoded without special tokens."""
    import torch

    if max_new_tokens < 1 or samples < 1 or batch_size < 1 or temperature < 0:
        raise ValueError(f"generate_completions: need max_new_tokens, samples, batch_size >= 1 and temperature "
                         f">= 0 (got {max_new_tokens}, {samples}, {batch_size}, {temperature})")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"  # generation continues every row from its last real token
    # chat templates usually write BOS themselves; add it only where the text does not start with it
    bos = tokenizer.bos_token
    rows = [p for p in prompts for _ in range(samples)]
    sampling = dict(do_sample=True, temperature=temperature, top_p=1.0, top_k=0) if temperature > 0 else \
        dict(do_sample=False, temperature=None, top_p=None, top_k=None)
    device = next(model.parameters()).device
    torch.manual_seed(seed)
    texts = []
    for start in range(0, len(rows), batch_size):
        batch = rows[start:start + batch_size]
        add_special = not (bos and all(p.startswith(bos) for p in batch))
        enc = tokenizer(batch, return_tensors="pt", padding=True, add_special_tokens=add_special).to(device)
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id,
                                 eos_token_id=tokenizer.eos_token_id, **sampling)
        texts += tokenizer.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    return [texts[i * samples:(i + 1) * samples] for i in range(len(prompts))]


def vllm_available() -> bool:
    if importlib.util.find_spec("vllm") is None:
        return False
    import torch

    return torch.cuda.is_available()


def generate_with_vllm(model_path: str, prompts: list[str], *, max_new_tokens: int, temperature: float = 0.0,
                       samples: int = 1, seed: int = 0) -> list[list[str]]:
    """The same contract as generate_completions, for a model folder, with vLLM (GPU only)."""
    from vllm import LLM, SamplingParams

    llm = LLM(model=model_path, seed=seed)
    params = SamplingParams(n=samples, temperature=temperature, top_p=1.0, max_tokens=max_new_tokens, seed=seed)
    return [[o.text for o in out.outputs] for out in llm.generate(prompts, params)]
