"""`vigor analyze` says early what to expect: the expected time once the first group is done, the first groups
holding no mixed group, `--stop-if-unmixed N`; and `--grad-params` subsets against the full norm, by hand."""

import json

import numpy as np
import pytest
import torch

from vigor.analysis.subsets import rank_agreement, subset_norms
from vigor.cli import main as vigor_main
from vigor.gradnorm import per_sample_grad_norms, select_parameters
from vigor.rewards import build_rollouts
from vigor.tiny import char_tokenizer, tiny_causal_lm

UNMIXED = "no AUROC can be computed from these; an easier task or more samples would"


@pytest.fixture(scope="module")
def hard_dataset(tmp_path_factory):
    """Answers a random tiny model never writes: every group unmixed (all incorrect)."""
    path = tmp_path_factory.mktemp("data") / "hard.jsonl"
    path.write_text("".join(json.dumps({"problem": f"What is {a}*{a}?", "answer": str(1000003 + a)}) + "\n"
                            for a in range(6)))
    return path


def analyze(model_dir, data, out, *extra):
    return vigor_main(["analyze", "--model", str(model_dir), "--dataset", str(data), "--max-new-tokens", "5",
                       "--bootstrap", "10", "--output-dir", str(out), "--no-progress", *extra])


def test_unmixed_groups_are_said_at_once_and_stop_the_run(tiny_model_dir, hard_dataset, tmp_path, capsys):
    out = tmp_path / "out"
    assert analyze(tiny_model_dir, hard_dataset, out, "--num-prompts", "6", "-G", "3", "--batch-size", "3",
                   "--stop-if-unmixed", "2") == 0
    text = capsys.readouterr().out
    first = next(line for line in text.splitlines() if "the first 1 group " in line)
    assert "(3 completions, 0 correct)" in first and UNMIXED in first
    assert "stopped by --stop-if-unmixed 2: the first 2 groups (6 completions, 0 correct)" in text
    data = json.loads((out / "analysis.json").read_text())
    assert data["n_groups"] == 2 and len(data["completions"]) == 6 and data["settings"]["num_prompts"] == 2
    assert "stopped by --stop-if-unmixed 2" in data["stopped"]
    assert "Ended early" in (out / "analysis.md").read_text()


def test_the_expected_time_is_printed_once_the_first_group_is_done(tiny_model_dir, hard_dataset, tmp_path, capsys):
    assert analyze(tiny_model_dir, hard_dataset, tmp_path / "out", "--num-prompts", "3", "-G", "2",
                   "--micro-batch-size", "2") == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "expected time about" in line]
    assert len(lines) == 1 and "min for 6 completions" in lines[0] and "measured on the first 6" in lines[0]


@pytest.mark.parametrize("extra, message", [
    (["--stop-if-unmixed", "0"], "--stop-if-unmixed must be >= 1"),
    (["--grad-params", "layers\\.(1"], "is not a valid regular expression"),
    (["--grad-params", "no_such_module"], "matches no trainable parameter"),
])
def test_bad_values_are_one_line_before_loading(extra, message, tiny_model_dir, hard_dataset, tmp_path, capsys):
    out = tmp_path / "out"
    assert analyze(tiny_model_dir, hard_dataset, out, *extra) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert not out.exists()


def spearman_by_hand(a, b):
    """Pearson correlation of the ranks (no ties in continuous norms)."""
    ra, rb = np.argsort(np.argsort(a)).astype(float), np.argsort(np.argsort(b)).astype(float)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float((ra * rb).sum() / np.sqrt((ra ** 2).sum() * (rb ** 2).sum()))


