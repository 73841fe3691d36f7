"""`VigorGRPOConfig`: TRL's `GRPOConfig` plus the reward, data, LoRA and collapse-guard fields.

Defaults reproduce the reference VIGOR recipe (where TRL 1.16 differs, the value is set here):
beta 0.01 (plain k3 KL to the initial model, without TRL 1.16's importance weight on it),
loss_type 'bnpo', PPO clip epsilon 0.2, sampling temperature 0.9 / top_k 50 / top_p 1.0, G = 8,
lr 2e-6 cosine with 10 % warm-up, AdamW with weight decay 0, gradient clipping 1.0, seed 7.
Tested against trl==1.16.0 (pinned in pyproject).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trl import GRPOConfig

from vigor.models import ATTN_IMPLEMENTATIONS
from vigor.rewards.intrinsic import TRUNCATED_POLICIES
from vigor.rewards.shaping import ADVANTAGE_SCALES, SHAPINGS
from vigor.training.premise import GRADIENT_SIGNALS

LONG_PROMPT_POLICIES = ("error", "drop")


def heldout_token_limit(eval_max_new_tokens: int | None, max_completion_length: int | None) -> int | None:
    """The token limit of held-out evaluation completions: eval_max_new_tokens, else the training one."""
    return eval_max_new_tokens or max_completion_length


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
    category_column: str | None = field(default=None, metadata={
        "help": "Column holding each prompt's category (instead of the categories a format brings: MATH's type and "
                "level, reasoning-gym's source task); the premise monitor's per-group records carry it."})
    system_prompt: str | None = field(default="boxed", metadata={
        "help": "System prompt preset ('boxed', 'intuitor'), literal text, or 'none' (or '') for none."})
    max_prompt_length: int | None = field(default=None, metadata={
        "help": "Longest templated prompt in tokens. A longer prompt (or one that with max_completion_length "
                "overruns the model's context) is an error naming its row, or is dropped with long_prompts='drop' "
                "(TRL 1.16 has no prompt truncation; the reference cut them from the left, which loses the "
                "question or the system prompt)."})
    long_prompts: str = field(default="error", metadata={
        "help": f"What a prompt over the token budget does: one of {LONG_PROMPT_POLICIES}."})
    model_dtype: str = field(default="float32", metadata={"help": "dtype to load the model in."})
    resume: bool = field(default=False, metadata={"help": "Continue from the last checkpoint in output_dir."})
    # transformers 5 removed TrainingArguments.overwrite_output_dir (4.x had it, unused by Trainer itself)
    overwrite: bool = field(default=False, metadata={
        "help": "Start again in an output_dir that holds another run: delete the files a vigor run writes there "
                "(checkpoints, metrics, model, logs; others stay) before training. Without it (or resume) such a "
                "folder is refused."})

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

    # --- collapse guard (vigor.training.callbacks.CollapseGuardCallback) --------------------
    # On by default, warn only. Relative checks compare the run's recent steps (the mean of its last
    # `collapse_window_steps` logged steps) with its own start (the mean of its first
    # `collapse_baseline_steps`). The absolute ones below are off unless set.
    collapse_guard: bool = field(default=True, metadata={"help": "Check every logged step for collapse signs."})
    collapse_baseline_steps: int = field(default=3, metadata={
        "help": "The run's initial values are the means of its first N logged steps."})
    collapse_window_steps: int = field(default=3, metadata={
        "help": "Each check reads the means of the last N logged steps (1 = each step alone), so that one group "
                "of G completions, e.g. all 8 at the length cap once, does not fire it by chance."})
    collapse_entropy_fraction: float | None = field(default=0.3, metadata={
        "help": "Warn when entropy falls below this fraction of its initial value (None = off)."})
    collapse_max_truncation: float | None = field(default=0.9, metadata={
        "help": "Warn when more than this fraction of completions hit the length cap, unless the run "
                "started that way (None = off)."})
    collapse_min_entropy: float | None = field(default=None, metadata={"help": "Warn when entropy falls below."})
    collapse_max_repetition: float | None = field(default=None, metadata={
        "help": "Warn when the n-gram repetition ratio exceeds."})
    collapse_min_length: float | None = field(default=None, metadata={"help": "Warn when mean length falls below."})
    collapse_max_length: float | None = field(default=None, metadata={"help": "Warn when mean length exceeds."})
    collapse_stop: bool = field(default=False, metadata={"help": "Stop the run when the guard fires."})

    # --- the premise monitor (vigor.training.premise): each signal's within-group AUROC against gold ----------
    premise_monitor: bool = field(default=True, metadata={
        "help": "When gold answers exist (the accuracy reward/monitor runs), log premise/<signal>/auroc[_window] "
                "every logged step and warn in premise_monitor.json when the trained reward prefers wrong answers."})
    premise_window_steps: int = field(default=8, metadata={
        "help": "The windowed AUROC pools the mixed groups of the last N logged steps."})
    premise_signals: list[str] | None = field(default=None, metadata={
        "help": f"Also monitor these gradient-norm signals {GRADIENT_SIGNALS} when the run does not train on VIGOR "
                "(a weight-0 vigor reward: one extra gradient-norm pass per step).", "nargs": "+"})

    # --- held-out evaluation during training (vigor.training.heldout) -------------------
    # TrainingArguments' own `eval_steps` is reused as the interval (its eval_strategy stays "no").
    eval_benchmark: list[str] | None = field(default=None, metadata={
        "help": "Benchmarks (any name or file `vigor eval` takes) evaluated at step 0 and every --eval-steps "
                "steps; logged as eval/<benchmark>/accuracy.", "nargs": "+"})
    eval_max_samples: int | None = field(default=None, metadata={
        "help": "Evaluate a fixed subset of this many problems per benchmark (seeded by eval_seed)."})
    eval_samples: int = field(default=1, metadata={
        "help": "Completions per problem: 1 = greedy pass@1, S > 1 = avg@S at eval_temperature."})
    eval_temperature: float = field(default=0.6, metadata={"help": "Sampling temperature when eval_samples > 1."})
    eval_max_new_tokens: int | None = field(default=None, metadata={
        "help": "Token limit of evaluation completions (None = max_completion_length; heldout_token_limit)."})
    eval_seed: int = field(default=0, metadata={"help": "Seed of the evaluation subset and sampling."})
    save_best: bool = field(default=False, metadata={
        "help": "Keep the model with the best mean held-out accuracy in output_dir/best/."})
    eval_initial_dir: str | None = field(default=None, metadata={
        "help": "A folder holding the step-0 evaluation of this same model (vigor compare shares one); "
                "read instead of evaluating again."})

    # --- LoRA (peft) ------------------------------------------------------------------
    use_peft: bool = field(default=False, metadata={"help": "Train LoRA adapters instead of all weights."})
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_target_modules: list[str] | None = field(default=None, metadata={
        "help": "Modules to adapt (None = peft's default for the architecture, or 'all-linear')."})

    # --- GPU: attention kernel and rollout speed --------------------------------------
    # TRL's own fields pick the rollout engine: `cache_implementation: static` (a fixed-size KV
    # cache), `use_transformers_continuous_batching: true` (paged, continuously batched
    # `generate_batch`; `use_transformers_paged` is its deprecated alias) or `use_vllm`. Plain
    # `generate` stays the default until a GPU measurement shows a faster exact option.
    attn_implementation: str = field(default="sdpa", metadata={
        "help": f"Attention kernel the model is loaded with, one of {ATTN_IMPLEMENTATIONS}."})
    compile_generation: bool = field(default=False, metadata={
        "help": "torch.compile the decoding step of rollouts (needs cache_implementation 'static'; the first "
                "steps pay the compilation)."})

    # --- reference recipe defaults overriding TRL's --------------------------------------
    beta: float = 0.01
    # The reference's KL term is plain k3. TRL 1.16 by default multiplies it by the (differentiable)
    # importance ratio, which changes its gradient even on-policy: d(k3 * ratio) = d k3 + k3 d log p.
    use_bias_correction_kl: bool = False
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
        self.check_vigor_fields()
        self.resolve_precision()
        super().__post_init__()  # maps use_transformers_paged -> use_transformers_continuous_batching
        self.check_rollout_precision()

    def check_vigor_fields(self) -> None:
        """vigor's checks of the fields as given (also run on a converted `trl.GRPOConfig`: trl_args)."""
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
        if self.collapse_baseline_steps < 1:
            raise ValueError(f"collapse_baseline_steps must be >= 1, got {self.collapse_baseline_steps}")
        if self.collapse_window_steps < 1:
            raise ValueError(f"collapse_window_steps must be >= 1, got {self.collapse_window_steps}")
        if self.premise_window_steps < 1:
            raise ValueError(f"premise_window_steps must be >= 1, got {self.premise_window_steps}")
        unknown = [s for s in self.premise_signals or () if s not in GRADIENT_SIGNALS]
        if unknown:
            raise ValueError(f"premise_signals: {unknown[0]!r} is not one of {GRADIENT_SIGNALS} (the token statistics "
                             "and length are monitored whenever the step computes them)")
        if self.save_best and not self.eval_benchmark:
            raise ValueError("save_best needs eval_benchmark (the best checkpoint is the best on held-out data)")
        if self.eval_benchmark is not None:
            if not self.eval_benchmark:
                raise ValueError("eval_benchmark: give at least one benchmark name or file")
            if self.eval_samples < 1 or (self.eval_max_samples is not None and self.eval_max_samples < 1):
                raise ValueError(f"eval_samples and eval_max_samples must be >= 1, got {self.eval_samples} "
                                 f"and {self.eval_max_samples}")
            if self.eval_samples > 1 and not self.eval_temperature > 0:
                raise ValueError(f"eval_samples={self.eval_samples} needs eval_temperature > 0")
            if self.eval_steps is not None and (self.eval_steps < 1 or self.eval_steps != int(self.eval_steps)):
                raise ValueError(f"eval_steps must be a whole number of steps >= 1, got {self.eval_steps}")
        if self.attn_implementation not in ATTN_IMPLEMENTATIONS:
            raise ValueError(f"attn_implementation must be one of {ATTN_IMPLEMENTATIONS}, got {self.attn_implementation!r}")
        if self.compile_generation and (self.cache_implementation != "static" or self.use_vllm
                                        or self.use_transformers_continuous_batching or self.use_transformers_paged):
            raise ValueError("compile_generation compiles plain generate with a static cache: set cache_implementation "
                             "'static' and leave use_vllm / use_transformers_continuous_batching off")
        if self.log_completions_every < 0:
            raise ValueError(f"log_completions_every must be >= 0, got {self.log_completions_every}")
        if self.repetition_ngram < 1:
            raise ValueError(f"repetition_ngram must be >= 1, got {self.repetition_ngram}")

    def check_rollout_precision(self) -> None:
        if self.use_transformers_continuous_batching and (self.bf16 or self.fp16) and self.model_dtype == "float32":
            raise ValueError("use_transformers_continuous_batching with bf16 casts the policy to half precision in place "
                             "(TRL 1.16 never casts it back): set model_dtype bfloat16 (or bf16 false), or use another "
                             "rollout engine")

    def resolve_precision(self) -> None:
        """float32 on a CPU unless bf16 is asked for explicitly; bf16 on a GPU that supports it.

        TRL's default (bf16 = not fp16) would run CPU training under bfloat16 autocast, which on a CPU
        without native bf16 (below AVX-512) emulates every matrix product (issue 8: 743 s against ~100 s
        per demo step on a 2-core AVX2 EPYC)."""
        from vigor.precision import bf16_by_default
        from vigor.training.backends import on_cuda

        on_cpu = not on_cuda(self)
        if on_cpu and self.fp16:
            raise ValueError("fp16: float16 mixed precision needs a GPU; on a CPU leave it off (float32) "
                             "or use --bf16 true")
        if self.bf16 is None:
            self.bf16 = bf16_by_default(on_cpu) and not self.fp16
        if on_cpu:  # pinned memory speeds copies to a GPU; on a CPU torch warns at every dataloader instead
            self.dataloader_pin_memory = False
