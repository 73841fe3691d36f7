"""The reference recipe (the paper's Qwen2.5-3B/7B-Base MATH runs, ../shared/docs/reference-notes.md) and a run's
departures from it, which every results file states (compare's report, the demo's report).

A run is described by its config fields (a `VigorGRPOConfig`, or the dict of them that `study.json` records).
Each entry of REFERENCE names what the reference ran and reads the run's value of the same thing:
  model               Qwen2.5-7B-Base (the 3B run: Qwen2.5-3B-Base)
  data                MATH train (7,500 problems)
  learning rate       2e-6, cosine, 10 % warm-up
  beta                0.01 (k3 KL to the initial model)
  prompts per step    48 (3B) / 112 (7B) prompts per generation round
                      = per_device_train_batch_size x gradient_accumulation_steps x processes / G
  G                   8 completions per prompt
  length cap          1024 (3B) / 3072 (7B) completion tokens
  temperature         0.9 (top-k 50)
  clip                0.2 (PPO clip, symmetric)
  updates per round   1 (3B) / 3 (7B)  (num_iterations)
"""

from __future__ import annotations

import math

REFERENCE_MODELS = ("Qwen/Qwen2.5-7B", "Qwen/Qwen2.5-3B")


def _is_math_train(dataset) -> bool:
    """The hub id the reference used, or a local copy of MATH's train split (a path naming math and train)."""
    name = str(dataset or "").lower().replace("\\", "/")
    return name == "digitallearninggmbh/math-lighteval" or ("math" in name and "train" in name.rsplit("/", 1)[-1])


def _model(run: dict) -> str:
    return str(run.get("model_name_or_path") or "the embedded SmolLM2-135M-Instruct").rstrip("/")


def _warmup_fraction(run: dict) -> float:
    """The warm-up as a fraction of the steps: `warmup_steps` below 1 is a fraction (transformers 5), else steps."""
    steps = float(run.get("warmup_steps") or 0)
    if steps >= 1 and run.get("max_steps"):
        return steps / float(run["max_steps"])
    return steps or float(run.get("warmup_ratio") or 0)


def _prompts_per_step(run: dict) -> float:
    return (int(run.get("per_device_train_batch_size") or 0) * int(run.get("gradient_accumulation_steps") or 1)
            * int(run.get("world_size") or 1) / max(1, int(run.get("num_generations") or 1)))


# (what, the reference's value as text, the run's value as text, whether the run's value is the reference's)
def _checks(run: dict) -> list[tuple[str, str, str, bool]]:
    lr, beta = float(run.get("learning_rate") or 0), float(run.get("beta") or 0)
    warmup = _warmup_fraction(run)
    per_step = _prompts_per_step(run)
    cap = int(run.get("max_completion_length") or 0)
    return [
        ("model", "Qwen2.5-7B-Base or 3B-Base", _model(run), _model(run) in REFERENCE_MODELS),
        ("data", "MATH train", str(run.get("dataset")), _is_math_train(run.get("dataset"))),
        ("learning rate", "2e-6, cosine", f"{lr:g}, {run.get('lr_scheduler_type')}",
         math.isclose(lr, 2e-6) and str(run.get("lr_scheduler_type")).endswith("cosine")),
        ("warm-up", "10 %", f"{100 * warmup:g} %", math.isclose(warmup, 0.1)),
        ("beta (KL)", "0.01", f"{beta:g}", math.isclose(beta, 0.01)),
        ("prompts per step", "48 (3B) / 112 (7B)", f"{per_step:g}", per_step in (48, 112)),
        ("G", "8", str(run.get("num_generations")), int(run.get("num_generations") or 0) == 8),
        ("length cap", "1024 (3B) / 3072 (7B) tokens", f"{cap} tokens", cap in (1024, 3072)),
        ("temperature", "0.9", f"{run.get('temperature')}", math.isclose(float(run.get("temperature") or 0), 0.9)),
        ("PPO clip", "0.2", f"{run.get('epsilon')}", math.isclose(float(run.get("epsilon") or 0), 0.2)),
        ("updates per round", "1 (3B) / 3 (7B)", f"{run.get('num_iterations')}",
         int(run.get("num_iterations") or 1) in (1, 3)),
    ]


def departures(run: dict) -> list[str]:
    """One line per setting of `run` (config fields as a dict) that departs from the reference recipe."""
    return [f"{what}: {value} (reference: {reference})" for what, reference, value, same in _checks(run) if not same]


def departures_section(lines: list[str], *, subject: str) -> list[str]:
    """The section's heading, what it means, and one bullet per departure (`departures`' lines)."""
    return ["", "## Departures from the reference recipe", "",
            f"The paper's recipe (Qwen2.5-7B-Base on MATH; ../shared/docs/reference-notes.md) against {subject}'s "
            f"settings; every line below is a way in which {subject} does not test the paper's claim.", "",
            *([f"- {line}" for line in lines] or ["- none"])]


def departures_markdown(run: dict, *, per_arm: dict[str, dict] | None = None, subject: str = "this study") -> list[str]:
    """A results file's section: the run's departures, and any arm's own (`per_arm`: {arm: its fields}): what it
    departs from further, and where it is as the reference although the run is not."""
    base = {what for what, _, _, same in _checks(run) if not same}
    lines = departures_section(departures(run), subject=subject)
    for arm, fields in (per_arm or {}).items():
        checks = _checks({**run, **fields})
        own = [f"{what}: {value} (reference: {reference})" for what, reference, value, same in checks
               if not same and what not in base]
        back = [what for what, _, _, same in checks if same and what in base]
        if own or back:
            parts = ([f"departs further: {'; '.join(own)}"] if own else []) + \
                    ([f"as the reference: {', '.join(back)}"] if back else [])
            lines.append(f"- arm `{arm}`: " + "; ".join(parts))
    return lines