def test_grad_params_agreement_by_hand_on_a_real_run(tiny_model_dir, hard_dataset, tmp_path, capsys):
    out = tmp_path / "out"
    assert analyze(tiny_model_dir, hard_dataset, out, "--num-prompts", "3", "-G", "4",
                   "--grad-params", r"layers\.1\.", "--grad-params", "lm_head") == 0
    assert "--grad-params lm_head: mean within-group Spearman" in capsys.readouterr().out
    data = json.loads((out / "analysis.json").read_text())
    rows = {r["grad_params"]: r for r in data["grad_params"]}
    full = np.array([c["grad_norm_corrected_full"] for c in data["completions"]]).reshape(3, 4)
    # the full norm timed beside the subsets is the analysis's own VIGOR norm
    np.testing.assert_allclose(full.ravel(), [c["grad_norm_corrected"] for c in data["completions"]], rtol=1e-5)
    for pattern in (r"layers\.1\.", "lm_head"):
        sub = np.array([c["grad_norm_corrected_subsets"][pattern] for c in data["completions"]]).reshape(3, 4)
        assert (sub < full).all()
        rhos = [spearman_by_hand(a, b) for a, b in zip(sub, full)]
        assert rows[pattern]["spearman"] == pytest.approx(np.mean(rhos), abs=1e-12)
        tops = [np.argmin(a) == np.argmin(b) for a, b in zip(sub, full)]
        assert rows[pattern]["top1_agreement"] == pytest.approx(np.mean(tops), abs=1e-12)
        assert rows[pattern]["n_groups"] == 3 and rows[pattern]["seconds_per_completion"] > 0
    assert "VIGOR over parameter subsets" in (out / "analysis.md").read_text()


def test_subset_norms_are_the_engine_restricted_call(fresh_seed):
    tok = char_tokenizer()
    model = tiny_causal_lm("llama", vocab_size=len(tok), seed=fresh_seed, dtype=torch.float64)
    g = torch.Generator().manual_seed(fresh_seed)
    prompts = [[int(t) for t in torch.randint(3, len(tok), (n,), generator=g)] for n in (3, 5, 4)]
    completions = [[int(t) for t in torch.randint(3, len(tok), (n,), generator=g)] + [tok.eos_token_id]
                   for n in (2, 6, 4)] + [[tok.eos_token_id]]
    prompts.append(prompts[0])
    norms, seconds = subset_norms(model, tok, prompts, completions, [r"layers\.0\."], micro_batch_size=3)
    r = build_rollouts(prompts, completions, eos_token_ids=[tok.eos_token_id], pad_token_id=tok.pad_token_id,
                       completions=[""] * 4)
    for key, params in (("full", None), (r"layers\.0\.", select_parameters(model, r"layers\.0\."))):
        expected = [per_sample_grad_norms(model, r.input_ids[rows], r.attention_mask[rows], r.loss_mask[rows],
                                          params=params).double() for rows in (slice(0, 3), slice(3, 4))]
        expected = (torch.cat(expected) * r.completion_lengths.double().sqrt()).numpy()
        np.testing.assert_allclose(norms[key][:3], expected[:3], rtol=1e-12)
        assert np.isnan(norms[key][3]) and seconds[key] > 0  # an empty completion: no norm
    got = rank_agreement(norms[r"layers\.0\."], norms["full"], 2)
    assert got["n_groups"] == 2 and got["n_groups_spearman"] == 1  # the second group has one non-empty row


def test_streaming_gives_the_numbers_of_sampling_all_then_scoring_all(tiny_model_dir, hard_dataset, tmp_path):
    """G=3 against micro-batches of 4 and sampling batches of 5: no boundary lines up, the values still equal."""
    from vigor.analysis.run import AnalysisSettings, analyze_completions, fitting_prompts, load_prompts, run_analysis
    from vigor.analysis.sampling import sample_completions
    from vigor.models import load_model_and_tokenizer

    s = AnalysisSettings(output_dir=str(tmp_path / "out"), model=str(tiny_model_dir), dataset=str(hard_dataset),
                         num_prompts=4, num_generations=3, max_new_tokens=6, batch_size=5, micro_batch_size=4,
                         bootstrap_resamples=10, progress=False, seed=11)
    streamed = run_analysis(s)
    _, records = load_prompts(s.dataset, s.num_prompts)
    records, prompts, tok = fitting_prompts(s.model, records, system_prompt=s.system_prompt,
                                            max_new_tokens=s.max_new_tokens)
    lm, tok = load_model_and_tokenizer(s.model, dtype=torch.float32, device=torch.device("cpu"), tokenizer=tok)
    p, c = sample_completions(lm, tok, prompts, num_generations=3, max_new_tokens=6, temperature=s.temperature,
                              top_k=s.top_k, batch_size=5, seed=11, progress=False)
    whole, _ = analyze_completions(lm, tok, records, p, c, 3, micro_batch_size=4, resamples=10, seed=11,
                                   progress=False)
    assert streamed["completions"] == whole["completions"]
    assert json.dumps(streamed["signals"]) == json.dumps(whole["signals"])  # NaN written alike
