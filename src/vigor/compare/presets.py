"""Ready studies for `vigor compare --preset NAME` (command-line options override them)."""

from __future__ import annotations

MINIATURE_TASK = "reasoning-gym:basic_arithmetic"

PRESETS: dict[str, dict] = {
    # The paper's comparison in miniature on 2 CPU cores: the embedded SmolLM2-135M-Instruct on a task it
    # partly solves, four rewards x 2 seeds, short completions, 100 held-out problems (a 95 % interval of
    # at most +-10 points).
    "miniature": {
        "about": "SmolLM2-135M-Instruct on single-digit arithmetic, vigor/self_certainty/random/accuracy x 2 "
                 "seeds, 100 held-out problems (~45 min on 2 CPU cores)",
        "rewards": ["vigor", "self_certainty", "random", "accuracy"],
        "seeds": [0, 1],
        "baseline": "self_certainty",
        "fields": dict(
            dataset=MINIATURE_TASK, max_samples=256, max_steps=12, num_generations=8,
            per_device_train_batch_size=8, gradient_accumulation_steps=1, max_completion_length=32,
            learning_rate=1e-5, beta=0.0, warmup_steps=0.0, temperature=0.9,
            eval_benchmark=[MINIATURE_TASK], eval_steps=6, eval_max_samples=100, eval_max_new_tokens=32,
            per_device_eval_batch_size=50, gradient_checkpointing=False, report_to=["tensorboard"]),
    },
}
