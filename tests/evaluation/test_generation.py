"""Batched, left-padded generation against a slow one-prompt-at-a-time greedy loop."""

import pytest
import torch

from vigor.evaluation import generate_completions
from vigor.tiny import char_tokenizer, tiny_causal_lm


@pytest.fixture(scope="module")
def tiny():
    tok = char_tokenizer()
    return tiny_causal_lm("qwen2", vocab_size=len(tok), seed=1), tok


def reference_greedy(model, tok, prompt, max_new_tokens):
    """Full forward pass per step on the unpadded prompt; argmax; stop after EOS."""
    ids = tok(prompt, return_tensors="pt").input_ids
    new = []
    with torch.no_grad():
        for _ in range(max_new_tokens):
            nxt = int(model(ids).logits[0, -1].argmax())
            new.append(nxt)
            if nxt == tok.eos_token_id:
                break
            ids = torch.cat([ids, torch.tensor([[nxt]])], dim=1)
    return tok.decode(new, skip_special_tokens=True)


def test_batched_greedy_matches_reference(tiny):
    model, tok = tiny
    prompts = ["Q: 1+1?\nA:", "What is the capital of France? Think.", "x", "A longer prompt, with padding: 12345"]
    got = generate_completions(model, tok, prompts, max_new_tokens=12, batch_size=3)
    assert [len(g) for g in got] == [1, 1, 1, 1]
    assert [g[0] for g in got] == [reference_greedy(model, tok, p, 12) for p in prompts]


def test_model_and_tokenizer_state_is_restored(tiny):
    model, tok = tiny
    tok.padding_side = "right"
    model.train()
    try:
        generate_completions(model, tok, ["ab", "abcdef"], max_new_tokens=2)
        assert model.training and tok.padding_side == "right"
    finally:
        model.eval()
        tok.padding_side = "left"


def test_sampling_is_seeded(tiny):
    model, tok = tiny
    a = generate_completions(model, tok, ["ab", "cde"], max_new_tokens=8, temperature=1.0, samples=3, seed=5)
    b = generate_completions(model, tok, ["ab", "cde"], max_new_tokens=8, temperature=1.0, samples=3, seed=5)
    assert a == b and [len(x) for x in a] == [3, 3]
    assert len(set(a[0] + a[1])) > 1  # a random char model at T=1 does not repeat itself six times


def test_bad_arguments(tiny):
    model, tok = tiny
    with pytest.raises(ValueError, match="max_new_tokens"):
        generate_completions(model, tok, ["a"], max_new_tokens=0)


def test_evaluate_in_memory_model(tiny, tmp_path):
    from vigor.evaluation import evaluate
    from vigor.evaluation.evaluate import EvalSettings

    model, tok = tiny
    summary = evaluate(model, ["amc23"], EvalSettings(limit=3, max_new_tokens=4, batch_size=2, progress=False),
                       tokenizer=tok, output_dir=tmp_path)
    assert set(summary) == {"amc23"} and summary["amc23"]["n"] == 3
    assert (tmp_path / "amc23.samples.jsonl").read_text().count("\n") == 3
    with pytest.raises(ValueError, match="pass tokenizer="):
        evaluate(model, ["amc23"], EvalSettings(limit=1))
    with pytest.raises(ValueError, match="identical greedy completions"):
        evaluate(model, ["amc23"], EvalSettings(samples=2), tokenizer=tok)
