"""GRPO training with the vigor rewards: a thin subclass of TRL's GRPOTrainer, its config, `train()`.

Names are imported on first use (PEP 562) so that `vigor.training.cli` loads without TRL.
"""

import importlib

_EXPORTS = {
    "VigorGRPOConfig": "vigor.training.config",
    "VigorGRPOTrainer": "vigor.training.trainer",
    "ConfigError": "vigor.training.run",
    "TrainingStopped": "vigor.training.run",
    "last_checkpoint": "vigor.training.checkpoints",
    "train": "vigor.training.run",
}

__all__ = list(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'vigor.training' has no attribute {name!r}")
