"""What a demo run measured: before/after accuracy with intervals and a paired test, the
training curves, and whether VIGOR's ranking agreed with correctness during training."""

from __future__ import annotations

import dataclasses
import json
import pathlib

import numpy as np

from vigor.analysis.stats import mcnemar_exact_p, signal_summary, wilson_interval
from vigor.demo.plots import gradnorm_and_correctness, plot_curves, read_jsonl, series


def paired_outcomes(out: pathlib.Path) -> dict:
    """Per held-out problem, correct before and after (from the evaluation sample files)."""
    def correct_by_id(folder):
        files = sorted((out / folder).glob("*.samples.jsonl"))
        return {row["id"]: bool(row["correct"]) for row in read_jsonl(files[0])} if files else {}

    before, after = correct_by_id("eval_before"), correct_by_id("eval_after")
    ids = [i for i in before if i in after]
    gained = sum(1 for i in ids if after[i] and not before[i])
    lost = sum(1 for i in ids if before[i] and not after[i])
    return {"n": len(ids), "gained": gained, "lost": lost}


def accuracy_row(summary: dict) -> dict:
    n = summary["n"] * summary.get("samples", 1)
    correct = int(round(summary["accuracy"] * n))
    low, high = wilson_interval(correct, n)
    return {"accuracy": summary["accuracy"], "correct": correct, "n": n, "ci95": [low, high]}


