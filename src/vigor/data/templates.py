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
    """A preset key ("boxed", "intuitor") gives its text; other text is used as is; None, "" or "none" means
    none (the word `vigor eval --system-prompt none` takes, so train, analyze and eval read it alike)."""
    if not system_prompt or system_prompt.strip().lower() == "none":
        return None
    return SYSTEM_PROMPTS.get(system_prompt, system_prompt)


def format_prompt(problem: str | list[dict], tokenizer=None, *, system_prompt: str | None = "boxed",
                  chat: bool | None = None) -> str:
    """The prompt text the policy continues. `problem` is the problem text, or a conversation (a list of
    {role, content} messages, e.g. a TRL conversational row) that is templated once, as given: the system
    prompt is added only when the conversation has no system message of its own."""
    system = resolve_system_prompt(system_prompt)
    has_template = tokenizer is not None and bool(getattr(tokenizer, "chat_template", None))
    if chat is None:
        chat = has_template
    if isinstance(problem, list):
        messages = list(problem)
        if any(m["role"] == "system" for m in messages):
            system = None
        elif system:
            messages.insert(0, {"role": "system", "content": system})
    else:
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": problem}]
    if not chat:
        return _plain(messages)
    if not has_template:
        raise ValueError("format_prompt: chat=True but the tokenizer has no chat_template; pass chat=False "
                         "for a plain prompt")
    try:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    except Exception:
        if messages[0]["role"] != "system" or len(messages) < 2 or messages[1]["role"] != "user":
            raise
        # some templates (e.g. Gemma) reject a system role: put the system text at the top of the first user turn
        merged = [{"role": "user", "content": f"{messages[0]['content']}\n\n{messages[1]['content']}"}, *messages[2:]]
        return tokenizer.apply_chat_template(merged, tokenize=False, add_generation_prompt=True)


def _plain(messages: list[dict]) -> str:
    """PLAIN_TEMPLATE over [system?, user]: a base model has no way to tell the turns of a longer conversation."""
    system = messages[0]["content"] if messages[0]["role"] == "system" else None
    turns = messages[1:] if system is not None else messages
    if len(turns) != 1 or turns[0]["role"] != "user":
        raise ValueError(f"a conversation of {len(turns)} turns ({', '.join(m['role'] for m in turns)}) needs a "
                         "tokenizer with a chat template; this model has none (plain prompts take one user turn)")
    return PLAIN_TEMPLATE.format(system=f"{system}\n\n" if system else "", problem=turns[0]["content"])
