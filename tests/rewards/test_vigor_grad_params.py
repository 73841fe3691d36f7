"""`vigor+grad_params=REGEX`: VIGOR's norm over the matched trainable parameters, computed by the engine; the regex
checked at parse time (syntax) and, in `vigor train`, against the model folder's parameters before the weights load."""

import json
import math

import pytest
import torch

from tests.training.training_helpers import as_cli_args, read_jsonl, tiny_run_options
from vigor.cli import main
from vigor.gradnorm import per_sample_grad_norms, reference_grad_norms, select_parameters
from vigor.rewards import build_rollouts, make_reward, parse_rewards
from vigor.tiny import char_tokenizer, save_tiny_model, tiny_causal_lm

SUBSET = r"layers\.1\."  # the last block of the 2-layer tiny model


def rollouts_of(tok, seed):
    g = torch.Generator().manual_seed(seed)
    prompts = [[int(t) for t in torch.randint(3, len(tok), (n,), generator=g)] for n in (3, 5, 4, 6)]
    completions = [[int(t) for t in torch.randint(3, len(tok), (n,), generator=g)] + [tok.eos_token_id]
                   for n in (2, 6, 4, 3)]
    return build_rollouts(prompts, completions, eos_token_ids=[tok.eos_token_id], pad_token_id=tok.pad_token_id,
                          completions=[""] * 4)


def test_the_reward_scores_the_engine_norm_over_the_matched_parameters(fresh_seed):
    tok = char_tokenizer()
    model = tiny_causal_lm("llama", vocab_size=len(tok), seed=fresh_seed, dtype=torch.float64)
    r = rollouts_of(tok, fresh_seed)
    names = select_parameters(model, SUBSET)
    assert names and all(".layers.1." in n for n in names)
    reward = make_reward("vigor", grad_params=SUBSET)
    norms = reward.grad_norms(r, model)
    engine = per_sample_grad_norms(model, r.input_ids, r.attention_mask, r.loss_mask, params=names).double()
    assert torch.equal(norms, engine)
    slow = reference_grad_norms(model, r.input_ids, r.attention_mask, r.loss_mask, params=names).double()
    assert float(((norms - slow).abs() / slow).max()) <= 1e-9  # float64: the per-sample loop, same parameters
    full = make_reward("vigor").grad_norms(r, model)
    assert bool((norms < full).all())  # a strict subset of the parameters: a strictly smaller norm here
    expected = -norms * r.completion_lengths.double().sqrt()
    assert torch.equal(reward.score(r, model=model), expected)  # -||g_subset|| * sqrt(T)


@pytest.mark.parametrize("regex, message", [("layers\\.(1", "is not a valid regular expression"),
                                            ("", "expected a non-empty regular expression")])
def test_a_regex_that_does_not_compile_is_refused_at_parse_time(regex, message):
    with pytest.raises(ValueError, match=message) as err:
        parse_rewards(f"vigor+grad_params={regex}" if regex else "vigor", overrides={"vigor": {"grad_params": ""}})
    assert "\n" not in str(err.value) and "vigor" in str(err.value)


def test_training_logs_the_subset_norm_and_bad_regexes_stop_before_loading(tmp_path, capsys):
    data = tmp_path / "sums.jsonl"
    data.write_text("".join(json.dumps({"problem": f"{i}+{i}=", "answer": str(2 * i)}) + "\n" for i in range(8)))
    model_dir = save_tiny_model(tmp_path / "tiny")
    capsys.readouterr()  # the save's progress bar
    for regex, message in ((r"no_such_module", "matches no trainable parameter"),
                           (r"layers\.(1", "is not a valid regular expression")):
        out = tmp_path / f"bad{len(message)}"
        options = tiny_run_options(model_dir, str(data), out)
        assert main(["train", *as_cli_args(options), "--reward", f"vigor+grad_params={regex}"]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and "grad_params" in err and "\n" not in err, err
        assert not out.exists()

    # the same seeded step with the subset and with every parameter: the same completions (sampled from the same
    # initial weights), and each subset norm below the full one (||g_S|| <= ||g||, equal only if the rest is 0);
    # the subset values themselves are the engine's, by the fixed-batch test above
    logged = {}
    for spec in (f"vigor+grad_params={SUBSET}", "vigor"):
        out = tmp_path / ("subset" if "+" in spec else "full")
        options = tiny_run_options(model_dir, str(data), out, max_completion_length=12)
        assert main(["train", *as_cli_args(options), "--reward", spec, "--log-completions", "1"]) == 0
        rows = [r for r in read_jsonl(out / "completions.jsonl") if r["step"] == 0]
        logged[spec] = {(r["prompt"], r["completion"]): r["rewards"]["vigor"] for r in rows}
        assert math.isfinite(read_jsonl(out / "metrics.jsonl")[0]["rewards/vigor/mean"])
    subset, full = logged.values()
    assert set(subset) == set(full) and len(subset) >= 2
    for key, value in subset.items():
        assert -value < -full[key], key  # -raw = ||g|| sqrt(T)
