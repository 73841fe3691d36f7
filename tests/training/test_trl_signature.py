"""`VigorGRPOTrainer` takes TRL 1.16's GRPOTrainer arguments: TRL's quickstart with one import changed, a plain
`trl.GRPOConfig`, `peft_config`, and the one-line refusals (vigor.training.trl_args)."""

import dataclasses
import inspect
import json
import math
import os

import pytest
import torch

from tests.training.training_helpers import read_jsonl

TINY = dict(use_cpu=True, per_device_train_batch_size=4, num_generations=4, max_completion_length=8, max_steps=1,
            save_strategy="no", report_to="none", learning_rate=1e-2, warmup_steps=0, disable_tqdm=True,
            dataloader_num_workers=0)


def reward_len(completions, **kwargs):
    return [-abs(20 - len(c)) for c in completions]


def prompts_dataset(n=4, answers=False):
    from datasets import Dataset

    rows = [{"prompt": f"{i}+{i}=", **({"answer": str(2 * i)} if answers else {})} for i in range(n)]
    return Dataset.from_list(rows)


def test_signature_is_trls():
    from trl import GRPOTrainer

    from vigor.training import VigorGRPOTrainer

    ours = list(inspect.signature(VigorGRPOTrainer.__init__).parameters)
    assert ours[:len(inspect.signature(GRPOTrainer.__init__).parameters)] == \
        list(inspect.signature(GRPOTrainer.__init__).parameters)


def test_a_plain_grpo_config_keeps_every_field(tmp_path):
    from trl import GRPOConfig

    from vigor.training import VigorGRPOConfig
    from vigor.training.trl_args import as_vigor_config

    given = GRPOConfig(output_dir=str(tmp_path / "out"), bf16=False, beta=0.04, num_generations=4, temperature=0.7,
                       reward_weights=[1.0, 0.5], learning_rate=3e-5, max_completion_length=16, seed=11,
                       scale_rewards="batch", report_to="none", use_cpu=True)
    converted = as_vigor_config(given, "unused")
    assert isinstance(converted, VigorGRPOConfig)
    fields = [f.name for f in dataclasses.fields(GRPOConfig)]
    assert len(fields) > 100
    changed = [n for n in fields if getattr(converted, n) != getattr(given, n)]
    assert changed == []
    assert converted.beta == 0.04 and converted.temperature == 0.7 and converted.seed == 11  # not vigor's defaults
    assert converted.reward == "vigor" and converted.length_correction is True  # vigor's fields at their defaults


def test_a_plain_grpo_config_trains_on_the_tiny_model(tmp_path):
    from trl import GRPOConfig

    from vigor.tiny import save_tiny_model
    from vigor.training import VigorGRPOTrainer

    model = save_tiny_model(tmp_path / "tiny")
    args = GRPOConfig(output_dir=str(tmp_path / "out"), bf16=False, logging_steps=1, **TINY)
    trainer = VigorGRPOTrainer(model=model, reward_funcs=["vigor", reward_len], args=args,
                               train_dataset=prompts_dataset())
    assert trainer.args.beta == args.beta == 0.0  # TRL's default, kept
    trainer.train()
    record = read_jsonl(tmp_path / "out" / "metrics.jsonl")[0]
    assert math.isfinite(record["rewards/vigor/mean"]) and math.isfinite(record["rewards/reward_len/mean"])


@pytest.mark.parametrize("kwargs, message", [
    (dict(reward_funcs="vigor", reward="self_certainty"),
     r"^reward_funcs and args.reward='self_certainty' both given"),
    (dict(reward_funcs="vigr"), r"^reward_funcs: unknown reward 'vigr'; choose from vigor, "),
    (dict(reward_funcs=["vigor", reward_len], reward_weights=[1.0]), r"^reward_weights: 1 weights for 2 rewards"),
    (dict(reward_funcs=[lambda x: x]), r"^reward '.*<lambda>': wrong signature"),
    (dict(reward_funcs="vigor", rollout_func=lambda prompts, trainer: {}),
     r"^rollout_func: refused with reward 'vigor', which scores the policy at the tokens it sampled"),
    (dict(reward_funcs="self_certainty", tools=[reward_len]), r"^tools: refused with reward 'self_certainty'"),
    (dict(reward_funcs=reward_len, model_init_kwargs={"device_map": "auto"}), r"^model_init_kwargs \['device_map'\]"),
])
def test_bad_input_is_one_line_before_the_model_loads(kwargs, message, tmp_path):
    from vigor.training import VigorGRPOConfig, VigorGRPOTrainer

    fields = {k: kwargs.pop(k) for k in ("reward", "reward_weights", "model_init_kwargs") if k in kwargs}
    args = VigorGRPOConfig(output_dir=str(tmp_path / "out"), **TINY, **fields)
    with pytest.raises(ValueError, match=message) as caught:
        VigorGRPOTrainer(model=str(tmp_path / "no-such-model"), args=args, train_dataset=prompts_dataset(), **kwargs)
    assert "\n" not in str(caught.value)
    assert not os.path.exists(tmp_path / "out")


