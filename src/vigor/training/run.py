"""`train(config) -> output folder`: check everything cheap first (vigor.training.preflight), then load, build
(vigor.training.assembly) and train."""

from __future__ import annotations

from vigor.training.assembly import build_trainer, save_final_model
from vigor.training.config import VigorGRPOConfig
from vigor.training.preflight import ConfigError, check_before_loading  # noqa: F401  (re-exported: callers' imports)

__all__ = ["ConfigError", "TrainingStopped", "build_trainer", "check_before_loading", "train"]


class TrainingStopped(RuntimeError):
    """The collapse guard stopped the run; the message says which threshold and when."""


def train(config: VigorGRPOConfig, *, callbacks=None) -> str:
    """Train with GRPO and the configured rewards; return the folder holding the final model."""
    from vigor.training.checkpoints import train_from

    trainer, checkpoint = build_trainer(config, callbacks=callbacks)
    train_from(trainer, checkpoint)  # trainer.train, but not past the last step
    save_final_model(trainer, config.output_dir)
    if trainer.collapse_guard.reason:
        raise TrainingStopped(f"{trainer.collapse_guard.reason}; the model so far is in {config.output_dir}")
    return config.output_dir
