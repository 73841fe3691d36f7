"""The contract with TRL: the advantages TRL feeds its loss are sum_k w_k A_k of the logged
per-reward advantages; TRL's logged `reward` is the weighted raw reward; a TRL reward function trains
like any vigor reward; and the private seams vigor overrides fail loudly when they change shape."""

import math
import os

import pytest
import torch

from tests.training.training_helpers import read_jsonl, tiny_run_options

REWARD_FILE = '''
def has_digit(completions, trainer_state, **kwargs):
    """1 with a digit, 0 without, None (does not apply) when the completion is empty."""
    return [None if not c.strip() else float(any(ch.isdigit() for ch in c)) for c in completions]

def explodes(completions, trainer_state, **kwargs):
    if trainer_state.global_step >= 1:
        raise KeyError("missing column")
    return [0.0] * len(completions)
'''


def train(tiny_model_dir, prompts_file, out, **overrides):
    from vigor.training import VigorGRPOConfig, train as run

    return run(VigorGRPOConfig(**tiny_run_options(tiny_model_dir, prompts_file, out, **overrides)))


def capture(monkeypatch, name, store, pick):
    """Record `pick(self, args, result)` around the real VigorGRPOTrainer method `name`."""
    from vigor.training.trainer import VigorGRPOTrainer

    original = getattr(VigorGRPOTrainer, name)

    def recording(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        store.append(pick(self, args, result))
        return result
    monkeypatch.setattr(VigorGRPOTrainer, name, recording)


def row_keys(batch):
    """One key per completion: its prompt and completion token ids without padding."""
    return [(tuple(p[m.bool()].tolist()), tuple(c[cm.bool()].tolist())) for p, m, c, cm in
            zip(batch["prompt_ids"], batch["prompt_mask"], batch["completion_ids"], batch["completion_mask"])]


def by_key(keys, values):
    out = {}
    for key, value in zip(keys, values):
        out.setdefault(key, []).append(value)
    return {k: sorted(v) for k, v in out.items()}


@pytest.fixture
def reward_file(tmp_path):
    path = tmp_path / "my_rewards.py"
    path.write_text(REWARD_FILE)
    return str(path)


def test_loss_sees_the_weighted_sum_of_logged_advantages(tiny_model_dir, prompts_file, reward_file, tmp_path,
                                                         monkeypatch):
    generated, fed = [], []
    capture(monkeypatch, "_generate_and_score_completions", generated,
            lambda self, args, out: (row_keys(out), out["advantages"].tolist()))
    capture(monkeypatch, "_compute_loss", fed,
            lambda self, args, out: (row_keys(args[1]), args[1]["advantages"].tolist()))
    spec = f"vigor,random:0.5,{reward_file}:has_digit:0.25"
    out = train(tiny_model_dir, prompts_file, tmp_path / "out", reward=spec, reward_dump=True, monitor_accuracy=True,
                per_device_train_batch_size=8, num_generations=4, steps_per_generation=2, max_steps=2,
                log_completions_every=1, report_to="tensorboard")
    [dump] = read_jsonl(os.path.join(out, "rewards.jsonl"))  # one generation batch serves both steps
    assert dump["rewards"] == ["vigor", "random", "has_digit", "accuracy"]
    assert dump["weights"] == [1.0, 0.5, 0.25, 0.0]
    advantages = torch.tensor([[math.nan if a is None else a for a in row] for row in dump["advantages"]],
                              dtype=torch.float64)
    expected = torch.nan_to_num(advantages, nan=0.0) @ torch.tensor(dump["weights"], dtype=torch.float64)
    [(keys, given)] = generated
    assert torch.allclose(torch.tensor(given, dtype=torch.float64), expected, atol=1e-5)
    assert len(fed) == 2  # two optimizer steps, each a shuffled half of the generation batch
    fed_keys = [k for keys_, _ in fed for k in keys_]
    fed_values = [v for _, values in fed for v in values]
    want, got = by_key(keys, expected.tolist()), by_key(fed_keys, fed_values)
    assert want.keys() == got.keys()
    for key in want:
        assert got[key] == pytest.approx(want[key], abs=1e-5)

    # TRL's logged reward is the weighted raw reward; each reward's mean/std its raw values
    raw = torch.tensor([[math.nan if v is None else v for v in row] for row in dump["raw"]], dtype=torch.float64)
    weights = torch.tensor(dump["weights"], dtype=torch.float64)
    weighted = (torch.nan_to_num(raw, nan=0.0) * weights).sum(1)
    weighted[torch.isnan(raw).all(1)] = math.nan
    first = read_jsonl(os.path.join(out, "metrics.jsonl"))[0]
    assert first["reward"] == pytest.approx(weighted.nanmean().item(), rel=1e-6)
    valid = weighted[~torch.isnan(weighted)]
    assert first["reward_std"] == pytest.approx(valid.std().item(), rel=1e-6)
    for k, name in enumerate(dump["rewards"]):
        column = raw[:, k][~torch.isnan(raw[:, k])]
        assert first[f"rewards/{name}/mean"] == pytest.approx(column.mean().item(), rel=1e-6)
        for key in ("std", "shaped_mean", "shaped_std", "advantage_std"):
            assert f"rewards/{name}/{key}" in first, (name, key)
    assert first["gold_accuracy"] == pytest.approx(first["rewards/accuracy/mean"])
    assert first["advantages/abs_mean"] > 0

    # rewards.jsonl and completions.jsonl carry the text; completions.jsonl one row per completion
    assert len(dump["prompts"]) == len(dump["completions"]) == len(dump["raw"]) == 16
    rows = read_jsonl(os.path.join(out, "completions.jsonl"))
    assert [r["step"] for r in rows] == [0] * 16
    for i, row in enumerate(rows):
        assert (row["prompt"], row["completion"]) == (dump["prompts"][i], dump["completions"][i])
        assert row["advantage"] == pytest.approx(expected[i].item(), abs=1e-6)
        assert row["rewards"]["has_digit"] == dump["raw"][i][2]
        assert row["correct"] == (None if dump["raw"][i][3] is None else dump["raw"][i][3] == 1.0)
        group = [r["advantage"] for r in rows if r["group"] == row["group"]]
        assert row["rank"] == 1 + sum(a > row["advantage"] for a in group)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = [os.path.join(d, f) for d, _, files in os.walk(out) for f in files if f.startswith("events.out")]
    tags = set()
    for path in events:
        accumulator = EventAccumulator(path)
        accumulator.Reload()
        tags |= set(accumulator.Tags().get("tensors", []))
    assert "completions/text_summary" in tags


def test_a_failing_reward_function_names_itself_and_the_step(tiny_model_dir, prompts_file, reward_file, tmp_path):
    from vigor.rewards import RewardFunctionError

    with pytest.raises(RewardFunctionError, match=r"reward 'explodes' \(.*my_rewards.py:explodes\) at step 1 "
                                                  r"raised KeyError: 'missing column'"):
        train(tiny_model_dir, prompts_file, tmp_path / "out", reward=f"vigor,{reward_file}:explodes", max_steps=2)


def test_seams_are_checked():
    from trl import GRPOTrainer

    from vigor.training.trainer import TRLSeamError, check_generate_output, check_trl_seams

    check_trl_seams(GRPOTrainer)  # the installed TRL has the shapes vigor was written against

    class Changed(GRPOTrainer):
        def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list, extra):
            pass
    with pytest.raises(TRLSeamError, match="_calculate_rewards"):
        check_trl_seams(Changed)
    check_generate_output(([[1, 2]], [[3]], None, ["x"], None, {}, None, None), 1)
    with pytest.raises(TRLSeamError, match="_generate returned a tuple of length 7"):
        check_generate_output(([[1, 2]], [[3]], None, ["x"], None, {}, None), 1)


def test_a_changed_generate_fails_training_loudly(tiny_model_dir, prompts_file, tmp_path, monkeypatch):
    from trl import GRPOTrainer

    from vigor.training.trainer import TRLSeamError

    original = GRPOTrainer._generate
    monkeypatch.setattr(GRPOTrainer, "_generate", lambda self, prompts: original(self, prompts)[:7])
    with pytest.raises(TRLSeamError, match="_generate returned a tuple of length 7"):
        train(tiny_model_dir, prompts_file, tmp_path / "out", reward="random")
