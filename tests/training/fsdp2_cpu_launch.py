"""TEST-ONLY launcher: `vigor train` under FSDP2 on CPU processes (gloo), for test_fsdp2_train.py.

    torchrun --standalone --nproc-per-node 2 tests/training/fsdp2_cpu_launch.py train [vigor train args]
    (with ACCELERATE_USE_FSDP=true FSDP_VERSION=2 in the environment, as `accelerate launch` sets them)

accelerate 1.15 turns FSDP on only for GPU-like distributed types (`AcceleratorState.__init__`,
accelerate/state.py, the `distributed_type in [MULTI_GPU, ...]` branch); on CPUs it keeps MULTI_CPU
and wraps the model in DDP. This launcher lifts exactly that gate and nothing else: when accelerate
built a MULTI_CPU state and was given an FSDP plugin, it switches the state to FSDP as the GPU branch
would (`fsdp2_prepare_model` and torch's `fully_shard` then run unchanged, on a CPU mesh), and lets
vigor's own pre-load refusal of FSDP on a CPU (`backends.FSDP_DEVICE_TYPES`) accept "cpu". Users never
get this: it lives under tests/ and is imported by nothing in vigor.

It also records, for every reward call, whether the policy the reward scores is really sharded:
`<output_dir>/sharding-rank<R>.jsonl`, one row per step.
"""

import json
import os
import sys

from accelerate.state import AcceleratorState, PartialState
from accelerate.utils import DistributedType

from vigor.training import backends
from vigor.training import trainer as trainer_module

_accelerate_init = AcceleratorState.__init__


def _init_with_fsdp_on_cpu(self, *args, fsdp_plugin=None, **kwargs):
    _accelerate_init(self, *args, fsdp_plugin=fsdp_plugin, **kwargs)
    if self.distributed_type == DistributedType.MULTI_CPU and fsdp_plugin is not None:
        # what accelerate/state.py does on the GPU branch
        self.distributed_type = DistributedType.FSDP
        if self._mixed_precision != "no":
            fsdp_plugin.set_mixed_precision(self._mixed_precision)
        self.fsdp_plugin = fsdp_plugin
        PartialState._shared_state["distributed_type"] = self.distributed_type


AcceleratorState.__init__ = _init_with_fsdp_on_cpu
backends.FSDP_DEVICE_TYPES = (*backends.FSDP_DEVICE_TYPES, "cpu")

_calculate_rewards = trainer_module.VigorGRPOTrainer._calculate_rewards


def _recording_calculate_rewards(self, *args, **kwargs):
    """Write what the reward is about to score: the policy `_calculate_rewards` hands the engine."""
    from torch.distributed.fsdp import FSDPModule
    from torch.distributed.tensor import DTensor, Shard

    policy = self.accelerator.unwrap_model(self.model)
    layers = [p for name, p in policy.named_parameters() if ".layers." in name]
    row = {
        "step": self.state.global_step,
        "fsdp_module": isinstance(policy, FSDPModule),
        "layer_params": len(layers),
        # a decoder-layer parameter is sharded when it is a DTensor split along dim 0 over the mesh
        "layer_params_sharded": sum(isinstance(p, DTensor) and p.placements == (Shard(0),) for p in layers),
        "layer_local_numel": sum(p.to_local().numel() if isinstance(p, DTensor) else p.numel() for p in layers),
        "layer_full_numel": sum(p.numel() for p in layers),
        "world_size": self.accelerator.num_processes,
    }
    path = os.path.join(self.args.output_dir, f"sharding-rank{self.accelerator.process_index}.jsonl")
    os.makedirs(self.args.output_dir, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")
    return _calculate_rewards(self, *args, **kwargs)


trainer_module.VigorGRPOTrainer._calculate_rewards = _recording_calculate_rewards

if __name__ == "__main__":
    from vigor.cli import main

    sys.exit(main(sys.argv[1:]))
