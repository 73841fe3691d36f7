"""`VigorGRPOTrainer`: TRL's `GRPOTrainer` with the vigor reward family plugged in at one seam.

TRL 1.16 calls `_calculate_rewards(inputs, prompts, completions, completion_ids)` and expects a
[completions of all processes, reward functions] tensor, which it sums with `reward_weights` and
normalises per group. We override that method only:

1. score the local completions with every reward (one no-grad forward for the logit-based
   rewards, the gradient-norm engine on the unwrapped policy for VIGOR, TRL reward functions
   called as TRL calls them);
2. gather the raw scores of all processes, so each group of G completions is whole;
3. shape each reward (VIGOR's ranks) and turn it into its own GRPO group advantage A_k;
4. hand TRL the columns A_k. With TRL's own scaling switched off (`self.scale_rewards = "none"`),
   TRL's advantage is sum_k w_k A_k - group mean = sum_k w_k A_k (every A_k has group mean 0):
   the reference's "verifier advantage added to VIGOR's". `args.scale_rewards` still picks how
   each A_k is scaled ('group' std by default, 'batch' or 'none').

`_generate` is wrapped only to keep the prompt token ids, which `_calculate_rewards` is not given.
TRL then logs `reward`, `reward_std` and `rewards/<name>/mean|std` from the columns it was handed,
the advantages (about 0 by construction); `_generate_and_score_completions` puts back the values
users read there: the weighted raw reward and each reward's raw mean and std (see the README's
table of logged keys). `check_trl_seams` fails loudly when these private seams change shape.
"""

from __future__ import annotations

import inspect
import json
import logging
import math
import os
import warnings

import torch
import trl
from accelerate.utils import gather, gather_object
from trl import GRPOTrainer

from vigor import __version__ as vigor_version
from vigor.data.gold import Gold
from vigor.rewards import GroupView, RewardSet, build_rollouts, repetition_ratio
from vigor.training.callbacks import CollapseGuardCallback, MetricsFileCallback, PremiseCallback
from vigor.training.checkpoints import staged_checkpoint
from vigor.training.completions import completion_rows, write_completions
from vigor.training.config import VigorGRPOConfig
from vigor.training.premise import CATEGORY_COLUMN, premise_setup

logger = logging.getLogger("vigor.training")

TESTED_TRL_VERSION = "1.16.0"  # `_calculate_rewards` / `_generate` are private seams: re-check on upgrade
if trl.__version__ != TESTED_TRL_VERSION:
    warnings.warn(f"vigor's trainer was tested with trl=={TESTED_TRL_VERSION}, found trl=={trl.__version__}",
                  stacklevel=2)

CALCULATE_REWARDS_PARAMETERS = ("self", "inputs", "prompts", "completions", "completion_ids_list")
GENERATE_RETURN_LENGTH = 8  # prompt_ids, completion_ids, tool_mask, completions, logprobs, extra, images, tool_images


class TRLSeamError(RuntimeError):
    """TRL's private methods that vigor overrides changed shape: vigor must be updated for this TRL."""


def check_trl_seams(trainer_class=GRPOTrainer) -> None:
    """Raise TRLSeamError unless `_calculate_rewards` and `_generate` look as in TRL 1.16."""
    found = tuple(inspect.signature(trainer_class._calculate_rewards).parameters)
    if found != CALCULATE_REWARDS_PARAMETERS:
        raise TRLSeamError(f"trl {trl.__version__}: GRPOTrainer._calculate_rewards{found} is not "
                           f"{CALCULATE_REWARDS_PARAMETERS} (tested with trl=={TESTED_TRL_VERSION})")
    if tuple(inspect.signature(trainer_class._generate).parameters) != ("self", "prompts"):
        raise TRLSeamError(f"trl {trl.__version__}: GRPOTrainer._generate takes "
                           f"{tuple(inspect.signature(trainer_class._generate).parameters)}, not (self, prompts)")