def test_text_rewards_pass_tools_on_to_trl(tmp_path):
    """With text rewards only, what TRL makes of `tools` is TRL's: vigor passes them on."""
    from vigor.training import VigorGRPOConfig
    from vigor.training.trl_args import check_rollout_arguments, reward_terms

    args = VigorGRPOConfig(output_dir=str(tmp_path / "out"), **TINY)
    check_rollout_arguments(reward_terms(reward_len, args), tools=[reward_len], rollout_func=None,
                            environment_factory=None)


def test_peft_config_takes_the_norm_over_the_adapters_only(tmp_path):
    """peft_config as in TRL: the policy is the PEFT model, and VIGOR's norm is the reference loop's over the
    LoRA parameters alone (float64, within 1e-9), not over all weights."""
    from peft import LoraConfig

    from vigor.gradnorm.reference import reference_grad_norms
    from vigor.rewards import build_rollouts
    from vigor.tiny import save_tiny_model
    from vigor.training import VigorGRPOConfig, VigorGRPOTrainer

    model = save_tiny_model(tmp_path / "tiny")
    args = VigorGRPOConfig(output_dir=str(tmp_path / "out"), model_dtype="float64", bf16=False, **TINY)
    trainer = VigorGRPOTrainer(model=model, reward_funcs="vigor", args=args, train_dataset=prompts_dataset(),
                               peft_config=LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                                      task_type="CAUSAL_LM"))
    policy = trainer.model
    adapters = [(n, p) for n, p in policy.named_parameters() if p.requires_grad]
    assert adapters and all("lora_" in n for n, _ in adapters)
    with torch.no_grad():  # PEFT starts lora_B at zero; make the adapters do something
        for name, p in adapters:
            if "lora_B" in name:
                p.normal_(0, 0.1)
    g = torch.Generator().manual_seed(torch.initial_seed() % 2**31)
    prompt_ids = [torch.randint(3, 100, (int(n),), generator=g).tolist() for n in torch.randint(2, 6, (4,), generator=g)]
    completion_ids = [torch.randint(3, 100, (int(n),), generator=g).tolist() for n in torch.randint(1, 7, (4,), generator=g)]
    rollouts = build_rollouts(prompt_ids, completion_ids, eos_token_ids=[trainer.processing_class.eos_token_id],
                              pad_token_id=trainer.processing_class.pad_token_id, completions=["x"] * 4)
    got = trainer.reward_set.rewards[0].grad_norms(rollouts, policy)
    reference = reference_grad_norms(policy, rollouts.input_ids, rollouts.attention_mask, rollouts.loss_mask,
                                     params=[p for _, p in adapters])
    assert torch.allclose(got, reference.double(), rtol=1e-9, atol=0)
    for p in policy.parameters():  # the whole model's norm, for the comparison below
        p.requires_grad_(True)
    everything = reference_grad_norms(policy, rollouts.input_ids, rollouts.attention_mask, rollouts.loss_mask,
                                      params=[p for _, p in policy.named_parameters()])
    assert (everything > reference * 1.01).all()  # the adapters' norm is not the whole model's


