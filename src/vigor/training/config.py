"""`VigorGRPOConfig`: TRL's `GRPOConfig` plus the reward, data, LoRA and collapse-guard fields.

Defaults reproduce the reference VIGOR recipe (where TRL 1.16 differs, the value is set here):
beta 0.01 (k3 KL to the initial model), loss_type 'bnpo', PPO clip epsilon 0.2, sampling
temperature 0.9 / top_k 50 / top_p 1.0, G = 8, lr 2e-6 cosine with 10 % warm-up, AdamW with
weight decay 0, gradient clipping 1.0, seed 7. Tested against trl==1.16.0 (pinned in pyproject).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trl import GRPOConfig

from vigor.rewards.intrinsic import TRUNCATED_POLICIES
from vigor.rewards.shaping import ADVANTAGE_SCALES, SHAPINGS

LONG_PROMPT_POLICIES = ("error", "drop")


@dataclass
class VigorGRPOConfig(GRPOConfig):
    # --- what to train on -------------------------------------------------------------
    model_name_or_path: str | None = field(default=None, metadata={
        "help": "Model folder or hub id; None = the embedded SmolLM2-135M-Instruct."})
    dataset: str | None = field(default=None, metadata={
        "help": "Data file/folder, shipped benchmark name or hub id (see vigor.data.load_records)."})
    dataset_split: str | None = field(default=None, metadata={"help": "Split of a folder/hub dataset."})
    max_samples: int | None = field(default=None, metadata={"help": "Use only the first N prompts."})
    prompt_column: str | None = field(default=None, metadata={"help": "Prompt column (auto-detected if None)."})
    answer_column: str | None = field(default=None, metadata={
        "help": "Gold-answer column (auto-detected if None); feeds the accuracy reward/monitor."})
    system_prompt: str | None = field(default="boxed", metadata={
        "help": "System prompt preset ('boxed', 'intuitor'), literal text, or '' for none."})
    max_prompt_length: int | None = field(default=None, metadata={
        "help": "Longest templated prompt in tokens. A longer prompt (or one that with max_completion_length "
                "overruns the model's context) is an error naming its row, or is dropped with long_prompts='drop' "
                "(TRL 1.16 has no prompt truncation; the reference cut them from the left, which loses the "
                "question or the system prompt)."})
    long_prompts: str = field(default="error", metadata={
        "help": f"What a prompt over the token budget does: one of {LONG_PROMPT_POLICIES}."})
    model_dtype: str = field(default="float32", metadata={"help": "dtype to load the model in."})
    resume: bool = field(default=False, metadata={"help": "Continue from the last checkpoint in output_dir."})

    # --- rewards ----------------------------------------------------------------------
    reward: str = field(default="vigor", metadata={
        "help": "Rewards with optional weights, e.g. 'vigor' or 'vigor,accuracy:0.5'."})
    monitor_accuracy: bool = field(default=True, metadata={
        "help": "When the data has answers and 'accuracy' is not a reward, add it with weight 0 (monitor)."})
    length_correction: bool = field(default=True, metadata={"help": "VIGOR: multiply the norm by sqrt(T)."})
    shaping: str = field(default="rank", metadata={"help": f"VIGOR shaping, one of {SHAPINGS}."})
    truncated: str = field(default="keep", metadata={
        "help": f"VIGOR: truncated completions {TRUNCATED_POLICIES} ('last' ranks them last)."})
    grad_norm_micro_batch_size: int | None = field(default=None, metadata={
        "help": "Completions per gradient-norm micro-batch (None = all at once)."})
    reward_temperature: float = field(default=1.0, metadata={
        "help": "Logit temperature of the model-based rewards (the reference uses raw logits)."})
    accuracy_timeout_s: float = field(default=5.0, metadata={"help": "Time limit of one answer check."})
    reward_dump: bool = field(default=False, metadata={
        "help": "Write every gathered raw/shaped reward to rewards.jsonl in output_dir (debugging)."})
    repetition_ngram: int = field(default=4, metadata={"help": "n of the n-gram repetition ratio."})
    log_completions_every: int = field(default=0, metadata={
        "help": "Every N steps, one row per sampled completion (prompt, completion, each reward, rank, advantage, "
                "correctness) to completions.jsonl and TensorBoard/W&B when on; 0 = off. CLI: --log-completions N."})

    # --- collapse guard ---------------------------------------------------------------
    collapse_min_entropy: float | None = field(default=None, metadata={"help": "Warn when entropy falls below."})
    collapse_max_repetition: float | None = field(default=None, metadata={
        "help": "Warn when the n-gram repetition ratio exceeds."})
    collapse_min_length: float | None = field(default=None, metadata={"help": "Warn when mean length falls below."})
    collapse_max_length: float | None = field(default=None, metadata={"help": "Warn when mean length exceeds."})
    collapse_stop: bool = field(default=False, metadata={"help": "Stop the run when the guard fires."})

    # --- LoRA (peft) ------------------------------------------------------------------
    use_peft: bool = field(default=False, metadata={"help": "Train LoRA adapters instead of all weights."})
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_target_modules: list[str] | None = field(default=None, metadata={
        "help": "Modules to adapt (None = peft's default for the architecture, or 'all-linear')."})

    # --- reference recipe defaults overriding TRL's --------------------------------------
    beta: float = 0.01
    loss_type: str = "bnpo"
    epsilon: float = 0.2
    temperature: float = 0.9
    top_k: int = 50
    top_p: float = 1.0
    num_generations: int | None = 8
    learning_rate: float = 2e-6
    lr_scheduler_type: str = "cosine"
    warmup_steps: float = 0.1
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    seed: int = 7
    logging_steps: float = 1
    report_to: None | str | list[str] = field(default_factory=lambda: ["tensorboard"])

    def __post_init__(self):
        if self.shaping not in SHAPINGS:
            raise ValueError(f"shaping must be one of {SHAPINGS}, got {self.shaping!r}")
        if self.truncated not in TRUNCATED_POLICIES:
            raise ValueError(f"truncated must be one of {TRUNCATED_POLICIES}, got {self.truncated!r}")
        if self.scale_rewards not in ADVANTAGE_SCALES:
            raise ValueError(f"scale_rewards must be one of {ADVANTAGE_SCALES}, got {self.scale_rewards!r}")
        if self.multi_objective_aggregation != "sum_then_normalize":
            raise ValueError("multi_objective_aggregation: vigor combines rewards as the sum of their weighted "
                             "group advantages (see vigor.rewards.combine); leave it at 'sum_then_normalize'")
        if self.num_generations is not None and self.num_generations < 2:
            raise ValueError(f"num_generations must be >= 2 to rank completions within a group, "
                             f"got {self.num_generations}")
        if self.long_prompts not in LONG_PROMPT_POLICIES:
            raise ValueError(f"long_prompts must be one of {LONG_PROMPT_POLICIES}, got {self.long_prompts!r}")
        if self.grad_norm_micro_batch_size is not None and self.grad_norm_micro_batch_size < 1:
            raise ValueError(f"grad_norm_micro_batch_size must be >= 1, got {self.grad_norm_micro_batch_size}")
        if self.log_completions_every < 0:
            raise ValueError(f"log_completions_every must be >= 0, got {self.log_completions_every}")
        if self.repetition_ngram < 1:
            raise ValueError(f"repetition_ngram must be >= 1, got {self.repetition_ngram}")
        if self.bf16 is None and not self.use_cpu:
            import torch

            # TRL turns bf16 on by default, which transformers rejects on a machine without a GPU.
            self.bf16 = bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
        super().__post_init__()

    def reward_options(self) -> dict[str, dict]:
        """Constructor options of each reward, from this config."""
        return {
            "vigor": dict(length_correction=self.length_correction, shaping=self.shaping, truncated=self.truncated,
                          micro_batch_size=self.grad_norm_micro_batch_size, temperature=self.reward_temperature),
            "accuracy": dict(timeout_s=self.accuracy_timeout_s),
            "random": dict(seed=self.seed),
        }
