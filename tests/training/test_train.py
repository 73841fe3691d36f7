"""End-to-end GRPO runs on a tiny random model, one per reward, and the collapse guard."""

import os

import pytest
import torch

from tests.training.training_helpers import read_jsonl, tiny_run_options
from vigor.rewards import REWARDS


def run_training(tiny_model_dir, prompts_file, out, **overrides):
    from vigor.training import VigorGRPOConfig, train

    config = VigorGRPOConfig(**tiny_run_options(tiny_model_dir, prompts_file, out, **overrides))
    return train(config)


def weights(folder):
    from safetensors.torch import load_file

    return load_file(os.path.join(folder, "model.safetensors"))


@pytest.mark.parametrize("reward", sorted(REWARDS))
def test_every_reward_trains_and_logs(reward, tiny_model_dir, prompts_file, tmp_path):
    out = run_training(tiny_model_dir, prompts_file, tmp_path / "out", reward=reward, monitor_accuracy=True,
                       reward_dump=True)
    [record] = read_jsonl(os.path.join(out, "metrics.jsonl"))
    assert record["step"] == 1
    for key in ("entropy", "kl", "completions/mean_length", "completions/truncation_rate",
                "completions/repetition_ratio", "gold_accuracy"):
        assert key in record, key
    assert any(k.startswith(f"rewards/{reward}/") for k in record)
    if reward == "vigor":
        for key in ("grad_norm_mean", "grad_norm_corrected_mean", "std", "shaped_mean", "advantage_std"):
            assert f"rewards/vigor/{key}" in record
    [dump] = read_jsonl(os.path.join(out, "rewards.jsonl"))
    column = dump["rewards"].index(reward)
    advantages = torch.tensor(dump["advantages"])[:, column]
    if reward not in ("accuracy", "majority_vote"):  # a random model may score a whole group alike there
        assert advantages.abs().sum() > 0
        before, after = weights(tiny_model_dir), weights(out)
        assert any(not torch.equal(before[k], after[k]) for k in before), "no parameter moved"


def test_vigor_group_values_and_tensorboard(tiny_model_dir, prompts_file, tmp_path):
    from vigor.rewards import group_advantages

    out = run_training(tiny_model_dir, prompts_file, tmp_path / "out", reward="vigor,random:0.5",
                       reward_dump=True, report_to="tensorboard", num_generations=4, max_steps=2)
    dumps = read_jsonl(os.path.join(out, "rewards.jsonl"))
    assert [d["step"] for d in dumps] == [0, 1]
    for dump in dumps:
        shaped = torch.tensor(dump["shaped"])
        for group in shaped[:, 0].view(-1, 4):
            assert sorted(group.tolist()) == pytest.approx([-1, -1 / 3, 1 / 3, 1])
        expected = torch.stack([group_advantages(shaped[:, k], 4) for k in range(2)], 1)
        assert torch.allclose(torch.tensor(dump["advantages"]), expected.float(), atol=1e-6)
    assert [r["step"] for r in read_jsonl(os.path.join(out, "metrics.jsonl"))] == [1, 2]
    events = [f for _, _, files in os.walk(out) for f in files if f.startswith("events.out.tfevents")]
    assert events, "no TensorBoard event file"


def test_peft_lora_run_scores_adapters(tiny_model_dir, prompts_file, tmp_path):
    out = run_training(tiny_model_dir, prompts_file, tmp_path / "out", use_peft=True, lora_r=4,
                       lora_target_modules=["q_proj", "v_proj"], reward_dump=True)
    assert os.path.exists(os.path.join(out, "adapter_model.safetensors"))
    record = read_jsonl(os.path.join(out, "metrics.jsonl"))[0]
    assert record["rewards/vigor/grad_norm_mean"] > 0


def test_collapse_guard_warns_then_stops(tiny_model_dir, prompts_file, tmp_path, caplog):
    from vigor.training import TrainingStopped

    with caplog.at_level("WARNING", logger="vigor.training"):
        run_training(tiny_model_dir, prompts_file, tmp_path / "warn", max_steps=2, collapse_min_entropy=1e9)
    assert "collapse guard: entropy" in caplog.text
    assert len(read_jsonl(tmp_path / "warn" / "metrics.jsonl")) == 2

    with pytest.raises(TrainingStopped, match=r"collapse guard: mean completion length .* above 0\.5 at step 1"):
        run_training(tiny_model_dir, prompts_file, tmp_path / "stop", max_steps=3, collapse_max_length=0.5,
                     collapse_stop=True)
    assert len(read_jsonl(tmp_path / "stop" / "metrics.jsonl")) == 1


def test_code_data_feed_the_sandboxed_accuracy_monitor(tiny_model_dir, tmp_path):
    import json

    data = tmp_path / "code.jsonl"
    with open(data, "w") as f:
        for i in range(4):
            f.write(json.dumps({"task_id": f"t/{i}", "prompt": f"def f{i}(x):\n",
                                "test": f"def check(g):\n    assert g({i}) == {i}\n", "entry_point": f"f{i}"}) + "\n")
    out = run_training(tiny_model_dir, str(data), tmp_path / "out", monitor_accuracy=True, reward_dump=True)
    [dump] = read_jsonl(os.path.join(out, "rewards.jsonl"))
    assert dump["rewards"] == ["vigor", "accuracy"] and dump["weights"] == [1.0, 0.0]
    accuracy = [row[1] for row in dump["raw"]]
    assert all(a in (0.0, 1.0) for a in accuracy)  # graded (random text fails), not NaN
    assert "gold_accuracy" in read_jsonl(os.path.join(out, "metrics.jsonl"))[0]


def test_model_card_names_the_local_base_model_and_the_rewards(tiny_model_dir, prompts_file, tmp_path):
    out = run_training(tiny_model_dir, prompts_file, tmp_path / "out", reward="vigor,random:0.5")
    with open(os.path.join(out, "README.md"), encoding="utf-8") as handle:
        card = handle.read()
    assert "None" not in card, card  # TRL names a model loaded from a folder "None"
    assert f"fine-tuned version of `{tiny_model_dir}`" in card
    assert f'model="{out}"' in card
    assert "Rewards (`--reward`): `vigor,random:0.5`" in card
    assert "- vigor\n" in card  # a tag
