"""`vigor analyze` on a tiny random model: signals against slow per-sample references, the
statistics of a constructed case against hand computation, and the command end to end."""

import json

import numpy as np
import pytest
import torch

from vigor.analysis import run as analysis
from vigor.analysis.signals import compute_signals
from vigor.analysis.stats import auroc
from vigor.cli import main as vigor_main
from vigor.data import PromptRecord
from vigor.gradnorm import reference_grad_norms


def encode(tok, text, eos=True):
    return tok(text, add_special_tokens=False).input_ids + ([tok.eos_token_id] if eos else [])


def reference_signals(model, prompt, completion):
    """One sample at a time, no padding: the definitions written out."""
    ids = torch.tensor([prompt + completion])
    mask = torch.zeros_like(ids)
    mask[0, len(prompt):] = 1
    norm = reference_grad_norms(model, ids, torch.ones_like(ids), mask).double().item()
    with torch.no_grad():
        logits = model(ids).logits[0, len(prompt) - 1:-1].double()  # predicts the completion tokens
    logp = torch.log_softmax(logits, -1)
    target = torch.tensor(completion)
    T = len(completion)
    return {"vigor_uncorrected": -norm, "vigor": -norm * T ** 0.5, "length": float(T),
            "logprob": logp[torch.arange(T), target].mean().item(),
            "neg_entropy": (logp.exp() * logp).sum(-1).mean().item(),
            "self_certainty": (torch.logsumexp(logits, -1) - logits.mean(-1)).mean().item()}


def test_signals_match_per_sample_references_despite_padding(tiny):
    model, tok = tiny
    prompts = [encode(tok, "Q: 1+1?", eos=False), encode(tok, "Question: what is 12+30?", eos=False)]
    completions = [encode(tok, "2"), encode(tok, "It is \\boxed{42}."), encode(tok, "no end", eos=False)]
    prompt_ids = [prompts[0], prompts[1], prompts[1]]
    got = compute_signals(model, tok, prompt_ids, completions, micro_batch_size=2, progress=False)
    for i, (p, c) in enumerate(zip(prompt_ids, completions)):
        for name, expected in reference_signals(model, p, c).items():
            assert got[name][i] == pytest.approx(expected, rel=1e-4, abs=1e-5), (name, i)
    assert got["truncated"].tolist() == [False, False, True]
    np.testing.assert_allclose(got["grad_norm_corrected"], -got["vigor"])


def test_constructed_case_auroc_by_hand(tiny):
    model, tok = tiny
    records = [PromptRecord(id="a", prompt="2+2?", answer="4"), PromptRecord(id="b", prompt="3*3?", answer="9")]
    texts = [["\\boxed{4}", "so \\boxed{5}", "it is \\boxed{4} ok", "\\boxed{6}"],   # correct: 1st, 3rd
             ["\\boxed{9}", "\\boxed{9}", "\\boxed{9}", "\\boxed{9}"]]                # all correct: no AUROC
    prompt_ids = [encode(tok, r.prompt, eos=False) for r in records for _ in range(4)]
    completion_ids = [encode(tok, t) for row in texts for t in row]
    result, signals = analysis.analyze_completions(model, tok, records, prompt_ids, completion_ids, 4,
                                                   resamples=50, progress=False)
    assert [c["correct"] for c in result["completions"]] == [True, False, True, False] + [True] * 4
    assert result["accuracy"] == pytest.approx(6 / 8)
    # length T = characters + EOS: correct {10, 19}, incorrect {13, 10}. Pairs (correct vs incorrect):
    # 10 vs 13 -> 0, 10 vs 10 -> 1/2, 19 vs 13 -> 1, 19 vs 10 -> 1: AUROC = 2.5 / 4.
    length = result["signals"]["length"]
    assert length["auroc"] == pytest.approx(0.625) and length["n_groups_mixed"] == 1
    # top-1 by length: group a's longest (19) is correct; group b is all correct -> mean 1.0; chance (0.5 + 1) / 2
    assert length["top1_correct"] == pytest.approx(1.0) and length["chance"] == pytest.approx(0.75)
    vigor = -np.array([reference_signals(model, p, c)["vigor"] for p, c in zip(prompt_ids[:4], completion_ids[:4])])
    # VIGOR's AUROC in "higher = better" orientation: smaller corrected norm should be correct
    assert result["signals"]["vigor"]["auroc"] == pytest.approx(auroc(-vigor, [1, 0, 1, 0]))


