"""What a demo run measured: before/after accuracy with intervals and a paired test, the
training curves, and the reward's premise: did each intrinsic reward rank the correct completions
of a training prompt above its incorrect ones (statistics from `vigor.analysis`)?"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import numpy as np

from vigor.analysis.stats import mcnemar_exact_p, signal_summary, wilson_interval
from vigor.demo.plots import gradnorm_and_correctness, plot_curves, read_jsonl, reward_columns, series


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


def premise_statistics(found: tuple[dict[str, np.ndarray], np.ndarray] | None, group_size: int, *,
                       resamples: int = 1000) -> dict | None:
    """Per intrinsic reward computed during training (and VIGOR without its sqrt(T) correction), the
    `signal_summary` of its raw reward against the accuracy monitor's verdict over the training groups.
    `found`: the run's `reward_columns`. None unless the accuracy monitor ran."""
    from vigor.rewards import REWARDS, length_uncorrected

    if found is None or "accuracy" not in found[0]:
        return None
    columns, lengths = found
    correct = (np.nan_to_num(columns["accuracy"], nan=0.0) > 0.5).reshape(-1, group_size)
    scores = {}
    for name, values in columns.items():
        if name in REWARDS and REWARDS[name].needs != "text":  # model-based: vigor, self_certainty, ...
            scores[name] = values
            if name == "vigor":  # -||g|| sqrt(T) -> -||g||: does the length correction matter?
                scores["vigor_uncorrected"] = length_uncorrected(values, lengths)
    return {name: signal_summary(values.reshape(-1, group_size), correct, resamples=resamples)
            for name, values in scores.items()}


