"""Ready studies for `vigor compare --preset NAME` (command-line options override them)."""

from __future__ import annotations

MINIATURE_TASK = "reasoning-gym:single_digit_addition"  # the demo task (vigor.data.procedural.ALIASES)

PRESETS: dict[str, dict] = {
    # The paper's comparison in miniature on 2 CPU cores: the embedded SmolLM2-135M-Instruct on the demo task
    # (single-digit addition: it solves ~25 % greedily, so groups mix), four rewards x 2 seeds, 24-token
    # completions, evaluated greedily at steps 0, 4 and 8 on all 62 held-out questions the task has (its
    # 95 % interval is about +-10 points for 2 pooled seeds, +-11 for one run: the task has no more
    # questions). Measured: 35 min wall for the whole study on 2 shared CPU cores (it got 41 % of them);
    # result in docs/results/miniature-compare.md.
    "miniature": {
        "about": "SmolLM2-135M-Instruct on single-digit addition, vigor/self_certainty/random/accuracy x 2 "
                 "seeds x 8 steps, 62 held-out problems (35 min measured on 2 busy CPU cores)",
        "rewards": ["vigor", "self_certainty", "random", "accuracy"],
        "seeds": [0, 1],
        "baseline": "self_certainty",
        "fields": dict(
            dataset=MINIATURE_TASK, max_samples=59, max_steps=8, num_generations=8,
            per_device_train_batch_size=8, gradient_accumulation_steps=1, max_completion_length=24,
            learning_rate=1e-5, beta=0.0, warmup_steps=0.0, temperature=0.9,
            eval_benchmark=[MINIATURE_TASK], eval_steps=4, eval_max_samples=62, eval_max_new_tokens=24,
            per_device_eval_batch_size=62, gradient_checkpointing=False, report_to=["tensorboard"]),
    },
}
