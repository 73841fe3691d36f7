"""`VigorGRPOTrainer`: TRL's `GRPOTrainer` with the vigor reward family plugged in at one seam.

TRL 1.16 calls `_calculate_rewards(inputs, prompts, completions, completion_ids)` and expects a
[completions of all processes, reward functions] tensor, which it sums with `reward_weights` and
normalises per group. We override that method only:

1. score the local completions with every reward (one no-grad forward for the logit-based
   rewards, the gradient-norm engine on the unwrapped policy for VIGOR);
2. gather the raw scores of all processes, so each group of G completions is whole;
3. shape each reward (VIGOR's ranks) and turn it into its own GRPO group advantage A_k;
4. hand TRL the columns A_k. With TRL's own scaling switched off (`self.scale_rewards = "none"`),
   TRL's advantage is sum_k w_k A_k - group mean = sum_k w_k A_k (every A_k has group mean 0):
   the reference's "verifier advantage added to VIGOR's". `args.scale_rewards` still picks how
   each A_k is scaled ('group' std by default, 'batch' or 'none').

`_generate` is wrapped only to keep the prompt token ids, which `_calculate_rewards` is not given.
TRL's own `rewards/<name>/mean|std` therefore describe the per-reward advantages; the raw rewards
are logged as `rewards/<name>/raw_mean|raw_std` (plus VIGOR's gradient-norm statistics).
"""

from __future__ import annotations

import json
import os
import warnings

import torch
import trl
from accelerate.utils import gather
from trl import GRPOTrainer

from vigor.rewards import GroupView, RewardSet, build_rollouts, repetition_ratio
from vigor.training.callbacks import CollapseGuardCallback, MetricsFileCallback
from vigor.training.config import VigorGRPOConfig


TESTED_TRL_VERSION = "1.16.0"  # `_calculate_rewards` / `_generate` are private seams: re-check on upgrade
if trl.__version__ != TESTED_TRL_VERSION:
    warnings.warn(f"vigor's trainer was tested with trl=={TESTED_TRL_VERSION}, found trl=={trl.__version__}",
                  stacklevel=2)

# Dataset columns handed to the rewards as the gold of each completion (see vigor.rewards.Rollouts).
GOLD_COLUMNS = ("answer", "tests", "entry_point", "problem", "test_setup_code")


def _scored_by_trainer(name: str):
    """The entry TRL keeps per reward (for names and weights); scoring happens in
    `VigorGRPOTrainer._calculate_rewards`, so calling it is a bug."""
    def reward_func(**_):
        raise RuntimeError(f"reward {name!r} is computed by VigorGRPOTrainer._calculate_rewards")
    reward_func.__name__ = name
    return reward_func


