"""Under FSDP2 (`fully_shard` per decoder layer and on the whole model, 2 CPU processes over
gloo) the engine returns the unsharded model's per-sample gradient norms and leaves `.grad` alone,
and the trainer's reward call (`RewardSet.score`: VIGOR and self-certainty from one pass) gives
the unsharded rewards.

Each process builds the same random model and batch (same seed), computes the unsharded norms,
shards a copy and computes them again; process 0 compares. Tolerances: 1e-9 relative in
float64, 1e-5 relative in float32 (measured on this CPU: 0, bit-identical, since all-gathering
the shards restores the same weights and the engine never reads the sharded `.grad`)."""

import os
import random
import socket

import pytest
import torch
import torch.multiprocessing as mp

TOLERANCE = {torch.float64: 1e-9, torch.float32: 1e-5}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank, world, port, seed, dtype, arch, results):
    import copy

    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard
    from torch.distributed.tensor import DTensor

    from vigor.gradnorm import per_sample_grad_norms
    from vigor.rewards import RewardSet, build_rollouts
    from vigor.tiny import tiny_causal_lm

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        model = tiny_causal_lm(arch, seed=seed, dtype=dtype, vocab_size=96, hidden_size=32, layers=2)
        gen = torch.Generator().manual_seed(seed)
        batch, length = 6, 20
        input_ids = torch.randint(4, 96, (batch, length), generator=gen)
        attention_mask = torch.ones(batch, length, dtype=torch.long)
        attention_mask[1, :5] = 0  # left padding on some rows
        attention_mask[4, :9] = 0
        loss_mask = torch.zeros(batch, length, dtype=torch.long)
        loss_mask[:, 12:] = 1
        loss_mask[2, 16:] = 0  # a shorter completion
        loss_mask *= attention_mask
        unsharded = per_sample_grad_norms(model, input_ids, attention_mask, loss_mask)
        # the trainer's call: every reward of a step from one engine pass (VIGOR + a logit reward)
        rewards = RewardSet.from_spec("vigor,self_certainty", {"vigor": {"shaping": "none"}})
        prompts = [[int(t) for t in input_ids[b, :12]] for b in range(batch)]
        completions = [[int(t) for t in input_ids[b, 12:12 + 3 + b]] for b in range(batch)]
        rollouts = build_rollouts(prompts, completions, eos_token_ids=[2], pad_token_id=0,
                                  completions=["x"] * batch)
        unsharded_rewards = rewards.score(rollouts, model)

        sharded = copy.deepcopy(model)
        mesh = init_device_mesh("cpu", (world,))
        for layer in sharded.model.layers:
            fully_shard(layer, mesh=mesh)
        fully_shard(sharded, mesh=mesh)
        assert all(isinstance(p, DTensor) for p in sharded.parameters()), "fully_shard left a plain tensor"
        got = per_sample_grad_norms(sharded, input_ids, attention_mask, loss_mask)
        got_rewards = rewards.score(rollouts, sharded)
        grads_untouched = all(p.grad is None for p in sharded.parameters())
        results[rank] = (unsharded.tolist(), got.tolist(), grads_untouched, unsharded_rewards.tolist(),
                         got_rewards.tolist())
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("arch", ["qwen2", "llama"])
def test_fsdp2_norms_equal_unsharded(dtype, arch):
    seed = random.randrange(2**31)
    world = 2
    with mp.Manager() as manager:
        results = manager.dict()
        mp.spawn(_worker, args=(world, _free_port(), seed, dtype, arch, results), nprocs=world, join=True)
        results = dict(results)
    for rank in range(world):
        unsharded, got, grads_untouched, unsharded_rewards, got_rewards = results[rank]
        unsharded, got = torch.tensor(unsharded, dtype=torch.float64), torch.tensor(got, dtype=torch.float64)
        assert (unsharded > 0).all(), f"seed {seed}: a zero norm makes the comparison vacuous"
        rel = ((got - unsharded).abs() / unsharded).max().item()
        print(f"{arch} {dtype} rank {rank}: max relative difference {rel:.1e}")
        assert rel <= TOLERANCE[dtype], f"seed {seed} rank {rank}: relative difference {rel:.2e}"
        assert grads_untouched, f"seed {seed} rank {rank}: the engine filled .grad"
        unsharded_rewards = torch.tensor(unsharded_rewards, dtype=torch.float64)
        got_rewards = torch.tensor(got_rewards, dtype=torch.float64)
        assert not torch.isnan(unsharded_rewards).any() and (unsharded_rewards[:, 0] < 0).all()
        torch.testing.assert_close(got_rewards, unsharded_rewards, rtol=TOLERANCE[dtype], atol=0,
                                   msg=f"seed {seed} rank {rank}: rewards differ under FSDP2")
