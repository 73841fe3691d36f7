"""A metric's curve over a study's seeds: the one formula of the report's lines and bands."""

from __future__ import annotations

import numpy as np


def by_step(runs: list[dict], key: str, *, evals: bool) -> tuple:
    """(steps, mean, min, max) over seeds of a metric, at the steps every run logged it. `runs`: each a dict
    with "metrics" (every logged record) and, when `evals`, "evals" (the held-out evaluation records)."""
    series = []
    for run in runs:
        records = run["evals"] if evals else run["metrics"]
        series.append({r["step"]: r[key] for r in records if isinstance(r.get(key), (int, float))})
    steps = sorted(set.intersection(*(set(s) for s in series))) if series else []
    values = np.array([[s[t] for t in steps] for s in series], dtype=float).reshape(len(series), len(steps))
    return steps, values.mean(0).tolist(), values.min(0).tolist(), values.max(0).tolist()
