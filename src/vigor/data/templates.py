"""Prompt templates: a chat template with a system prompt, or a plain template for base models."""

from __future__ import annotations

SYSTEM_PROMPTS = {
    # the reference VIGOR run on Qwen2.5-3B
    "boxed": "Let's think step by step and output the final answer within \\boxed{}.",
    # the INTUITOR-style prompt of the reference run on Qwen2.5-7B
    "intuitor": ("You are a helpful AI Assistant, designed to provided well-reasoned and detailed responses. "
                 "Please provide a step-by-step solution to the following problem."),
}

# Plain (base-model) template: the system text, then the problem, then an answer cue the model continues.
PLAIN_TEMPLATE = "{system}Question: {problem}\nAnswer:"


def resolve_system_prompt(system_prompt: str | None) -> str | None:
    """A preset key ("boxed", "intuitor") gives its text; other text is used as is; None or "" means none."""
    if not system_prompt:
        return None
    return SYSTEM_PROMPTS.get(system_prompt, system_prompt)


def format_prompt(problem: str, tokenizer=None, *, system_prompt: str | None = "boxed", chat: bool | None = None) -> str:
    system = resolve_system_prompt(system_prompt)
    has_template = tokenizer is not None and bool(getattr(tokenizer, "chat_template", None))
    if chat is None:
        chat = has_template
    if not chat:
        return PLAIN_TEMPLATE.format(system=f"{system}\n\n" if system else "", problem=problem)
    if not has_template:
        raise ValueError("format_prompt: chat=True but the tokenizer has no chat_template; pass chat=False "
                         "for a plain prompt")
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": problem}]
    try:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    except Exception:
        if not system:
            raise
        # some templates (e.g. Gemma) reject a system role: put the system text at the top of the user turn
        merged = [{"role": "user", "content": f"{system}\n\n{problem}"}]
        return tokenizer.apply_chat_template(merged, tokenize=False, add_generation_prompt=True)
