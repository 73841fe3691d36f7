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
    # stop at the tokenizer's EOS and at every EOS the model's generation config names (chat models end a turn
    # with e.g. <|im_end|> while their tokenizer's EOS may be <|endoftext|>)
    configured = model.generation_config.eos_token_id
    configured = configured if isinstance(configured, list) else [] if configured is None else [configured]
    eos_ids = sorted({tokenizer.eos_token_id, *configured} - {None})
    # chat templates usually write BOS themselves; add it only where the text does not start with it
    bos = tokenizer.bos_token
    rows = [p for p in prompts for _ in range(samples)]
    sampling = dict(do_sample=True, temperature=temperature, top_p=1.0, top_k=0) if temperature > 0 else \
        dict(do_sample=False, temperature=None, top_p=None, top_k=None)
    device = next(model.parameters()).device
    was_training, padding_side = model.training, tokenizer.padding_side
    model.eval()  # no dropout while generating (a model may come straight from a training loop)
    tokenizer.padding_side = "left"  # generation continues every row from its last real token
    torch.manual_seed(seed)
    texts = []
    try:
        for start in range(0, len(rows), batch_size):
            batch = rows[start:start + batch_size]
            add_special = not (bos and all(p.startswith(bos) for p in batch))
            enc = tokenizer(batch, return_tensors="pt", padding=True, add_special_tokens=add_special).to(device)
            with torch.no_grad():
                out = model.generate(**enc, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id,
                                     eos_token_id=eos_ids, **sampling)
            texts += tokenizer.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    finally:
        model.train(was_training)
        tokenizer.padding_side = padding_side
    return [texts[i * samples:(i + 1) * samples] for i in range(len(prompts))]


def vllm_available() -> bool:
    if importlib.util.find_spec("vllm") is None:
        return False
    import torch

    return torch.cuda.is_available()


def vllm_options(model_path: str, *, seed: int = 0, dtype=None) -> dict:
    """Keyword arguments of `vllm.LLM` for a model. `dtype` (a torch dtype or its name; None = vLLM's own
    choice) is passed on by name: left out, vLLM would pick the checkpoint's dtype, not the resolved --dtype."""
    options = dict(model=model_path, seed=seed)
    if dtype is not None:
        options["dtype"] = str(dtype).removeprefix("torch.")
    return options


def load_vllm(model_path: str, *, seed: int = 0, dtype=None):
    from vllm import LLM

    return LLM(**vllm_options(model_path, seed=seed, dtype=dtype))


def generate_with_vllm(llm, prompts: list[str], *, max_new_tokens: int, temperature: float = 0.0,
                       samples: int = 1, seed: int = 0) -> list[list[str]]:
    """The same contract as generate_completions, for a `load_vllm` engine (GPU only)."""
    from vllm import SamplingParams

    params = SamplingParams(n=samples, temperature=temperature, top_p=1.0, max_tokens=max_new_tokens, seed=seed)
    return [[o.text for o in out.outputs] for out in llm.generate(prompts, params)]
