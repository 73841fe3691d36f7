"""Audit: inside a real TRL GRPO run, the VIGOR reward and the policy loss equal slow, obviously-right
re-computations of the reference semantics (/work/shared/docs/reference-notes.md).

Reward path: for every scoring call of the run, from the very token ids TRL sampled and the policy as it
is at that moment, one sequence at a time: the transformers `labels` loss (-100 on the prompt, so the
prompt is context only; its mean over the completion cut at its first EOS, EOS included, raw logits,
not the sampling temperature), `torch.autograd.grad` over every parameter with requires_grad (the
adapters only under LoRA) of the policy in eval mode (dropout off), the float64 norm times sqrt(T);
then, per group of G consecutive completions (one prompt each), empty completions placed last, stable
ranks with ties in position order, rank / (G - 1) * 2 - 1 and (r - mean) / (unbiased std + 1e-4) by
plain loops. These must equal the advantages vigor hands TRL and the advantages TRL's loss consumes,
with gradient checkpointing, micro-batched norms, gradient accumulation and LoRA dropout on; the
policy's `.grad` and every module's train/eval flag must be unchanged by the scoring.

Policy loss: TRL's loss gradient equals the reference's (its TRL: commit 1bca495, v0.17.0 plus 5 commits) per-token
PPO clip 0.2 objective on logits / 0.9 with the plain k3 KL to the initial model
(beta times exp(ref - logp) - (ref - logp) - 1, no importance weight on it), bnpo token mean, divided by the
accumulation steps.

Models run in float64 so the tolerances are tight: relative 1e-7 on the raw rewards, absolute 1e-6 on
advantages. TRL computes the policy's log-probabilities with a float32 kernel even for a float64 model,
so the loss and its gradient are compared at relative 1e-5 (measured: 2.4e-7; TRL 1.16's default
importance weight on the KL term gives 1.1e-2 at beta 0.5). Sampling is seeded by the run (seed 7);
prompts are fixed.
"""

import math

import pytest
import torch

from tests.training.test_contract import by_key, capture, row_keys
from tests.training.training_helpers import tiny_run_options

EPS = 1e-4
STOP_IDS = list(range(4, 14))  # extra EOS ids: a random model then stops early often, and sometimes at once


@pytest.fixture(scope="module")
def stopping_model_dir(tmp_path_factory):
    """The tiny random model with 11 EOS ids in its generation config (as Qwen2.5-Instruct lists two):
    its completions end at an EOS, run to the length cap, or are empty (an EOS first). Attention
    dropout 0.5 while training: the norm must be taken with dropout off."""
    from transformers import GenerationConfig

    from vigor.tiny import save_tiny_model

    folder = save_tiny_model(tmp_path_factory.mktemp("stopping-model"), attention_dropout=0.5)
    config = GenerationConfig.from_pretrained(folder)
    config.eos_token_id = [2, *STOP_IDS]
    config.save_pretrained(folder)
    return folder


def slow_raw(model, prompt, completion, eos_ids):
    """(-||grad mean NLL|| * sqrt(T) by transformers' own labels loss, or None for an empty completion;
    'empty', 'eos' or 'truncated')."""
    cut = next((completion[: i + 1] for i, t in enumerate(completion) if t in eos_ids), list(completion))
    kind = "truncated" if cut[-1] not in eos_ids else "empty" if len(cut) == 1 else "eos"
    if kind == "empty":
        return None, kind
    ids = torch.tensor([list(prompt) + cut])
    labels = torch.tensor([[-100] * len(prompt) + cut])
    params = [p for p in model.parameters() if p.requires_grad]
    with torch.enable_grad():  # TRL scores under no_grad
        loss = model(input_ids=ids, labels=labels).loss
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    norm = math.sqrt(sum(float(g.double().pow(2).sum()) for g in grads if g is not None))
    return -norm * math.sqrt(len(cut)), kind


