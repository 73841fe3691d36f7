"""Prompt templates: chat with a system prompt (presets or literal text), plain for base models."""

import pytest

from vigor.data import SYSTEM_PROMPTS, format_prompt
from vigor.tiny import char_tokenizer


def test_presets():
    assert SYSTEM_PROMPTS["boxed"] == "Let's think step by step and output the final answer within \\boxed{}."
    assert SYSTEM_PROMPTS["intuitor"].startswith("You are a helpful AI Assistant, designed to provided well-reasoned")


def test_chat_template_with_system_prompt():
    tok = char_tokenizer()
    text = format_prompt("What is 2+2?", tok)
    assert text == ("<|im_start|>system\n" + SYSTEM_PROMPTS["boxed"] + "<|im_end|>\n"
                    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n")
    assert "<|im_start|>system\nBe brief.<|im_end|>" in format_prompt("q", tok, system_prompt="Be brief.")
    assert format_prompt("q", tok, system_prompt=None) == "<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n"
    # 'none' means none everywhere (vigor eval's word), not the literal system prompt "none"
    for nothing in ("", "none", "None", " NONE "):
        assert format_prompt("q", tok, system_prompt=nothing) == format_prompt("q", tok, system_prompt=None)


def test_plain_template_for_base_models():
    tok = char_tokenizer()
    assert format_prompt("What is 2+2?", tok, chat=False, system_prompt=None) == "Question: What is 2+2?\nAnswer:"
    assert format_prompt("q", None, system_prompt="intuitor") == SYSTEM_PROMPTS["intuitor"] + "\n\nQuestion: q\nAnswer:"
    tok.chat_template = None
    assert format_prompt("q", tok).endswith("Question: q\nAnswer:")  # chat=None follows the tokenizer
    with pytest.raises(ValueError, match="no chat_template"):
        format_prompt("q", tok, chat=True)
