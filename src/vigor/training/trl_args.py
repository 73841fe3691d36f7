"""TRL 1.16's `GRPOTrainer.__init__` arguments, turned into vigor's before anything long starts.

`VigorGRPOTrainer(model="...", reward_funcs=["vigor", my_fn], args=GRPOConfig(...), train_dataset=ds)` is TRL's
quickstart with one import changed. Here:
- `args`: a plain `trl.GRPOConfig` becomes a `VigorGRPOConfig` with every GRPOConfig field's value kept as it is
  (TRL's defaults included, e.g. beta 0) and vigor's own fields at their defaults;
- `reward_funcs`: each entry becomes a typed reward term (vigor.rewards.spec): a vigor reward name with its
  '+option=value's, a callable with TRL's reward signature, or a reward model (a sequence-classification
  `PreTrainedModel`, or its folder / hub id) scored as TRL scores one; weights from `args.reward_weights` as in TRL;
- `tools`, `rollout_func`, `environment_factory`: completions that are not what the policy sampled (tool output
  spliced in, a custom rollout) would make a gradient- or logit-based reward score tokens the policy never
  chose, so they are refused with such a reward in the spec and passed on to TRL otherwise;
- `model`: a folder or id loads as `vigor train` loads it (`model_dtype`, `attn_implementation`); a
  `quantization_config` is passed on to TRL with an already loaded model only (vigor's loader takes none). The
  rewards stay exact with a quantized policy: the model that samples is the model that is scored.
"""

from __future__ import annotations

import dataclasses
import os

from vigor.training.config import VigorGRPOConfig

ROLLOUT_ARGUMENTS = ("tools", "rollout_func", "environment_factory")


def as_vigor_config(args, model) -> VigorGRPOConfig:
    """`args` as a VigorGRPOConfig: itself, a converted `trl.GRPOConfig`, or for None TRL's default
    (output_dir '<model name>-GRPO')."""
    from trl import GRPOConfig

    if isinstance(args, VigorGRPOConfig):
        return args
    if args is None:
        name = model if isinstance(model, str) else getattr(model.config, "_name_or_path", "") or "model"
        return VigorGRPOConfig(output_dir=f"{os.path.basename(os.path.normpath(name))}-GRPO")
    if not isinstance(args, GRPOConfig):
        raise TypeError(f"args: expected a VigorGRPOConfig or trl.GRPOConfig, got {type(args).__name__}")
    # Copied, not re-initialised: GRPOConfig.__post_init__ derives fields (generation_batch_size, bf16 ...) that a
    # second __post_init__ refuses or would derive again; vigor's own checks then run on the values as they are.
    converted = VigorGRPOConfig.__new__(VigorGRPOConfig)
    converted.__dict__.update(vars(args))
    trl_fields = {f.name for f in dataclasses.fields(GRPOConfig)}
    for f in dataclasses.fields(VigorGRPOConfig):
        if f.name not in trl_fields:
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            setattr(converted, f.name, default)
    converted.check_vigor_fields()
    converted.resolve_precision()
    converted.check_rollout_precision()
    return converted


def check_rollout_arguments(terms, **given) -> None:
    """A one-line error for a tools / rollout_func / environment_factory given with a reward that reads the
    policy's logits or gradient at the sampled tokens."""
    exact = [t.name for t in terms if t.needs in ("gradients", "logits")]
    for name in ROLLOUT_ARGUMENTS:
        if given.get(name) and exact:
            raise ValueError(f"{name}: refused with reward {exact[0]!r}, which scores the policy at the tokens it "
                             f"sampled; {name} puts other tokens into the completions (keep it with text rewards only)")


def reward_terms(reward_funcs, args: VigorGRPOConfig, reward_processing_classes=None) -> tuple:
    """The reward terms: from `reward_funcs` when given (weights `args.reward_weights`), else from `args.reward`."""
    from vigor.rewards import parse_rewards

    default_spec = next(f.default for f in dataclasses.fields(VigorGRPOConfig) if f.name == "reward")
    if reward_funcs is None:
        return parse_rewards(args.reward, args)  # its weights are the spec's
    entries = reward_funcs if isinstance(reward_funcs, list) else [reward_funcs]
    if not entries:
        raise ValueError("reward_funcs: an empty list; give at least one reward")
    if args.reward != default_spec:
        raise ValueError(f"reward_funcs and args.reward={args.reward!r} both given: reward_funcs is the reward "
                         f"spec, leave args.reward unset")
    processing = reward_processing_classes
    processing = [None] * len(entries) if processing is None else \
        processing if isinstance(processing, list) else [processing]
    if len(processing) != len(entries):
        raise ValueError(f"reward_processing_classes: {len(processing)} given for {len(entries)} reward_funcs")
    terms = tuple(_term(entry, tokenizer, args) for entry, tokenizer in zip(entries, processing))
    names = [t.name for t in terms]
    if len(set(names)) != len(names):
        raise ValueError(f"reward_funcs: a reward is listed twice (functions are named by their __name__): {names}")
    return _weighted(terms, args.reward_weights)