def slow_advantages(raw, group_size):
    """Empty (None) last at min(others) - 1e-3, stable position-order ranks, rank/(G-1)*2-1, group z-score."""
    out = []
    for start in range(0, len(raw), group_size):
        group = raw[start: start + group_size]
        valid = [r for r in group if r is not None]
        floor = min(valid) - 1e-3 if valid else 0.0
        group = [floor if r is None else r for r in group]
        shaped = []
        for i, x in enumerate(group):
            rank = sum(1 for j, y in enumerate(group) if y < x or (y == x and j < i))
            shaped.append(rank / (group_size - 1) * 2 - 1)
        mean = sum(shaped) / group_size
        std = math.sqrt(sum((s - mean) ** 2 for s in shaped) / (group_size - 1))
        out.extend((s - mean) / (std + EPS) for s in shaped)
    return out


def build(tiny_model_dir, prompts_file, out, **overrides):
    from vigor.training import VigorGRPOConfig
    from vigor.training.run import build_trainer

    options = tiny_run_options(tiny_model_dir, prompts_file, out, model_dtype="float64", **overrides)
    trainer, _ = build_trainer(VigorGRPOConfig(**options))
    return trainer


CASES = {
    # 32 completions per case, so each kind (EOS, empty, truncated) is met with the run's seed (and,
    # at about 10 % EOS per token, with near certainty under any other).
    # gradient accumulation 2 (one generation of 4 groups serves 2 micro-steps), checkpointing, norms in
    # micro-batches of 3 (not a multiple of G), two optimizer steps so the second scores a moved policy
    "full-accumulation-checkpointing": dict(per_device_train_batch_size=8, num_generations=4,
                                            gradient_accumulation_steps=2, gradient_checkpointing=True,
                                            grad_norm_micro_batch_size=3, max_steps=2),
    # LoRA with heavy adapter dropout: the norm must be over the adapters only, dropout off
    "lora-dropout": dict(per_device_train_batch_size=16, num_generations=4, use_peft=True, lora_r=4,
                         lora_dropout=0.5, lora_target_modules=["q_proj", "v_proj"], gradient_checkpointing=True,
                         max_steps=2),
}


