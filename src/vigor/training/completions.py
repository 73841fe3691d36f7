"""`--log-completions N`: every N steps, one row per sampled completion, so a user can read what the
rewards preferred: in OUTPUT_DIR/completions.jsonl, and as a text table in TensorBoard and a table
in W&B when those are on.

Row: step (optimizer steps done before sampling), group (prompt index in the gathered batch),
prompt, completion, rewards {name: value as logged}, rank (1 = the largest policy advantage in
the group; ties share the better rank), advantage (sum_k w_k A_k, what the loss used) and
correct (the accuracy reward's verdict; only when it runs, e.g. as the weight-0 monitor).
"""

from __future__ import annotations

import json
import math
import os

import torch

COMPLETIONS_FILE = "completions.jsonl"  # also in vigor.training.callbacks.SAMPLED_FILES


def group_ranks(advantage: torch.Tensor, group_size: int) -> torch.Tensor:
    """1 + the number of completions of the same group with a strictly larger advantage."""
    groups = advantage.reshape(-1, group_size)
    return (1 + (groups.unsqueeze(1) > groups.unsqueeze(2)).sum(2)).reshape(-1)


def _number(value: float):
    return None if value is None or not math.isfinite(value) else value


def completion_rows(step: int, prompts: list, completions: list, names: list[str], reported: torch.Tensor,
                    advantage: torch.Tensor, group_size: int) -> list[dict]:
    """The rows of one gathered batch (`reported` [N, R] as logged, `advantage` [N])."""
    ranks = group_ranks(advantage, group_size).tolist()
    rows = []
    for i, (prompt, completion) in enumerate(zip(prompts, completions)):
        values = {name: _number(reported[i, k].item()) for k, name in enumerate(names)}
        row = {"step": step, "group": i // group_size, "prompt": prompt, "completion": completion,
               "rewards": values, "rank": ranks[i], "advantage": _number(advantage[i].item())}
        if "accuracy" in names:
            row["correct"] = None if values["accuracy"] is None else bool(values["accuracy"] == 1.0)
        rows.append(row)
    return rows


def _markdown(rows: list[dict]) -> str:
    def cell(value) -> str:
        text = value if isinstance(value, str) else json.dumps(value)
        return text.replace("|", "\\|").replace("\n", "<br>")
    names = list(rows[0]["rewards"]) if rows else []
    head = ["group", "rank", "advantage", *names, "correct", "prompt", "completion"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        values = [r["group"], r["rank"], r["advantage"], *(r["rewards"][n] for n in names), r.get("correct"),
                  r["prompt"], r["completion"]]
        lines.append("| " + " | ".join(cell(v) for v in values) + " |")
    return "\n".join(lines)


def write_completions(rows: list[dict], output_dir: str, step: int, callbacks=()) -> None:
    """Append `rows` to completions.jsonl; add them to TensorBoard / W&B when their callback is active."""
    os.makedirs(output_dir, exist_ok=True)
    with open(os.path.join(output_dir, COMPLETIONS_FILE), "a") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    for callback in callbacks:
        kind = type(callback).__name__
        if kind == "TensorBoardCallback" and getattr(callback, "tb_writer", None) is not None:
            callback.tb_writer.add_text("completions", _markdown(rows), step)
            callback.tb_writer.flush()
        elif kind == "WandbCallback" and getattr(callback, "_wandb", None) is not None \
                and callback._wandb.run is not None:
            names = list(rows[0]["rewards"]) if rows else []
            columns = ["step", "group", "rank", "advantage", *names, "correct", "prompt", "completion"]
            data = [[r["step"], r["group"], r["rank"], r["advantage"], *(r["rewards"][n] for n in names),
                     r.get("correct"), json.dumps(r["prompt"]) if not isinstance(r["prompt"], str) else r["prompt"],
                     r["completion"]] for r in rows]
            callback._wandb.log({"completions": callback._wandb.Table(columns=columns, data=data)}, commit=False)
