"""`vigor eval --checkpoints RUN_DIR`: evaluate every checkpoint of a training run.

Each RUN_DIR/checkpoint-N (N = its optimizer step) and the final model in RUN_DIR itself (its step read
from RUN_DIR/metrics.jsonl; skipped when a checkpoint of that step exists, the same weights) is
evaluated with `evaluate`, into OUTPUT_DIR/step-N/. Then OUTPUT_DIR/checkpoints.md (step x benchmark
accuracy table), checkpoints.json and accuracy_by_step.png.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from vigor.models import ADAPTER_CONFIG


def holds_model(folder: Path) -> bool:
    """A model folder, or the LoRA adapters of a `--use-peft true` run (loaded merged into their base)."""
    return (folder / "config.json").exists() or (folder / ADAPTER_CONFIG).exists()


def find_checkpoints(run_dir) -> list[tuple[int, Path]]:
    """[(step, folder)] sorted by step; the final model last when its step is known and new."""
    run_dir = Path(run_dir)
    found = {}
    for folder in run_dir.glob("checkpoint-*"):
        match = re.fullmatch(r"checkpoint-(\d+)", folder.name)
        if match and folder.is_dir() and holds_model(folder):
            found[int(match.group(1))] = folder
    metrics = run_dir / "metrics.jsonl"
    if holds_model(run_dir) and metrics.exists():
        steps = [json.loads(line).get("step", 0) for line in metrics.read_text().splitlines() if line.strip()]
        if steps and max(steps) not in found:
            found[max(steps)] = run_dir
    return sorted(found.items())


def evaluate_checkpoints(run_dir, benchmarks: list[str], output_dir, settings, *, loaded: dict | None = None) -> dict:
    """{step: {benchmark: summary}}; writes the table, the JSON and the plot. `settings`: `evaluate`'s
    EvalSettings, the same for every checkpoint. `loaded`: `evaluate`'s, the records read once for all of them."""
    from vigor.evaluation.evaluate import evaluate
    from vigor.evaluation.plots import plot_by_step

    checkpoints = find_checkpoints(run_dir)
    if not checkpoints:
        raise ValueError(f"--checkpoints {run_dir}: no checkpoint-N folder with a model (and no final model "
                         "with metrics.jsonl) in it")
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    results = {}
    for step, folder in checkpoints:
        results[step] = evaluate(str(folder), benchmarks, settings, output_dir=out / f"step-{step}", loaded=loaded)
    names = list(next(iter(results.values())))
    lines = ["| step | checkpoint | " + " | ".join(names) + " |", "|---:|---|" + "---:|" * len(names)]
    for step, folder in checkpoints:
        lines.append(f"| {step} | {folder.name if folder != Path(run_dir) else '(final model)'} | " +
                     " | ".join(f"{100 * results[step][n]['accuracy']:.2f}" for n in names) + " |")
    (out / "checkpoints.md").write_text("# Held-out accuracy (%) by checkpoint\n\n" + "\n".join(lines) + "\n")
    (out / "checkpoints.json").write_text(json.dumps({str(s): r for s, r in results.items()}, indent=1) + "\n")
    steps = [s for s, _ in checkpoints]
    plot_by_step(out / "accuracy_by_step.png", [(
        "held-out accuracy by checkpoint", "accuracy",
        {n: (steps, [results[s][n]["accuracy"] for s in steps], None, None) for n in names})], columns=1)
    return results
