"""PNG plots of a demo run from its metrics.jsonl and rewards.jsonl (drawn by `vigor.evaluation.plots`)."""

from __future__ import annotations

import json
import pathlib

import numpy as np

# plot file -> (title, y label, [(metrics.jsonl key, legend label), ...]); the reward key is filled in per run
CURVES = {
    "gold_accuracy.png": ("Gold accuracy of the sampled completions (monitor, weight 0)", "fraction correct",
                          [("gold_accuracy", "gold accuracy")]),
    "entropy.png": ("Mean token entropy of the policy", "nats", [("entropy", "entropy")]),
    "completion_length.png": ("Mean completion length", "tokens", [("completions/mean_length", "mean length")]),
    "grad_norm.png": ("VIGOR gradient norm of the sampled completions", "L2 norm",
                      [("rewards/vigor/grad_norm_mean", "raw ||g||"),
                       ("rewards/vigor/grad_norm_corrected_mean", "corrected ||g|| sqrt(T)")]),
}


def read_jsonl(path) -> list[dict]:
    path = pathlib.Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def series(records: list[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of one logged metric, skipping steps that did not log it."""
    pairs = [(r["step"], r[key]) for r in records if isinstance(r.get(key), (int, float))]
    return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs], dtype=float)


def plot_curves(metrics: list[dict], reward_name: str, out_dir) -> list[str]:
    """Write one PNG per curve that has data (drawn by `plot_by_step`); return the file names written."""
    from vigor.evaluation.plots import plot_by_step

    curves = {"reward.png": (f"Raw reward '{reward_name}' (mean over the step's completions)", "reward",
                             [(f"rewards/{reward_name}/mean", reward_name)]), **CURVES}
    written = []
    for filename, (title, ylabel, keys) in curves.items():
        lines = {label: (*series(metrics, key), None, None) for key, label in keys}
        lines = {label: line for label, line in lines.items() if line[0].size}
        if lines:
            plot_by_step(pathlib.Path(out_dir) / filename, [(title, ylabel, lines)], columns=1)
            written.append(filename)
    return written


def reward_columns(reward_dump: list[dict]) -> tuple[dict[str, np.ndarray], np.ndarray] | None:
    """Per sampled completion over the run (in group order: G consecutive rows per prompt), the raw
    reward of every reward computed ({name: values}) and the completion lengths, from rewards.jsonl.
    None when nothing was dumped."""
    if not reward_dump:
        return None
    names = reward_dump[0]["rewards"]
    raw = np.concatenate([np.array(record["raw"], dtype=float).reshape(-1, len(names)) for record in reward_dump])
    lengths = np.concatenate([np.array(record["lengths"], dtype=float) for record in reward_dump])
    return {name: raw[:, k] for k, name in enumerate(names)}, lengths


def gradnorm_and_correctness(found: tuple[dict[str, np.ndarray], np.ndarray] | None) -> dict[str, np.ndarray] | None:
    """Per sampled completion over the run (`found`: its `reward_columns`): corrected VIGOR norm
    ||g|| sqrt(T) (minus its raw reward), the uncorrected ||g||, and correctness (None unless both
    'vigor' and 'accuracy' were computed)."""
    from vigor.rewards import length_uncorrected

    if found is None or "vigor" not in found[0] or "accuracy" not in found[0]:
        return None
    columns, lengths = found
    corrected = -columns["vigor"]
    return {"corrected": corrected, "raw": length_uncorrected(corrected, lengths),
            "correct": np.nan_to_num(columns["accuracy"], nan=0.0) > 0.5}