class VigorGRPOTrainer(GRPOTrainer):
    def __init__(self, model, args: VigorGRPOConfig, *, reward_set: RewardSet | None = None, callbacks=None,
                 **kwargs):
        self.reward_set = reward_set or RewardSet.from_spec(
            args.reward, args.reward_options(), statistics_temperature=args.reward_temperature,
            micro_batch_size=args.grad_norm_micro_batch_size)
        args.reward_weights = list(self.reward_set.weights)
        self.collapse_guard = CollapseGuardCallback(args)
        callbacks = [MetricsFileCallback(args.output_dir), self.collapse_guard, *(callbacks or [])]
        super().__init__(model=model, reward_funcs=[_scored_by_trainer(n) for n in self.reward_set.names],
                         args=args, callbacks=callbacks, **kwargs)
        self.scale_rewards = "none"  # the columns are already advantages; see the module docstring
        self._check_sharding()
        if args.compile_generation:  # TRL builds its GenerationConfig with compilation off
            from transformers import CompileConfig

            compile_config = CompileConfig()
            compile_config._compile_all_devices = True  # transformers compiles only on CUDA by default
            self.generation_config.disable_compile = False
            self.generation_config.compile_config = compile_config

    def _check_sharding(self):
        """Backstop of `vigor.training.backends.check_backends` (which runs before the model loads)
        for a trainer built directly: refuse a sharding the gradient-norm engine cannot run under."""
        from vigor.training.backends import unsupported_sharding

        if not any(r.needs == "gradients" for r in self.reward_set.rewards):
            return
        state = self.accelerator.state
        ds, fsdp = getattr(state, "deepspeed_plugin", None), getattr(state, "fsdp_plugin", None)
        found = ("deepspeed", ds.zero_stage) if ds is not None else ("fsdp", fsdp.fsdp_version) if fsdp else None
        reason = found and unsupported_sharding(*found)
        if reason:
            raise ValueError(reason)

    def _generate(self, prompts):
        out = super()._generate(prompts)
        self._prompt_ids = out[0]
        return out

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        device = self.accelerator.device
        mode = "train" if self.model.training else "eval"
        group_size = self.num_generations if mode == "train" else self.num_generations_eval
        texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
        rollouts = build_rollouts(
            self._prompt_ids, completion_ids_list, eos_token_ids=self.eos_token_ids,
            pad_token_id=self._tokenizer.pad_token_id, completions=texts,
            golds=[{k: x[k] for k in GOLD_COLUMNS if x.get(k) is not None} for x in inputs],
            step=self.state.global_step,
            process_index=self.accelerator.process_index, device=device)
        policy = self.accelerator.unwrap_model(self.model)
        raw_local = self.reward_set.score(rollouts, policy)
        n = self.args.repetition_ngram
        facts_local = torch.stack([
            rollouts.completion_lengths.double(), rollouts.truncated.double(), rollouts.empty.double(),
            torch.tensor([repetition_ratio(rollouts.input_ids[b][rollouts.loss_mask[b].bool()].tolist(), n)
                          for b in range(len(rollouts))], dtype=torch.float64)], dim=1)
        raw = gather(raw_local.to(device)).cpu()
        facts = gather(facts_local.to(device)).cpu()
        view = GroupView(lengths=facts[:, 0].long(), truncated=facts[:, 1].bool(), empty=facts[:, 2].bool())
        shaped, advantages = self.reward_set.advantages(raw, view, group_size, scale=self.args.scale_rewards)
        self._log_reward_metrics(mode, raw, view, facts[:, 3])
        if self.args.reward_dump and self.accelerator.is_main_process:
            self._dump(raw, shaped, advantages, view, len(prompts))
        return advantages.float().to(device)

    def _log_reward_metrics(self, mode, raw, view, repetition):
        metrics = self._metrics[mode]
        for k, reward in enumerate(self.reward_set.rewards):
            for key, value in reward.metrics(raw[:, k], view).items():
                metrics[f"rewards/{reward.name}/{key}"].append(value)
            if reward.name == "accuracy":
                valid = raw[:, k][~torch.isnan(raw[:, k])]
                if valid.numel():
                    metrics["gold_accuracy"].append(valid.mean().item())
        metrics["completions/truncation_rate"].append(view.truncated.double().mean().item())
        metrics["completions/empty_rate"].append(view.empty.double().mean().item())
        metrics["completions/repetition_ratio"].append(repetition.mean().item())

    def _dump(self, raw, shaped, advantages, view, local_count):
        record = {"step": self.state.global_step, "rewards": self.reward_set.names,
                  "weights": self.reward_set.weights, "local_count": local_count,
                  "process": [i // local_count for i in range(raw.shape[0])],
                  "raw": raw.tolist(), "shaped": shaped.tolist(), "advantages": advantages.tolist(),
                  "lengths": view.lengths.tolist(), "truncated": view.truncated.tolist(),
                  "empty": view.empty.tolist()}
        os.makedirs(self.args.output_dir, exist_ok=True)
        with open(os.path.join(self.args.output_dir, "rewards.jsonl"), "a") as f:
            f.write(json.dumps(record, allow_nan=True) + "\n")