@pytest.fixture(scope="module")
def fixture_dataset(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "problems.jsonl"
    rows = [{"problem": f"What is {a}+{b}?", "answer": str(a + b)} for a, b in [(1, 2), (3, 4), (5, 6)]]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_analyze_command_end_to_end(tiny_model_dir, fixture_dataset, tmp_path, capsys):
    out = tmp_path / "out"
    code = vigor_main(["analyze", "--model", str(tiny_model_dir), "--dataset", str(fixture_dataset),
                       "--num-prompts", "2", "-G", "3", "--max-new-tokens", "6", "--bootstrap", "20",
                       "--output-dir", str(out), "--no-progress"])
    assert code == 0
    data = json.loads((out / "analysis.json").read_text())
    assert set(data["signals"]) == {"vigor", "vigor_uncorrected", "self_certainty", "neg_entropy", "logprob",
                                    "length"}
    assert len(data["completions"]) == 6 and data["settings"]["num_prompts"] == 2
    assert all(c["grad_norm"] is not None and c["grad_norm"] > 0 for c in data["completions"])
    assert "| vigor |" in (out / "analysis.md").read_text()
    assert (out / "gradnorm_vs_correct.png").read_bytes()[:4] == b"\x89PNG"
    assert "VIGOR within-group AUROC" in capsys.readouterr().out


@pytest.mark.parametrize("extra, message", [
    (["-G", "1"], "--num-generations must be >= 2"),
    (["--temperature", "0"], "--temperature must be > 0"),
    (["--model", "./no/such/model"], "no such folder"),
    (["--dataset", "/no/such/file.jsonl"], "no such file"),
])
def test_analyze_bad_input_is_one_line_exit_2(extra, message, tiny_model_dir, tmp_path, capsys):
    argv = ["analyze", "--model", str(tiny_model_dir), "--output-dir", str(tmp_path)] + extra
    assert vigor_main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_analyze_rejects_data_without_answers(tiny_model_dir, tmp_path, capsys):
    path = tmp_path / "no_answers.jsonl"
    path.write_text(json.dumps({"problem": "Say hi"}) + "\n")
    argv = ["analyze", "--model", str(tiny_model_dir), "--dataset", str(path), "--output-dir", str(tmp_path)]
    assert vigor_main(argv) == 2
    assert "gold answer" in capsys.readouterr().err


def test_verdict_needs_enough_mixed_prompts_and_a_clear_interval():
    base = {"auroc": 0.8, "auroc_ci": (0.6, 0.9)}
    assert "no prompt" in analysis.verdict(base | {"n_groups_mixed": 0})
    assert "too few" in analysis.verdict(base | {"n_groups_mixed": 1})
    assert analysis.verdict(base | {"n_groups_mixed": 12}).startswith("predicts correctness")
    assert "WRONG" in analysis.verdict({"auroc": 0.2, "auroc_ci": (0.1, 0.4), "n_groups_mixed": 12})
    assert "inconclusive" in analysis.verdict({"auroc": 0.55, "auroc_ci": (0.4, 0.7), "n_groups_mixed": 12})


def test_sample_completions_keeps_exact_ids_cut_after_eos(tiny):
    from vigor.analysis.sampling import sample_completions

    model, tok = tiny
    prompts = ["<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", "<|im_start|>user\n2+2?<|im_end|>\n"]
    kw = dict(num_generations=3, max_new_tokens=12, temperature=1.0, batch_size=4, seed=5, progress=False)
    # make EOS likely (a bias on its logit) so that some rows stop early and others run to the limit
    def favour_eos(module, args, output):
        output[..., tok.eos_token_id] += 4.0
        return output

    handle = model.lm_head.register_forward_hook(favour_eos)
    try:
        prompt_ids, completion_ids = sample_completions(model, tok, prompts, **kw)
        again = sample_completions(model, tok, prompts, **kw)
    finally:
        handle.remove()
    lengths = [len(ids) for ids in completion_ids]
    assert min(lengths) < 12 and max(lengths) > min(lengths), lengths
    assert len(prompt_ids) == len(completion_ids) == 6
    for i, ids in enumerate(prompt_ids):
        assert ids == tok(prompts[i // 3], add_special_tokens=False).input_ids  # no padding left in
    for ids in completion_ids:
        assert 1 <= len(ids) <= 12
        if len(ids) < 12:  # a row stops early only at EOS; the pads generate adds after it are dropped
            assert ids[-1] == tok.eos_token_id
        assert tok.eos_token_id not in ids[:-1]  # cut right after the first EOS
    assert again == (prompt_ids, completion_ids)  # seeded


def test_named_columns_as_in_vigor_train(tiny_model_dir, tmp_path, capsys):
    from vigor.analysis.run import load_prompts

    path = tmp_path / "mine.jsonl"
    path.write_text("".join(json.dumps({"q": f"{i}+1=", "gold": str(i + 1)}) + "\n" for i in range(3)))
    _, records = load_prompts(str(path), 2, prompt_column="q", answer_column="gold")
    assert [(r.prompt, r.answer) for r in records] == [("0+1=", "1"), ("1+1=", "2")]
    argv = ["analyze", "--model", str(tiny_model_dir), "--dataset", str(path), "--prompt-column", "question",
            "--output-dir", str(tmp_path / "out")]
    assert vigor_main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "no 'question' field" in err and "\n" not in err
