"""A 2-step `vigor train` under FSDP2 completes on 2 CPU processes (gloo), with the model really
sharded while the VIGOR reward scores it, the same rewards as the unsharded run, and a whole final model.

accelerate 1.15 enables FSDP only on GPUs; `fsdp2_cpu_launch.py` (test-only) lifts that one gate,
then the real `vigor train` runs: accelerate's `fsdp2_prepare_model` shards every decoder layer
with torch's `fully_shard`, TRL generates with the sharded model, the trainer's reward call runs the
gradient-norm engine on it, the optimizer steps on the shards, a sharded checkpoint and the final
model are saved. The environment is what `accelerate launch` sets for an FSDP2 config without
`fsdp_state_dict_type`, so accelerate's FSDP2 default SHARDED_STATE_DICT is in force.

The reference is the same 2-process launch without FSDP (DDP: every process holds the whole model),
not a 1-process run: with one process the 8 completions of a group are sampled in one batch from one
random stream instead of 4 per process from two, so the completions (and so the rewards) differ.
Given the same completions, the raw VIGOR rewards must agree to 1e-5 relative (float32; measured on
this CPU: bit-identical, since all-gathering the shards restores the same weights and the 2-process
reduce-scatter adds the same two gradients as DDP's all-reduce).
"""

import os
import sys

import pytest
import torch

from tests.training.test_distributed_and_resume import run
from tests.training.training_helpers import as_cli_args, read_jsonl, tiny_run_options

LAUNCHER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fsdp2_cpu_launch.py")
TORCHRUN = os.path.join(os.path.dirname(sys.executable), "torchrun")
FSDP2_ENV = {"ACCELERATE_USE_FSDP": "true", "FSDP_VERSION": "2"}  # as `accelerate launch` sets them
REWARD_RTOL = 1e-5
WEIGHT_RTOL, WEIGHT_ATOL = 1e-5, 1e-7  # the final weights after 2 optimizer steps


def _train(options, env=None):
    return run([TORCHRUN, "--standalone", "--nproc-per-node", "2", LAUNCHER, "train", *as_cli_args(options)],
               env=env)


@pytest.mark.slow
def test_two_step_train_under_fsdp2_matches_unsharded(tiny_model_dir, prompts_file, tmp_path):
    from safetensors.torch import load_file

    common = dict(per_device_train_batch_size=4, num_generations=8, max_steps=2, reward_dump=True, seed=7)
    sharded_out, reference_out = tmp_path / "fsdp2", tmp_path / "ddp"
    sharded = _train(tiny_run_options(tiny_model_dir, prompts_file, sharded_out, save_strategy="steps",
                                      save_steps=2, **common), env=FSDP2_ENV)
    assert sharded.returncode == 0, sharded.stderr[-3000:]
    assert "vigor train: FSDP2 over 2 processes" in sharded.stdout  # the line gpu_check.sh looks for
    reference = _train(tiny_run_options(tiny_model_dir, prompts_file, reference_out, **common))
    assert reference.returncode == 0, reference.stderr[-3000:]
    assert "FSDP" not in reference.stdout

    # the policy the reward scored was sharded on both processes, at both steps
    for rank in range(2):
        rows = read_jsonl(sharded_out / f"sharding-rank{rank}.jsonl")
        assert [r["step"] for r in rows] == [0, 1]
        for r in rows:
            assert r["fsdp_module"] and r["world_size"] == 2 and r["layer_params"] > 0
            assert r["layer_params_sharded"] == r["layer_params"], r
            assert r["layer_local_numel"] <= r["layer_full_numel"] // 2 + r["layer_params"], r  # about half each
    assert all(not r["fsdp_module"] for r in read_jsonl(reference_out / "sharding-rank0.jsonl"))

    got, want = read_jsonl(sharded_out / "rewards.jsonl"), read_jsonl(reference_out / "rewards.jsonl")
    assert [d["step"] for d in got] == [d["step"] for d in want] and len(got) == 2
    for g, w in zip(got, want):
        assert g["completions"] == w["completions"], f"step {g['step']}: the two runs sampled differently"
        raw_g, raw_w = torch.tensor(g["raw"], dtype=torch.float64), torch.tensor(w["raw"], dtype=torch.float64)
        assert (raw_w < 0).all() and raw_w.std() > 0  # VIGOR rewards are -||grad||, spread within the group
        rel = ((raw_g - raw_w).abs() / raw_w.abs()).max().item()
        print(f"step {g['step']}: max relative reward difference FSDP2 vs DDP {rel:.1e}")
        assert rel <= REWARD_RTOL, f"step {g['step']}: rewards differ by {rel:.2e} relative"

    # a sharded checkpoint and a whole final model (transformers alone would save nothing here)
    assert (sharded_out / "checkpoint-2" / "trainer_state.json").exists()
    final, expected = load_file(sharded_out / "model.safetensors"), load_file(reference_out / "model.safetensors")
    initial = load_file(os.path.join(tiny_model_dir, "model.safetensors"))
    assert final.keys() == expected.keys()
    for name in expected:
        torch.testing.assert_close(final[name], expected[name], rtol=WEIGHT_RTOL, atol=WEIGHT_ATOL, msg=name)
    assert any(not torch.equal(expected[n], initial[n]) for n in initial), "training changed no weight"