def check_generate_output(out, n_prompts: int) -> None:
    if not (isinstance(out, tuple) and len(out) == GENERATE_RETURN_LENGTH and isinstance(out[0], list)
            and len(out[0]) == n_prompts and all(isinstance(ids, list) for ids in out[0])):
        shape = f"a {type(out).__name__} of length {len(out)}" if isinstance(out, (tuple, list)) else type(out).__name__
        raise TRLSeamError(f"trl {trl.__version__}: GRPOTrainer._generate returned {shape}; vigor expects a tuple of "
                           f"{GENERATE_RETURN_LENGTH} starting with the prompt token-id lists "
                           f"(tested with trl=={TESTED_TRL_VERSION})")


def _scored_by_trainer(name: str):
    """The entry TRL keeps per reward (for names and weights); scoring happens in
    `VigorGRPOTrainer._calculate_rewards`, so calling it is a bug."""
    def reward_func(**_):
        raise RuntimeError(f"reward {name!r} is computed by VigorGRPOTrainer._calculate_rewards")
    reward_func.__name__ = name
    return reward_func


def completion_text(completion) -> str:
    """TRL's completion: text, or for conversational data a list of messages whose last is the answer."""
    return completion[-1]["content"] if isinstance(completion, list) else completion


class VigorGRPOTrainer(GRPOTrainer):
    checkpoint_staging: str | None = None  # where the checkpoint being saved is written (staged_checkpoint)

    def __init__(self, model, reward_funcs=None, args: VigorGRPOConfig | None = None, train_dataset=None,
                 eval_dataset=None, processing_class=None, reward_processing_classes=None, callbacks=None,
                 optimizers=(None, None), quantization_config=None, peft_config=None, tools=None, rollout_func=None,
                 environment_factory=None, *, reward_set: RewardSet | None = None):
        """TRL 1.16's GRPOTrainer arguments, same names and meanings (vigor.training.trl_args says how each is
        read: `reward_funcs` may name vigor rewards; `args` may be a plain GRPOConfig). `reward_set`: rewards
        already built by `vigor train` (vigor.training.assembly), instead of `reward_funcs` / `args.reward`."""
        from vigor.training.trl_args import (RewardModelScore, as_vigor_config, check_rollout_arguments, load_policy,
                                             reward_terms, with_gold_monitor)

        check_trl_seams()
        args = as_vigor_config(args, model)
        if reward_set is not None and reward_funcs is not None:
            raise ValueError("reward_funcs and reward_set both given: pass one")
        # every check of the rewards before the model loads
        terms = reward_set.rewards if reward_set is not None else with_gold_monitor(
            reward_terms(reward_funcs, args, reward_processing_classes), train_dataset, args)
        check_rollout_arguments(terms, tools=tools, rollout_func=rollout_func, environment_factory=environment_factory)
        model, processing_class = load_policy(model, args, processing_class, quantization_config)
        self.reward_set = reward_set or RewardSet.from_terms(
            terms, statistics_temperature=args.reward_temperature, micro_batch_size=args.grad_norm_micro_batch_size)
        # what the model card names: the spec as given, or the reward_funcs as names with their weights
        self.reward_spec = args.reward if reward_funcs is None else ",".join(
            f"{t.name}:{t.weight:g}" for t in terms)
        self.reward_set, self.premise = premise_setup(args, self.reward_set,  # None without gold (or turned off)
                                                      main_process=os.environ.get("RANK", "0") == "0")
        args.reward_weights = list(self.reward_set.weights)
        self.collapse_guard = CollapseGuardCallback(args)
        callbacks = [MetricsFileCallback(args.output_dir), self.collapse_guard,
                     *([PremiseCallback(self.premise)] if self.premise else []), *(callbacks or [])]
        super().__init__(model=model, reward_funcs=[_scored_by_trainer(n) for n in self.reward_set.names],
                         args=args, train_dataset=train_dataset, eval_dataset=eval_dataset,
                         processing_class=processing_class, callbacks=callbacks, optimizers=optimizers,
                         quantization_config=quantization_config, peft_config=peft_config, tools=tools,
                         rollout_func=rollout_func, environment_factory=environment_factory)
        if len(self.reward_funcs) != len(self.reward_set.names):  # an environment's get_reward, added by TRL
            raise ValueError("environment_factory: an environment with get_reward is not supported by vigor; score "
                             "with a reward function that reads its `environments` keyword instead")
        for reward in self.reward_set.rewards:  # a reward model runs where the policy runs
            if isinstance(getattr(reward, "func", None), RewardModelScore):
                reward.func.model.to(self.accelerator.device)
        self.scale_rewards = "none"  # the columns are already advantages; see the module docstring
        self._reported_rewards = None
        self._check_sharding()
        columns = getattr(train_dataset, "column_names", None)  # None: a dataset that does not say (gather anyway)
        self._has_categories = columns is None or CATEGORY_COLUMN in columns
        if args.compile_generation:  # TRL builds its GenerationConfig with compilation off
            from transformers import CompileConfig

            compile_config = CompileConfig()
            compile_config._compile_all_devices = True  # transformers compiles only on CUDA by default
            self.generation_config.disable_compile = False
            self.generation_config.compile_config = compile_config

    def create_model_card(self, model_name=None, dataset_name=None, tags=None):
        """TRL's card, mended for local models and saying which rewards trained it. TRL names a model loaded
        from a folder as base model `None` (with a link to huggingface.co/None) and a pipeline for model "None";
        vigor names the folder and the run's output folder instead, and adds the reward spec."""
        super().create_model_card(model_name=model_name, dataset_name=dataset_name,
                                  tags=["vigor", *([tags] if isinstance(tags, str) else tags or [])])
        path = os.path.join(self.args.output_dir, "README.md")
        if not (self.is_world_process_zero() and os.path.isfile(path)):
            return
        with open(path, encoding="utf-8") as handle:
            card = handle.read()
        base = getattr(self.model.config, "_name_or_path", "") or "a local model"
        card = card.replace("[None](https://huggingface.co/None)", f"`{base}`")
        card = card.replace('model="None"', f"model={json.dumps(str(self.args.output_dir))}")
        card = card.replace("## Training procedure\n", "## Training procedure\n\nRewards (`--reward`): "
                            f"`{self.reward_spec}`, computed by vigor {vigor_version}.\n", 1)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(card)

    def _save_checkpoint(self, model, trial):
        """transformers' save, written into a staging folder and renamed into place once whole, so that a kill
        leaves the previous checkpoints or the new one too (vigor.training.checkpoints)."""
        with staged_checkpoint(self, super()._get_output_dir(trial)):
            super()._save_checkpoint(model, trial)

    def _get_output_dir(self, trial):
        return self.checkpoint_staging or super()._get_output_dir(trial)

    def _check_sharding(self):
        """Backstop of `vigor.training.backends.check_backends` (which runs before the model loads)
        for a trainer built directly: refuse FSDP that was asked for but that accelerate left off
        (it would train unsharded), and a sharding the gradient-norm engine cannot run under."""
        from accelerate.utils import DistributedType

        from vigor.training.backends import fsdp_not_enabled, sharding, unsupported_sharding

        state = self.accelerator.state
        requested = sharding(self.args)
        if requested and requested[0] == "fsdp" and state.distributed_type != DistributedType.FSDP:
            raise ValueError(fsdp_not_enabled(requested, self.accelerator.device.type))
        if state.distributed_type == DistributedType.FSDP and self.accelerator.is_main_process:
            n = self.accelerator.num_processes
            print(f"vigor train: FSDP{state.fsdp_plugin.fsdp_version} over {n} process{'es' * (n != 1)}", flush=True)
        if not any(r.needs == "gradients" for r in self.reward_set.rewards):
            return
        ds, fsdp = getattr(state, "deepspeed_plugin", None), getattr(state, "fsdp_plugin", None)
        found = ("deepspeed", ds.zero_stage) if ds is not None else ("fsdp", fsdp.fsdp_version) if fsdp else None
        reason = found and unsupported_sharding(*found)
        if reason:
            raise ValueError(reason)

    def _generate(self, prompts):
        out = super()._generate(prompts)
        check_generate_output(out, len(prompts))
        self._prompt_ids = out[0]
        return out

    def _reward_function_kwargs(self, inputs, prompts, completions, completion_ids_list) -> dict:
        """The keyword arguments TRL 1.16's `_calculate_rewards` calls a reward function with."""
        keys = [key for key in inputs[0] if key not in ("prompt", "completion", "completion_ids")]
        kwargs = {key: [example[key] for example in inputs] for key in keys}
        kwargs.update(prompts=prompts, completions=completions, completion_ids=completion_ids_list,
                      trainer_state=self.state, log_extra=self._log_completion_extra, log_metric=self._log_metric)
        if getattr(self, "environments", None) is not None:
            kwargs["environments"] = self.environments
        return kwargs

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        device = self.accelerator.device
        mode = "train" if self.model.training else "eval"
        group_size = self.num_generations if mode == "train" else self.num_generations_eval
        texts = [completion_text(c) for c in completions]
        rollouts = build_rollouts(
            self._prompt_ids, completion_ids_list, eos_token_ids=self.eos_token_ids,
            pad_token_id=self._tokenizer.pad_token_id, completions=texts,
            golds=[Gold.from_row(x) for x in inputs], step=self.state.global_step,
            process_index=self.accelerator.process_index, device=device,
            reward_kwargs=self._reward_function_kwargs(inputs, prompts, completions, completion_ids_list))
        policy = self.accelerator.unwrap_model(self.model)
        raw_local = self.reward_set.score(rollouts, policy, statistics=self.premise is not None)
        n = self.args.repetition_ngram
        facts_local = torch.stack([
            rollouts.completion_lengths.double(), rollouts.truncated.double(), rollouts.empty.double(),
            torch.tensor([repetition_ratio(rollouts.input_ids[b][rollouts.loss_mask[b].bool()].tolist(), n)
                          for b in range(len(rollouts))], dtype=torch.float64)], dim=1)
        raw = gather(raw_local.to(device)).cpu()
        facts = gather(facts_local.to(device)).cpu()
        view = GroupView(lengths=facts[:, 0].long(), truncated=facts[:, 1].bool(), empty=facts[:, 2].bool())
        shaped, advantages = self.reward_set.advantages(raw, view, group_size, scale=self.args.scale_rewards)
        unscorable = torch.isnan(advantages).all(dim=1)
        if bool(unscorable.any()):  # TRL warns the same way
            logger.warning("step %d: no reward applies to %d of %d completions (None / not applicable); their "
                           "advantage is 0", self.state.global_step, int(unscorable.sum()), len(unscorable))
        reported = self.reward_set.reported(raw, shaped)
        combined = self.reward_set.combined_advantage(advantages)
        self._reported_rewards = (mode, reported)  # put into TRL's logs by _generate_and_score_completions
        self._log_reward_metrics(mode, raw, shaped, advantages, combined, view, facts[:, 3])
        if self.premise is not None and mode == "train":  # every process takes part in the gather
            statistics = gather(self.premise.local_statistics(rollouts).to(device)).cpu()
            # a collective only when the prompts carry categories (the same dataset, so the same answer, everywhere)
            categories = gather_object([x.get(CATEGORY_COLUMN) for x in inputs]) if self._has_categories else None
            self.premise.add(reported, statistics, view.lengths, group_size, categories)
        step, every = self.state.global_step, self.args.log_completions_every
        log_rows = mode == "train" and every > 0 and step % every == 0
        if self.args.reward_dump or log_rows:  # every process takes part in the gather
            all_prompts, all_texts = gather_object(list(prompts)), gather_object(texts)
            if self.accelerator.is_main_process and self.args.reward_dump:
                self._dump(raw, shaped, advantages, view, len(prompts), all_prompts, all_texts)
            if self.accelerator.is_main_process and log_rows:
                rows = completion_rows(step, all_prompts, all_texts, self.reward_set.names, reported, combined,
                                       group_size)
                write_completions(rows, self.args.output_dir, step, self.callback_handler.callbacks)
        return advantages.float().to(device)

    def _generate_and_score_completions(self, inputs):
        """TRL's, then its logged rewards replaced by the values users read (TRL logged the advantages)."""
        mode = "train" if self.model.training else "eval"
        metrics, names = self._metrics[mode], self.reward_set.names
        keys = ["reward", "reward_std", *(f"rewards/{n}/{s}" for n in names for s in ("mean", "std"))]
        before = {key: len(metrics[key]) for key in keys}
        out = super()._generate_and_score_completions(inputs)
        grown = [key for key in keys if len(metrics[key]) != before[key] + 1]
        if grown:
            raise TRLSeamError(f"trl {trl.__version__}: _generate_and_score_completions no longer logs {grown[0]!r} "
                               f"once per call (tested with trl=={TESTED_TRL_VERSION})")
        _, reported = self._reported_rewards
        weighted = self.reward_set.weighted_reward(reported)
        metrics["reward"][-1], metrics["reward_std"][-1] = _nanmean(weighted), _nanstd(weighted)
        for k, name in enumerate(names):
            metrics[f"rewards/{name}/mean"][-1] = _nanmean(reported[:, k])
            metrics[f"rewards/{name}/std"][-1] = _nanstd(reported[:, k])
            table = self._logs["rewards"][name]  # TRL's completions table (its own log_completions)
            for i in range(1, min(len(table), len(reported)) + 1):
                table[-i] = reported[-i, k].item()
        return out

    def log(self, logs, start_time=None):
        if self.premise is not None and self.model.training:  # the premise of the groups sampled since the last log
            logs.update(self.premise.step_metrics(self.state.global_step, write=self.is_world_process_zero()))
        super().log(logs, start_time)

    def _log_reward_metrics(self, mode, raw, shaped, advantages, combined, view, repetition):
        metrics = self._metrics[mode]
        for k, reward in enumerate(self.reward_set.rewards):
            for key, value in reward.metrics(raw[:, k], view).items():
                metrics[key].append(value)
            metrics[reward.metric_key("shaped_mean")].append(_nanmean(shaped[:, k]))
            metrics[reward.metric_key("shaped_std")].append(_nanstd(shaped[:, k]))
            metrics[reward.metric_key("advantage_std")].append(_nanstd(advantages[:, k]))
        metrics["advantages/std"].append(_nanstd(combined))
        metrics["advantages/abs_mean"].append(combined.abs().mean().item())
        metrics["completions/truncation_rate"].append(view.truncated.double().mean().item())
        metrics["completions/empty_rate"].append(view.empty.double().mean().item())
        metrics["completions/repetition_ratio"].append(repetition.mean().item())

    def _dump(self, raw, shaped, advantages, view, local_count, prompts, completions):
        record = {"step": self.state.global_step, "rewards": self.reward_set.names,
                  "weights": self.reward_set.weights, "local_count": local_count,
                  "process": [i // local_count for i in range(raw.shape[0])],
                  "raw": raw.tolist(), "shaped": shaped.tolist(), "advantages": advantages.tolist(),
                  "lengths": view.lengths.tolist(), "truncated": view.truncated.tolist(),
                  "empty": view.empty.tolist(), "prompts": prompts, "completions": completions}
        os.makedirs(self.args.output_dir, exist_ok=True)
        with open(os.path.join(self.args.output_dir, "rewards.jsonl"), "a") as f:
            f.write(json.dumps(record, allow_nan=True) + "\n")


# Why not torch.nanmean and trl.trainer.utils.nanstd: they define the same statistics (the mean, and the
# Bessel-corrected std sqrt(sum (x - mean)^2 / (n - 1)) over the non-NaN entries, NaN when n < 2) but not the
# same numbers. TRL 1.16's nanstd computes its correction n / (n - 1) from an integer count, so in float32
# (8/7 -> 1.14285719), which moves a float64 std by ~1e-8 relative; torch.nanmean sums with the NaNs zeroed in
# place, which rounds differently in the last bits. Kept as they are so that no logged number changes;
# tests/training/test_reward_statistics.py checks them against an exact reference and TRL's.

def _nanmean(values: torch.Tensor) -> float:
    """Mean of the non-NaN entries; NaN when there are none."""
    valid = values[~torch.isnan(values)]
    return valid.mean().item() if valid.numel() else math.nan


def _nanstd(values: torch.Tensor) -> float:
    """Unbiased std of the non-NaN entries (TRL's `nanstd`); NaN when fewer than two."""
    valid = values[~torch.isnan(values)]
    return valid.std().item() if valid.numel() > 1 else math.nan