@pytest.mark.parametrize("case", list(CASES))
def test_reward_path_matches_the_reference_semantics(case, stopping_model_dir, prompts_file, tmp_path, monkeypatch):
    from vigor.training.trainer import VigorGRPOTrainer

    options = CASES[case]
    group_size = options["num_generations"]
    expected_by_call, fed, kinds = [], [], []
    original = VigorGRPOTrainer._calculate_rewards

    def audited(self, inputs, prompts, completions, completion_ids_list):
        policy = self.accelerator.unwrap_model(self.model)
        modes = [m.training for m in policy.modules()]
        grads = [None if p.grad is None else p.grad.clone() for p in policy.parameters()]
        # the policy itself, in eval mode meanwhile (a deep copy would not do: TRL's patched forward
        # closes over the original model's bound forward)
        trainable = [n for n, p in policy.named_parameters() if p.requires_grad]
        if options.get("use_peft"):
            assert trainable and all("lora_" in n for n in trainable), trainable
        else:  # full fine-tuning: every weight, the embeddings included
            assert len(trainable) == len(list(policy.parameters())), trainable
        for start in range(0, len(inputs), group_size):  # groups are G consecutive rows of one prompt
            assert len({str(x["prompt"]) for x in inputs[start: start + group_size]}) == 1
            assert len({tuple(p) for p in self._prompt_ids[start: start + group_size]}) == 1
        eos = set(self.eos_token_ids)
        policy.eval()
        slow = [slow_raw(policy, p, c, eos) for p, c in zip(self._prompt_ids, completion_ids_list)]
        for module, mode in zip(policy.modules(), modes):
            module.training = mode
        advantages = original(self, inputs, prompts, completions, completion_ids_list)
        assert [m.training for m in policy.modules()] == modes
        for p, g in zip(policy.parameters(), grads):
            assert (p.grad is None and g is None) or torch.equal(p.grad, g)
        raws = [r for r, _ in slow]
        kinds.extend(kind for _, kind in slow)
        got = self._reported_rewards[1][:, 0]
        for b, r in enumerate(raws):
            if r is None:
                assert math.isnan(got[b])
            else:
                assert got[b].item() == pytest.approx(r, rel=1e-7), (b, got[b].item(), r)
        want = slow_advantages(raws, group_size)
        assert advantages[:, 0].tolist() == pytest.approx(want, abs=1e-6), (raws, advantages[:, 0].tolist())
        expected_by_call.append(want)
        return advantages

    monkeypatch.setattr(VigorGRPOTrainer, "_calculate_rewards", audited)
    generated = []
    capture(monkeypatch, "_generate_and_score_completions", generated,
            lambda self, args, out: (row_keys(out), out["advantages"].tolist()))
    capture(monkeypatch, "_compute_loss", fed, lambda self, args, out: (row_keys(args[1]), args[1]["advantages"].tolist()))
    trainer = build(stopping_model_dir, prompts_file, tmp_path / "out", **options)
    assert trainer.temperature == 0.9  # sampled at 0.9, scored on raw logits (the slow reward uses raw logits)
    trainer.train()
    assert len(expected_by_call) == len(generated) == options["max_steps"]
    assert {"empty", "eos", "truncated"} <= set(kinds), kinds  # every kind of completion was met
    steps_per_generation = options.get("gradient_accumulation_steps", 1)
    assert len(fed) == options["max_steps"] * steps_per_generation
    for call, ((keys, _), want) in enumerate(zip(generated, expected_by_call)):
        pieces = fed[call * steps_per_generation: (call + 1) * steps_per_generation]
        got = by_key([k for ks, _ in pieces for k in ks], [v for _, vs in pieces for v in vs])
        expect = by_key(keys, want)
        assert got.keys() == expect.keys()
        for key in expect:
            assert got[key] == pytest.approx(expect[key], abs=1e-6)


def reference_policy_loss(model, ref_model, inputs, *, beta, epsilon, temperature, accumulation):
    """The reference's (TRL 1bca495, v0.17.0 + 5 commits) GRPO loss of one micro-batch, written out: per token
    -min(ratio A, clip(ratio, 1 - eps, 1 + eps) A) + beta k3, k3 = exp(ref - logp) - (ref - logp) - 1,
    ratio = exp(logp - old logp) (old = logp.detach() with one update per generation, else the sampling
    policy's, as TRL recorded them), logp from logits / temperature; 'bnpo': the sum over the
    micro-batch's completion tokens / their count, / accumulation steps. Also returns the ref log-probs
    and the share of tokens outside the clip range."""
    ids = torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], dim=1)
    attention = torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], dim=1)
    width = inputs["completion_ids"].shape[1]
    targets = inputs["completion_ids"].unsqueeze(-1)

    def logps(m):
        logits = m(input_ids=ids, attention_mask=attention).logits[:, -width - 1:-1].double() / temperature
        return torch.log_softmax(logits, -1).gather(-1, targets).squeeze(-1)

    logp = logps(model)
    with torch.no_grad():
        ref = logps(ref_model)
    advantages = inputs["advantages"].unsqueeze(1)
    old = inputs.get("old_per_token_logps")
    ratio = torch.exp(logp - (logp.detach() if old is None else old.double()))
    policy = -torch.min(ratio * advantages, torch.clamp(ratio, 1 - epsilon, 1 + epsilon) * advantages)
    k3 = torch.exp(ref - logp) - (ref - logp) - 1
    mask = inputs["completion_mask"].double()
    clipped = float((((ratio - 1).abs() > epsilon).double() * mask).sum() / mask.sum())
    return ((policy + beta * k3) * mask).sum() / mask.sum().clamp(min=1) / accumulation, ref, clipped


