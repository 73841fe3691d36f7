"""Ready studies for `vigor compare --preset NAME` (command-line options override them)."""

from __future__ import annotations

# The demo task with subtraction on the same operands (vigor.data.procedural.ALIASES): the addition task alone
# has only 62 held-out questions, a 95 % interval of about +-11 points; this one has 126 (about +-8).
MINIATURE_TASK = "reasoning-gym:single_digit_add_sub"

PRESETS: dict[str, dict] = {
    # The paper's comparison in miniature on 2 CPU cores: the embedded SmolLM2-135M-Instruct on single-digit
    # addition and subtraction (it solves ~18 % greedily within 24 tokens, so groups mix), four rewards x 2
    # seeds, 24-token completions, evaluated greedily at steps 0, 4 and 8 on all 126 held-out questions.
    # Result, wall time and machine: docs/results/miniature-compare.md.
    "miniature": {
        "about": "SmolLM2-135M-Instruct on single-digit addition and subtraction, vigor/self_certainty/random/"
                 "accuracy x 2 seeds x 8 steps, 126 held-out problems",
        "rewards": ["vigor", "self_certainty", "random", "accuracy"],
        "seeds": [0, 1],
        "baseline": "self_certainty",
        "fields": dict(
            dataset=MINIATURE_TASK, max_samples=116, max_steps=8, num_generations=8,
            per_device_train_batch_size=8, gradient_accumulation_steps=1, max_completion_length=24,
            learning_rate=1e-5, beta=0.0, warmup_steps=0.0, temperature=0.9,
            eval_benchmark=[MINIATURE_TASK], eval_steps=4, eval_max_samples=126, eval_max_new_tokens=24,
            per_device_eval_batch_size=63, gradient_checkpointing=False, report_to=["tensorboard"]),
    },
}

# The same study four times longer, with room for the answer (32 tokens), for a patient CPU: 32 steps,
# held-out evaluation every 8, and 4 seeds, the fewest with which the report's seed-level test can reach
# p < 0.05 (3 seeds: p >= 0.1). About 90 min on 2 nearly idle cores; result: docs/results/miniature-compare.md
# ("The longer preset").
PRESETS["miniature-long"] = dict(
    PRESETS["miniature"],
    about="the miniature with 32 steps, 32-token completions, evaluation every 8 steps, 4 seeds (about 90 min)",
    seeds=[0, 1, 2, 3],
    fields=dict(PRESETS["miniature"]["fields"], max_steps=32, max_completion_length=32, eval_steps=8,
                eval_max_new_tokens=32))

# Why does VIGOR fall behind self-certainty at 135M (issue 17, item 6)? The miniature-long study with arms that
# each remove one suspect: the sqrt(T) length correction, the norm itself (logprob: likelihood alone), and the
# recipe (the reference's learning rate 2e-6, beta 0.01 and 10 % warm-up, for VIGOR and for self-certainty; warm-up
# is warmup_steps=0.1, a fraction of the steps, as the config's field takes it), and where the norm is taken
# (grad_params: the last two of SmolLM2-135M's 30 blocks, whose norm needs no backward below them). 7 arms x 4
# seeds x 32 steps. Runtime on 2 cores: 8.2-10.9 min a run at one thread (median 9.1, 20 runs; two studies side by
# side in separate folders, merged after), 6.6-6.9 min a run at two threads on the idle machine: about 3.3 hours run
# by run, about 2.1 hours as two one-thread halves. Result: docs/results/why-135m.md.
RECIPE_SETTINGS = "+learning_rate=2e-6+beta=0.01+warmup_steps=0.1"
LAST_BLOCKS = r"model\.layers\.(28|29)\."
PRESETS["why-135m"] = dict(
    PRESETS["miniature-long"],
    about="miniature-long's task with arms vigor, vigor+length_correction=false, vigor over the last 2 blocks, "
          "logprob, self_certainty, and vigor and self_certainty in the reference recipe (lr 2e-6, beta 0.01, "
          "10 % warm-up), 4 seeds",
    rewards=["vigor", "vigor+length_correction=false", f"vigor+grad_params={LAST_BLOCKS}", "logprob",
             "self_certainty", "vigor" + RECIPE_SETTINGS, "self_certainty" + RECIPE_SETTINGS],
    baseline="self_certainty")