def _weighted(terms: tuple, weights) -> tuple:
    if weights is None:
        return terms
    if len(weights) != len(terms):
        raise ValueError(f"reward_weights: {len(weights)} weights for {len(terms)} rewards "
                         f"({', '.join(t.name for t in terms)})")
    return tuple(dataclasses.replace(t, weight=float(w)) for t, w in zip(terms, weights))


def _term(entry, tokenizer, args):
    from transformers import PreTrainedModel

    from vigor.rewards import REWARDS, parse_rewards
    from vigor.rewards.spec import function_term

    if isinstance(entry, PreTrainedModel):
        return function_term(RewardModelScore(entry, tokenizer))
    if isinstance(entry, str):
        reward = entry.split("+")[0].split(":")[0].strip()
        if reward in REWARDS or ":" in entry:
            (term,) = parse_rewards(entry, args)  # a vigor name with options, or a 'file.py:name' target
            return term
        if os.path.isdir(entry) or entry.count("/") == 1:  # a reward model's folder or hub id, as TRL takes it
            return function_term(RewardModelScore.load(entry, tokenizer, args), source=entry)
        raise ValueError(f"reward_funcs: unknown reward {entry!r}; choose from {', '.join(REWARDS)}, a function, "
                         f"or a reward model (folder, owner/name hub id or PreTrainedModel)")
    if callable(entry):
        return function_term(entry)
    raise ValueError(f"reward_funcs: {type(entry).__name__} is not a reward name, function or reward model")


class RewardModelScore:
    """A sequence-classification reward model as a TRL reward function: the score of prompt + completion (for
    conversations, the chat template over both) is the first logit, as TRL 1.16 scores `reward_funcs` models."""

    def __init__(self, model, tokenizer=None):
        from transformers import AutoTokenizer

        self.model = model.eval()
        self.tokenizer = tokenizer or AutoTokenizer.from_pretrained(model.config._name_or_path)
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        model.config.pad_token_id = self.tokenizer.pad_token_id  # the model finds each row's last token by it
        self.__name__ = (model.config._name_or_path or type(model).__name__).rstrip("/").split("/")[-1]

    @classmethod
    def load(cls, name: str, tokenizer, args) -> RewardModelScore:
        from transformers import AutoModelForSequenceClassification

        kwargs = {"trust_remote_code": args.trust_remote_code, **(args.model_init_kwargs or {})}
        try:
            model = AutoModelForSequenceClassification.from_pretrained(name, num_labels=1, **kwargs)
        except (OSError, ValueError) as err:
            raise ValueError(f"reward_funcs: cannot load reward model {name!r}: {str(err).strip().splitlines()[0]}"
                             ) from err
        return cls(model, tokenizer)

    def __call__(self, prompts, completions, **kwargs):
        import torch

        if isinstance(prompts[0], list):  # conversational: the template over the whole conversation
            texts = [self.tokenizer.apply_chat_template(p + c, tokenize=False) for p, c in zip(prompts, completions)]
        else:
            texts = [p + c for p, c in zip(prompts, completions)]
        inputs = self.tokenizer(texts, return_tensors="pt", padding=True, padding_side="right",
                                add_special_tokens=False)
        device = next(self.model.parameters()).device
        with torch.inference_mode():
            return self.model(**inputs.to(device)).logits[:, 0].tolist()


def load_policy(model, args: VigorGRPOConfig, processing_class, quantization_config):
    """(model, processing_class): a folder or id loaded as `vigor train` loads it, in training mode."""
    if not isinstance(model, str):
        return model, processing_class
    if quantization_config is not None:
        raise ValueError("quantization_config: vigor's loader takes none; load the quantized model yourself and "
                         "pass it as model (with peft_config, the norm is over the adapters)")
    if args.model_init_kwargs:
        raise ValueError(f"model_init_kwargs {sorted(args.model_init_kwargs)}: vigor loads a model by its own fields "
                         f"(model_dtype, attn_implementation); set those, or pass a loaded model")
    from vigor.models import load_model_and_tokenizer

    loaded, tokenizer = load_model_and_tokenizer(model, dtype=args.model_dtype,
                                                 attn_implementation=args.attn_implementation)
    return loaded.train(), processing_class or tokenizer


def with_gold_monitor(terms: tuple, dataset, args: VigorGRPOConfig) -> tuple:
    """`terms` plus accuracy at weight 0 (a monitor) when the dataset has an 'answer' column (a vigor.data.gold
    column) with values, as `vigor train` adds it."""
    from vigor.rewards import with_monitor

    # an 'answer' column only: code 'tests' need the sandbox, which `vigor train`'s preflight checks first
    columns = getattr(dataset, "column_names", None) or []
    if not (args.monitor_accuracy and "answer" in columns and any(v is not None for v in dataset["answer"])):
        return terms
    return with_monitor(terms, "accuracy", config=args)