@pytest.mark.parametrize("num_iterations", [1, 2])
def test_policy_loss_gradient_is_the_reference_clip_and_k3(num_iterations, tiny_model_dir, prompts_file, tmp_path,
                                                           monkeypatch):
    """TRL's loss gradient, on the defaults of `vigor train` (clip 0.2, k3 KL, bnpo, temperature 0.9)
    with a large beta so the KL term is visible, at steps where the policy has left the initial model;
    with 2 updates per generation batch (the 7B recipe makes 3) the ratio leaves the clip range."""
    from transformers import AutoModelForCausalLM

    from vigor.training.trainer import VigorGRPOTrainer

    ref_model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float64).eval()
    original = VigorGRPOTrainer._compute_loss
    checked = []

    def audited(self, model, inputs):
        loss = original(self, model, inputs)
        if self.state.global_step == 0:
            return loss  # the policy is still the initial model: the KL and its gradient are 0
        params = [p for p in model.parameters() if p.requires_grad]
        trl_grads = torch.autograd.grad(loss, params, retain_graph=True)
        want, ref, clipped = reference_policy_loss(model, ref_model, inputs, beta=self.beta, epsilon=0.2, temperature=0.9,
                                          accumulation=self.current_gradient_accumulation_steps)
        torch.testing.assert_close(inputs["ref_per_token_logps"].double() * inputs["completion_mask"],
                                   ref * inputs["completion_mask"], rtol=1e-6, atol=1e-6)
        want_grads = torch.autograd.grad(want, params)
        got = torch.cat([g.flatten() for g in trl_grads])
        expected = torch.cat([g.flatten() for g in want_grads])
        error = float((got - expected).norm() / expected.norm())
        checked.append(clipped)
        assert loss.item() == pytest.approx(want.item(), rel=1e-5, abs=1e-9)
        assert error <= 1e-5, f"policy-loss gradient differs from the reference: relative error {error:.3g}"
        return loss

    monkeypatch.setattr(VigorGRPOTrainer, "_compute_loss", audited)
    # beta 0.5 instead of 0.01 makes the KL gradient large enough to see; the rest are vigor's defaults
    trainer = build(tiny_model_dir, prompts_file, tmp_path / "out", beta=0.5, per_device_train_batch_size=8,
                    num_generations=4, max_steps=3, reward="random", num_iterations=num_iterations)
    assert (trainer.args.epsilon, trainer.epsilon_high, trainer.temperature, trainer.loss_type) == (0.2, 0.2, 0.9, "bnpo")
    trainer.train()
    assert len(checked) == 2
    assert (max(checked) > 0) == (num_iterations > 1), checked  # the clip acts only off-policy


def test_learning_rate_schedule_is_cosine_with_ten_percent_warmup(tiny_model_dir, prompts_file, tmp_path):
    """vigor train's defaults: lr 2e-6, linear warm-up over ceil(10 % of the steps), then cosine to 0;
    AdamW without weight decay."""
    steps = 25
    trainer = build(tiny_model_dir, prompts_file, tmp_path / "out", max_steps=steps, learning_rate=2e-6,
                    warmup_steps=0.1)
    trainer.create_optimizer_and_scheduler(num_training_steps=steps)
    warmup = math.ceil(0.1 * steps)
    for step in range(steps):
        want = 2e-6 * (step / warmup if step < warmup else
                       0.5 * (1 + math.cos(math.pi * (step - warmup) / (steps - warmup))))
        assert trainer.lr_scheduler.get_last_lr()[0] == pytest.approx(want, rel=1e-9, abs=1e-18), step
        trainer.optimizer.step()
        trainer.lr_scheduler.step()
    groups = trainer.optimizer.param_groups
    assert all(g["weight_decay"] == 0.0 for g in groups) and type(trainer.optimizer).__name__ == "AdamW"
