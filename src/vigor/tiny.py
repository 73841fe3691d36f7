"""Tiny, fully offline models and tokenizers for tests, smoke runs and CPU benchmarks.

`char_tokenizer()` is a real `PreTrainedTokenizerFast` (one token per character, a ChatML
chat template, `<|im_end|>` as EOS), built in memory with the `tokenizers` library.
`tiny_causal_lm(arch)` builds a randomly initialised Hugging Face causal LM of a real
architecture from a small config.
"""

from __future__ import annotations

import string

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

SPECIAL_TOKENS = ["<|pad|>", "<|im_start|>", "<|im_end|>", "<|unk|>"]


def char_tokenizer(extra_chars: str = ""):
    """A character-level fast tokenizer over printable ASCII (plus `extra_chars`)."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    chars = sorted(set(string.printable) | set(extra_chars))
    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    for ch in chars:
        vocab.setdefault(ch, len(vocab))
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<|unk|>"))
    backend.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    backend.decoder = decoders.Fuse()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token="<|pad|>",
        eos_token="<|im_end|>",
        bos_token="<|im_start|>",
        unk_token="<|unk|>",
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
    )
    tok.chat_template = CHATML_TEMPLATE
    tok.padding_side = "left"
    return tok


ARCHITECTURES = ("llama", "qwen2", "gpt2", "gemma3")


def tiny_config(arch: str = "qwen2", *, vocab_size: int = 128, hidden_size: int = 32, layers: int = 2,
                heads: int = 4, kv_heads: int = 2, intermediate_size: int = 64,
                tie_word_embeddings: bool | None = None, max_positions: int = 512, **overrides):
    """A small config of a real architecture (random weights once instantiated)."""
    from transformers import AutoConfig

    common = dict(vocab_size=vocab_size, pad_token_id=0, bos_token_id=1, eos_token_id=2)
    if arch == "gpt2":
        cfg = dict(n_embd=hidden_size, n_layer=layers, n_head=heads, n_positions=max_positions,
                   n_inner=intermediate_size, tie_word_embeddings=True if tie_word_embeddings is None
                   else tie_word_embeddings)
    elif arch in ("llama", "qwen2", "gemma3_text", "gemma3"):
        cfg = dict(hidden_size=hidden_size, num_hidden_layers=layers, num_attention_heads=heads,
                   num_key_value_heads=kv_heads, intermediate_size=intermediate_size,
                   max_position_embeddings=max_positions,
                   tie_word_embeddings=(arch != "qwen2") if tie_word_embeddings is None
                   else tie_word_embeddings)
        if arch in ("gemma3", "gemma3_text"):
            arch = "gemma3_text"
            cfg.update(head_dim=hidden_size // heads, sliding_window=16, query_pre_attn_scalar=hidden_size // heads)
    else:
        raise ValueError(f"unknown tiny architecture {arch!r}; choose from {ARCHITECTURES}")
    cfg.update(common)
    cfg.update(overrides)
    return AutoConfig.for_model(arch, **cfg)


def tiny_causal_lm(arch: str = "qwen2", *, seed: int = 0, dtype=None, **config_kwargs):
    """A randomly initialised causal LM of architecture `arch` (eval mode, SDPA attention:
    eager attention in float64 turns fully padded rows into NaN)."""
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    config = tiny_config(arch, **config_kwargs)
    model = AutoModelForCausalLM.from_config(config, attn_implementation="sdpa")
    if dtype is not None:
        model = model.to(dtype)
    return model.eval()


def save_tiny_model(folder, arch: str = "qwen2", *, hidden_size: int = 32, layers: int = 2, **kwargs) -> str:
    """Save a tiny random model (`tiny_causal_lm`) with the character tokenizer as a `from_pretrained`
    folder, padding configured for generation; returns the folder as a string."""
    tok = char_tokenizer()
    model = tiny_causal_lm(arch, vocab_size=len(tok), hidden_size=hidden_size, layers=layers, **kwargs)
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return str(folder)