def summarise_run(settings, out: pathlib.Path, before: dict, after: dict, timings: dict, *, model_path: str) -> dict:
    metrics = read_jsonl(out / "metrics.jsonl")
    from vigor.rewards import parse_rewards
    from vigor.training.premise import signal_name

    term = parse_rewards(settings.reward)[0]
    reward_name = term.name
    plots = plot_curves(metrics, reward_name, out)
    found = reward_columns(read_jsonl(out / "rewards.jsonl"))
    dump = gradnorm_and_correctness(found)
    if dump is not None:
        from vigor.analysis.run import plot_gradnorm_vs_correct

        plot_gradnorm_vs_correct(dump["raw"], dump["corrected"], dump["correct"], out / "gradnorm_vs_correct.png")
        plots.append("gradnorm_vs_correct.png")
    premise = premise_statistics(found, settings.num_generations)
    signal = signal_name(term.name, getattr(term.options, "length_correction", True))
    premise_curve = premise_by_step(metrics, signal, out)
    plots += [PREMISE_PLOT] if premise_curve["steps"] else []
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
    # a direction is claimed only when the paired test supports one
    verb = direction if significant or change == 0 else "changed within noise"
    headline = (f"Held-out accuracy {verb}: {b['correct']}/{b['n']} ({b['accuracy']:.1%}) before, "
                f"{a['correct']}/{a['n']} ({a['accuracy']:.1%}) after training "
                f"({paired['gained']} problems newly solved, {paired['lost']} newly failed; exact McNemar "
                f"p = {p_value:.2g}: {'a real change at the 5 % level' if significant else 'within noise at this sample size'}).")
    return {
        "headline": headline, "direction": direction, "significant": significant,
        "settings": dataclasses.asdict(settings), "model": model_path,
        "model_label": settings.model or "the embedded SmolLM2-135M-Instruct (Q4_1 GGUF dequantized to float32)",
        "before": b, "after": a, "paired": paired | {"mcnemar_p": p_value},
        "curves": curves, "premise": premise, "premise_curve": premise_curve,
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
    lines += premise_section(result["premise"])
    lines += premise_curve_section(result.get("premise_curve"))
    lines += changes_section(result)
    if result.get("departures"):
        from vigor.training.recipe import departures_section

        lines += departures_section(result["departures"], subject="this demo")[1:] + [""]  # [1:]: no blank line first
    lines += ["## Plots", ""] + [f"![{p}]({p})" for p in result["plots"]] + [""]
    lines += ["## Reading this honestly", "",
              "A short CPU run on a 135 M-parameter model changes little, and a few dozen held-out problems "
              "give wide intervals: treat a change as real only when the paired test says so. For a firmer "
              "answer run `vigor demo --preset long` (or larger --steps/--eval-size), and compare rewards with "
              f"{other_rewards()}.", ""]
    return "\n".join(lines)



def other_rewards() -> str:
    """The report's closing hint: `vigor demo --reward self_certainty` (or every other registered reward)."""
    from vigor.rewards import reward_names

    others = [n for n in reward_names() if n != "vigor"]
    first = "self_certainty" if "self_certainty" in others else others[0]
    rest = [n for n in others if n != first]
    return f"`vigor demo --reward {first}`" + (f" (or {', '.join(rest)})" if rest else "")


def premise_section(premise: dict | None) -> list[str]:
    """Does each intrinsic reward rank a training prompt's correct completions above its incorrect ones?"""
    from vigor.analysis.run import MIN_MIXED_GROUPS, signal_table, verdict

    lines = ["## Does the reward's premise hold on this model?", ""]
    if premise is None:
        return lines + ["Not measurable: the training data had no gold answers, so the sampled completions "
                        "were not graded.", ""]
    vigor = premise.get("vigor")
    some = next(iter(premise.values()))
    mixed, groups = some["n_groups_mixed"], some["n_groups"]
    lines.append(
        f"Every completion sampled during training was graded by the accuracy monitor (weight 0). Of the "
        f"{groups} training groups, {mixed} mixed correct and incorrect completions; only those can tell whether "
        "a reward ranks correct completions higher. Per reward (its raw value, higher = preferred; VIGOR: minus "
        "the corrected gradient norm): the mean within-group AUROC over the mixed groups (0.5 = no information), "
        "how often the completion it ranks first is correct against chance (the group's fraction correct), with "
        "95 % bootstrap intervals over groups. The completions come from the policy as it trained.")
    lines.append("")
    if mixed < MIN_MIXED_GROUPS:
        lines += [f"Too few mixed groups ({mixed} < {MIN_MIXED_GROUPS}) to tell whether any reward prefers the correct "
                  "completions on this task; use a task the model partly solves, or more steps.", ""]
        return lines
    lines += signal_table(premise) + [""]
    if vigor is not None:
        lines += [f"**VIGOR here:** {verdict(vigor)}; its top-ranked completion was correct "
                  f"{vigor['top1_correct']:.0%} of the time against {vigor['chance']:.0%} chance. "
                  "The plot `gradnorm_vs_correct.png` shows the corrected gradient norm of every correct and "
                  "incorrect completion.", ""]
    return lines


PREMISE_PLOT = "premise_by_step.png"


def premise_by_step(metrics: list[dict], signal: str, out) -> dict:
    """The training reward's windowed AUROC against gold by step, as the premise monitor logged it
    (`premise/<signal>/auroc_window`, vigor.training.premise), drawn with the 0.5 of no information into
    premise_by_step.png; {"signal", "steps": [], ...} (and no plot) when the run did not log it."""
    from vigor.evaluation.plots import plot_by_step

    steps, values = series(metrics, f"premise/{signal}/auroc_window")
    curve = {"signal": signal, "steps": [int(x) for x in steps], "auroc_window": [float(x) for x in values]}
    if len(steps):
        lines = {f"{signal} (window)": (steps, values, None, None), "0.5: no information": (steps, [0.5] * len(steps),
                                                                                            None, None)}
        plot_by_step(pathlib.Path(out) / PREMISE_PLOT,
                     [("premise: the training reward's windowed AUROC against gold", "AUROC", lines)], columns=1)
    return curve


def premise_curve_section(curve: dict | None) -> list[str]:
    """One sentence on the premise during training, pointing at its plot, or why there is none."""
    if not curve or not curve["steps"]:
        signal = curve["signal"] if curve else "the training reward"
        return [f"The premise was not tracked during training (no `premise/{signal}/auroc_window` in metrics.jsonl: "
                "the monitor needs gold answers and `premise_monitor` on).", ""]
    steps, values = curve["steps"], curve["auroc_window"]
    return [f"During training, the windowed within-group AUROC of `{curve['signal']}` against gold went from "
            f"{values[0]:.3f} at step {steps[0]} to {values[-1]:.3f} at step {steps[-1]} (0.5: no information; "
            f"below 0.5 it prefers wrong answers); `{PREMISE_PLOT}` shows it by step.", ""]


def changes_section(result: dict) -> list[str]:
    """What changed and what did not, in plain words (only the held-out change has a test behind it)."""
    b, a, paired = result["before"], result["after"], result["paired"]
    lines = ["## What changed and what did not", "",
             "- The weights changed: training ran every step (`model/` holds the result).",
             f"- Held-out accuracy {result['direction']}: {b['accuracy']:.1%} -> {a['accuracy']:.1%} "
             f"({paired['gained']} gained, {paired['lost']} lost, McNemar p = {paired['mcnemar_p']:.2g}): "
             + ("a real change at the 5 % level." if result["significant"] else
                "no change that this many problems can distinguish from noise.")]
    gold = result["curves"].get("gold_accuracy")
    if gold is not None:
        lines.append(f"- Gold accuracy of the sampled training completions: {gold['first_third']:.0%} over the "
                     f"first third of the steps, {gold['last_third']:.0%} over the last (different prompts each "
                     "step, no test: a trend to read, not a result).")
    return lines + [""]