def early_late(values: np.ndarray) -> tuple[float, float] | None:
    """Mean of the first and of the last third of a curve (None if it has under 2 points)."""
    if values.size < 2:
        return None
    k = max(1, values.size // 3)
    return float(values[:k].mean()), float(values[-k:].mean())


def summarise_run(settings, out: pathlib.Path, before: dict, after: dict, timings: dict, *, model_path: str) -> dict:
    metrics = read_jsonl(out / "metrics.jsonl")
    from vigor.rewards import parse_reward_spec

    reward_name = parse_reward_spec(settings.reward)[0][0]
    plots = plot_curves(metrics, reward_name, out)
    dump = gradnorm_and_correctness(read_jsonl(out / "rewards.jsonl"), settings.num_generations)
    training_auroc = None
    if dump is not None:
        from vigor.analysis.run import plot_gradnorm_vs_correct

        correct = np.nan_to_num(dump["correct"], nan=0.0) > 0.5
        plot_gradnorm_vs_correct(dump["raw"], dump["corrected"], correct, out / "gradnorm_vs_correct.png")
        plots.append("gradnorm_vs_correct.png")
        training_auroc = signal_summary(-dump["corrected"].reshape(-1, settings.num_generations),
                                        correct.reshape(-1, settings.num_generations), resamples=1000)
    curves = {}
    for key in ("gold_accuracy", "entropy", "completions/mean_length", f"rewards/{reward_name}/mean",
                "rewards/vigor/grad_norm_corrected_mean"):
        pair = early_late(series(metrics, key)[1])
        if pair is not None:
            curves[key] = {"first_third": pair[0], "last_third": pair[1]}
    b, a = accuracy_row(before), accuracy_row(after)
    paired = paired_outcomes(out)
    p_value = mcnemar_exact_p(paired["gained"], paired["lost"])
    change = a["correct"] - b["correct"]
    direction = "rose" if change > 0 else "fell" if change < 0 else "did not change"
    significant = p_value < 0.05
    headline = (f"Held-out accuracy {direction}: {b['correct']}/{b['n']} ({b['accuracy']:.1%}) before, "
                f"{a['correct']}/{a['n']} ({a['accuracy']:.1%}) after training "
                f"({paired['gained']} problems newly solved, {paired['lost']} newly failed; exact McNemar "
                f"p = {p_value:.2g}: {'a real change at the 5 % level' if significant else 'within noise at this sample size'}).")
    return {
        "headline": headline, "direction": direction, "significant": significant,
        "settings": dataclasses.asdict(settings), "model": model_path,
        "model_label": settings.model or "the embedded SmolLM2-135M-Instruct (Q4_1 GGUF dequantized to float32)",
        "before": b, "after": a, "paired": paired | {"mcnemar_p": p_value},
        "curves": curves, "training_vigor_vs_correct": training_auroc,
        "timings_s": {k: round(v, 1) for k, v in timings.items()}, "plots": plots,
    }


def write_report(result: dict, out: pathlib.Path) -> None:
    from vigor.analysis.run import _jsonable

    (out / "demo.json").write_text(json.dumps(_jsonable(result), indent=2) + "\n")
    (out / "report.md").write_text(markdown(result))


def markdown(result: dict) -> str:
    s, b, a, t = result["settings"], result["before"], result["after"], result["timings_s"]
    mode = "LoRA adapters (merged into model/)" if s["lora"] else "all weights"
    lines = [
        "# vigor demo", "",
        f"**{result['headline']}**", "",
        "| held-out problems (greedy) | correct | accuracy | 95 % CI (Wilson) |", "|---|---:|---:|---|",
        f"| before training | {b['correct']}/{b['n']} | {b['accuracy']:.1%} | {b['ci95'][0]:.1%} - {b['ci95'][1]:.1%} |",
        f"| after training | {a['correct']}/{a['n']} | {a['accuracy']:.1%} | {a['ci95'][0]:.1%} - {a['ci95'][1]:.1%} |",
        "",
        "## What was run", "",
        f"- Model: {result['model_label']} (`{result['model']}`).",
        f"- Data: reasoning-gym `{s['task']}` (seed {s['seed']}): {s['train_size']} training problems and "
        f"{s['eval_size']} held-out problems that share no question with them (`data/`).",
        f"- Training: GRPO with reward `{s['reward']}` for {s['steps']} steps, {s['prompts_per_step']} prompt(s) x "
        f"G = {s['num_generations']} completions per step, at most {s['max_new_tokens']} new tokens, temperature "
        f"{s['temperature']}, {mode}, learning rate "
        f"{s['lora_learning_rate'] if s['lora'] else s['learning_rate']:g} (cosine, warm-up {s.get('warmup_steps', 0):g}), "
        f"KL beta {s['beta']:g}. The gold answers "
        "were never used for training: gold accuracy was computed with weight 0, as a monitor only.",
        f"- Evaluation: greedy decoding, at most {s['eval_max_new_tokens']} new tokens, final answers checked with "
        "math-verify (`eval_before/`, `eval_after/` hold every completion and verdict).",
        f"- Time: {t.get('total', 0) / 60:.1f} min in all (evaluation before {t.get('eval_before', 0):.0f} s, "
        f"training {t.get('train', 0):.0f} s, evaluation after {t.get('eval_after', 0):.0f} s).",
        "",
        "## What was measured during training", "",
    ]
    labels = {"gold_accuracy": "gold accuracy of the sampled completions",
              "entropy": "mean token entropy", "completions/mean_length": "mean completion length (tokens)",
              "rewards/vigor/grad_norm_corrected_mean": "mean corrected gradient norm (norm x sqrt(T))"}
    if result["curves"]:
        lines += ["| metric | first third of steps | last third of steps |", "|---|---:|---:|"]
        for key, v in result["curves"].items():
            label = labels.get(key, f"raw reward `{key.split('/')[1]}`" if key.startswith("rewards/") else key)
            lines.append(f"| {label} | {v['first_third']:.4g} | {v['last_third']:.4g} |")
        lines.append("")
    auc = result["training_vigor_vs_correct"]
    if auc is not None:
        if auc["n_groups_mixed"]:
            from vigor.analysis.run import verdict

            low, high = auc["auroc_ci"]
            interval = f"95 % bootstrap CI {low:.3f} - {high:.3f}; " if low is not None and np.isfinite(low) else ""
            lines.append(
                f"Did VIGOR's ranking agree with correctness during training? Over the {auc['n_groups_mixed']} "
                f"training prompt(s) whose completions were partly correct, the mean within-group AUROC of minus the "
                f"corrected gradient norm for telling correct from incorrect was {auc['auroc']:.3f} ({interval}"
                f"0.5 = no information): {verdict(auc)}. "
                "Run `vigor analyze` for this and the other intrinsic signals on more prompts.")
        else:
            lines.append("No training prompt had both correct and incorrect completions, so whether VIGOR's ranking "
                         "agrees with correctness could not be measured in this run (see `vigor analyze`).")
        lines.append("")
    lines += ["## Plots", ""] + [f"![{p}]({p})" for p in result["plots"]] + [""]
    lines += ["## Reading this honestly", "",
              "A short CPU run on a 135 M-parameter model changes little, and a few dozen held-out problems "
              "give wide intervals: treat a change as real only when the paired test says so. For a firmer "
              "answer run `vigor demo --preset long` (or larger --steps/--eval-size), and compare rewards with "
              "`vigor demo --reward self_certainty` (or random, neg_entropy, logprob, majority_vote, accuracy).", ""]
    return "\n".join(lines)