def test_quickstart_with_one_import_changed_on_the_embedded_model(tmp_path):
    """TRL's GRPO quickstart, `from vigor.training import ...` instead of `from trl import ...`, on the embedded
    SmolLM2-135M for 2 steps: both rewards are logged, reward_len's column is the function's value of each
    completion, and vigor's column of the first step is VIGOR's score (vigor.rewards) of the completions sampled
    then, recomputed here on the initial weights (float32 forward: within 1e-4 relative)."""
    from vigor.models import default_model_dir, load_model_and_tokenizer
    from vigor.rewards import build_rollouts, make_reward
    from vigor.training import VigorGRPOConfig, VigorGRPOTrainer

    seen = []

    def reward_len(completions, completion_ids, **kwargs):  # noqa: F811 - TRL's quickstart reward, ids kept
        seen.append((trainer._prompt_ids, completion_ids))  # the token ids VIGOR scored
        return [-abs(20 - len(c)) for c in completions]

    from datasets import Dataset

    dataset = Dataset.from_list([{"prompt": f"Here are the numbers from {i} to {i + 9}, separated by commas:"}
                                 for i in range(4)])
    model = str(default_model_dir())
    trainer = VigorGRPOTrainer(
        model=model, reward_funcs=["vigor", reward_len],
        args=VigorGRPOConfig(output_dir=str(tmp_path / "out"), **{**TINY, "max_steps": 2, "max_completion_length": 16},
                             reward_dump=True),
        train_dataset=dataset)
    trainer.train()
    metrics = read_jsonl(tmp_path / "out" / "metrics.jsonl")
    dumps = read_jsonl(tmp_path / "out" / "rewards.jsonl")
    assert [m["step"] for m in metrics] == [1, 2] and len(dumps) == 2
    for record, dump in zip(metrics, dumps):
        assert dump["rewards"] == ["vigor", "reward_len"]
        raw = torch.tensor(dump["raw"], dtype=torch.float64)
        assert raw[:, 1].tolist() == [-abs(20 - len(c)) for c in dump["completions"]]
        assert record["rewards/reward_len/mean"] == pytest.approx(raw[:, 1].mean().item(), abs=1e-9)
        assert not torch.isnan(raw[:, 0]).all(), dump["completions"]  # else the comparisons below are vacuous
        assert record["rewards/vigor/mean"] == pytest.approx(raw[:, 0].nanmean().item(), rel=1e-9)
    initial, tokenizer = load_model_and_tokenizer(model)
    first = dumps[0]
    prompt_ids, completion_ids = seen[0]
    assert prompt_ids == [tokenizer(p, add_special_tokens=False)["input_ids"] for p in first["prompts"]]
    rollouts = build_rollouts(prompt_ids, completion_ids, eos_token_ids=trainer.eos_token_ids,
                              pad_token_id=tokenizer.pad_token_id, completions=first["completions"])
    expected = make_reward("vigor").score(rollouts, model=initial.train())
    logged = torch.tensor(first["raw"], dtype=torch.float64)[:, 0]
    assert torch.equal(torch.isnan(expected), torch.isnan(logged))
    assert torch.allclose(logged.nan_to_num(), expected.nan_to_num(), rtol=1e-4, atol=0), (logged, expected)
    assert json.dumps(first["weights"]) == "[1.0, 1.0]"


def test_a_reward_model_in_reward_funcs_scores_as_trl_does(tmp_path, fresh_seed):
    """A sequence-classification model in `reward_funcs` (TRL's third kind) scores prompt + completion by its first
    logit: each logged value equals that model run on the one text alone (no padding), by hand."""
    from transformers import AutoModelForSequenceClassification

    from vigor.tiny import char_tokenizer, save_tiny_model, tiny_config
    from vigor.training import VigorGRPOConfig, VigorGRPOTrainer

    torch.manual_seed(fresh_seed)
    scorer = AutoModelForSequenceClassification.from_config(tiny_config(num_labels=1)).eval()
    tokenizer = char_tokenizer()
    policy = save_tiny_model(tmp_path / "tiny")
    args = VigorGRPOConfig(output_dir=str(tmp_path / "out"), logging_steps=1, log_completions_every=1, **TINY)
    trainer = VigorGRPOTrainer(model=policy, reward_funcs=["vigor", scorer], args=args,
                               reward_processing_classes=[None, tokenizer], train_dataset=prompts_dataset())
    name = trainer.reward_set.names[1]
    trainer.train()
    rows = read_jsonl(tmp_path / "out" / "completions.jsonl")
    assert rows
    for row in rows:
        ids = tokenizer(row["prompt"] + row["completion"], return_tensors="pt", add_special_tokens=False)
        with torch.inference_mode():
            expected = scorer(**ids).logits[0, 0].item()
        assert row["rewards"][name] == pytest.approx(expected, rel=1e-5, abs=1e-6)
