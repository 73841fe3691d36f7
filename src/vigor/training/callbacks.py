"""Callbacks: `metrics.jsonl` in the output folder, the collapse guard, and the premise monitor's warning."""

from __future__ import annotations

import json
import logging
import math
import os

from transformers import TrainerCallback

logger = logging.getLogger("vigor.training")

METRICS_FILE = "metrics.jsonl"
COLLAPSE_FILE = "collapse_guard.json"  # the guard's first firing: {"step", "reason"}
PREMISE_FILE = "premise_monitor.json"  # the premise warning's first firing: {"step", "signal", ..., "reason"}
SAMPLED_FILES = ("rewards.jsonl", "completions.jsonl")  # one record per sampling, keyed by its step


def read_records(path: str, keep=lambda record: True) -> list[tuple[str, dict]]:
    """(line, record) of each record of the JSONL file `path` (if any) for which `keep(record)` is true."""
    if not os.path.exists(path):
        return []
    with open(path) as f:
        pairs = [(line, json.loads(line)) for line in f if line.strip()]
    return [(line, record) for line, record in pairs if keep(record)]


def keep_records(path: str, keep) -> list[dict]:
    """Rewrite the JSONL file `path` (if any) with only the records for which `keep(record)` is true; returns them."""
    kept = read_records(path, keep)
    if os.path.exists(path):
        with open(path, "w") as f:
            f.writelines(line for line, _ in kept)
    return [record for _, record in kept]


def read_metrics(output_dir: str, *, up_to_step: int | None = None) -> list[dict]:
    """The records of OUTPUT_DIR/metrics.jsonl (those of steps <= up_to_step when given)."""
    path = os.path.join(output_dir, METRICS_FILE)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        records = [json.loads(line) for line in f if line.strip()]
    return [r for r in records if up_to_step is None or r.get("step", 0) <= up_to_step]


def reported_name(key: str) -> str:
    """The name a logged key gets in TensorBoard and W&B (transformers' `rewrite_logs` turns a leading
    'eval_' into 'eval/'); metrics.jsonl uses the same names."""
    return "eval/" + key[len("eval_"):] if key.startswith("eval_") else key


class MetricsFileCallback(TrainerCallback):
    """Appends one JSON object per logged step, with its `step`, to OUTPUT_DIR/metrics.jsonl (keys named
    as in TensorBoard, see `reported_name`).
    On resume, what the run does again is dropped first: metrics of steps after the checkpoint, and
    rows of rewards.jsonl / completions.jsonl sampled at or after it (their `step` counts the
    optimizer steps done before sampling). A fresh run in the same folder starts them anew."""

    def __init__(self, output_dir: str):
        self.output_dir = output_dir
        self.path = os.path.join(output_dir, METRICS_FILE)

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        # a fresh run (step 0) keeps nothing: an earlier run's step-0 evaluation is not this run's
        keep_records(self.path, lambda record: 0 < state.global_step and record.get("step", 0) <= state.global_step)
        for name in SAMPLED_FILES:
            keep_records(os.path.join(self.output_dir, name), lambda record: record["step"] < state.global_step)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs or "train_runtime" in logs:
            return  # the end-of-training summary is not a step
        record = {"step": state.global_step}
        record.update({reported_name(k): (None if isinstance(v, float) and not math.isfinite(v) else v)
                       for k, v in logs.items()})
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")


def collapse_signs(record: dict, initial: dict, args) -> list[str]:
    """The collapse signs of `record` (the recent steps' means), as phrases. Relative checks (against `initial`,
    the run's first-steps means): entropy < collapse_entropy_fraction * initial entropy; truncation rate >
    collapse_max_truncation while the initial rate was not. Absolute checks: entropy < collapse_min_entropy,
    repetition > collapse_max_repetition, mean length outside [collapse_min_length, collapse_max_length]."""
    signs = []

    def value(key):
        v = record.get(key)
        return v if isinstance(v, (int, float)) and math.isfinite(v) else None

    entropy, truncation = value("entropy"), value("completions/truncation_rate")
    start_entropy, start_truncation = initial.get("entropy"), initial.get("completions/truncation_rate")
    if args.collapse_entropy_fraction is not None and entropy is not None and start_entropy:
        if entropy < args.collapse_entropy_fraction * start_entropy:
            signs.append(f"entropy {entropy:.4g} is below {args.collapse_entropy_fraction:g} x its initial "
                         f"{start_entropy:.4g}")
    if args.collapse_max_truncation is not None and truncation is not None and start_truncation is not None:
        if truncation > args.collapse_max_truncation >= start_truncation:
            signs.append(f"{truncation:.0%} of completions hit the length cap (initially {start_truncation:.0%})")
    for label, key, limit, side in (
            ("entropy", "entropy", args.collapse_min_entropy, "below"),
            ("repetition ratio", "completions/repetition_ratio", args.collapse_max_repetition, "above"),
            ("mean completion length", "completions/mean_length", args.collapse_min_length, "below"),
            ("mean completion length", "completions/mean_length", args.collapse_max_length, "above")):
        v = value(key)
        if limit is not None and v is not None and ((v < limit) if side == "below" else (v > limit)):
            signs.append(f"{label} {v:.4g} is {side} {limit:g}")
    return signs


def mean_record(records: list[dict], keys) -> dict:
    """{key: mean of its finite numeric values over `records`} for the keys some record has."""
    out = {}
    for key in keys:
        values = [r[key] for r in records if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])]
        if values:
            out[key] = sum(values) / len(values)
    return out


class CollapseGuardCallback(TrainerCallback):
    """Warns (and with `collapse_stop` stops the run) when the recent steps show a collapse sign (see
    `collapse_signs`): the means of the last `collapse_window_steps` logged training steps, against the run's
    initial values, the means of its first `collapse_baseline_steps`. No relative check fires before the
    initial values are known. The first firing is written to OUTPUT_DIR/collapse_guard.json (a resumed run
    forgets firings after its checkpoint)."""

    KEYS = ("entropy", "completions/truncation_rate")  # the relative checks' initial values
    CHECKED = KEYS + ("completions/repetition_ratio", "completions/mean_length")

    def __init__(self, args):
        self.args = args
        self.stop = args.collapse_stop
        self.reason: str | None = None
        self.start_records: list[dict] = []
        self.recent: list[dict] = []  # the last collapse_window_steps logged steps
        self.fired = False

    def _path(self):
        return os.path.join(self.args.output_dir, COLLAPSE_FILE)

    def on_train_begin(self, args, state, control, **kwargs):
        # a resumed run: the baseline comes from the steps already logged, the firing only if it is kept
        done = [r for r in read_metrics(args.output_dir, up_to_step=state.global_step) if "entropy" in r]
        self.start_records = done[:args.collapse_baseline_steps]
        self.recent = done[-args.collapse_window_steps:]
        if os.path.exists(self._path()):
            with open(self._path()) as f:
                fired = json.load(f)
            if fired.get("step", 0) > state.global_step and state.is_world_process_zero:
                os.remove(self._path())
            else:
                self.fired = True

    def initial(self) -> dict:
        return mean_record(self.start_records, self.KEYS)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not args.collapse_guard or not logs or "entropy" not in logs:
            return  # summaries and evaluation-only records are not training steps
        if len(self.start_records) < args.collapse_baseline_steps:
            self.start_records.append(dict(logs))
            initial = {}  # no relative check while the baseline is being measured
        else:
            initial = self.initial()
        self.recent = (self.recent + [dict(logs)])[-args.collapse_window_steps:]
        signs = collapse_signs(mean_record(self.recent, self.CHECKED), initial, args)
        if not signs:
            return
        over = f" (means of the last {len(self.recent)} logged steps)" if len(self.recent) > 1 else ""
        message = f"collapse guard: {'; '.join(signs)}{over} at step {state.global_step}"
        logger.warning(message + ("; stopping the run" if self.stop else ""))
        if not self.fired and state.is_world_process_zero:
            self.fired = True
            os.makedirs(args.output_dir, exist_ok=True)
            with open(self._path(), "w") as f:
                json.dump({"step": state.global_step, "reason": message}, f)
        if self.stop and self.reason is None:
            self.reason = message
            control.should_training_stop = True
            control.should_save = True


def premise_warning(logs: dict, signal: str, min_groups: int) -> dict | None:
    """The warning's record when `signal`'s windowed AUROC has its whole 95 % interval below 0.5 over at least
    `min_groups` mixed groups (fewer make a bootstrap interval over groups mean little), else None."""
    key = f"premise/{signal}/"
    high, groups = logs.get(key + "auroc_window_ci_high"), logs.get(key + "mixed_groups") or 0
    if high is None or not high < 0.5 or groups < min_groups:
        return None
    low, value = logs[key + "auroc_window_ci_low"], logs[key + "auroc_window"]
    return {"signal": signal, "auroc_window": value, "ci95": [low, high], "mixed_groups": groups,
            "reason": f"premise monitor: the reward now prefers wrong answers: {signal}'s within-group AUROC against "
                      f"gold is {value:.3f} over the {groups} mixed groups of the last logged steps (95 % bootstrap "
                      f"interval {low:.3f} to {high:.3f}, below 0.5)"}


class PremiseCallback(TrainerCallback):
    """Warns when a trained reward's windowed within-group AUROC (see `vigor.training.premise`) is below 0.5 with
    its whole 95 % interval; the first firing goes to OUTPUT_DIR/premise_monitor.json with its step. On resume the
    monitor's window is rebuilt from premise_groups.jsonl up to the checkpoint (later records are dropped) and a
    firing after the checkpoint is forgotten, as the collapse guard does."""

    def __init__(self, monitor, *, min_groups: int | None = None):
        from vigor.analysis.run import MIN_MIXED_GROUPS

        self.monitor = monitor
        self.min_groups = MIN_MIXED_GROUPS if min_groups is None else min_groups
        self.fired = False

    def _path(self, args):
        return os.path.join(args.output_dir, PREMISE_FILE)

    def on_train_begin(self, args, state, control, **kwargs):
        path, step = self.monitor.records_path, state.global_step

        def kept(record):  # a fresh run (step 0) keeps nothing
            return 0 < step and record["step"] <= step

        if state.is_world_process_zero:
            records = keep_records(path, kept)
        else:
            records = [record for _, record in read_records(path, kept)]
        self.monitor.restore(records)
        self.fired = False
        if os.path.exists(self._path(args)):
            with open(self._path(args)) as f:
                fired = json.load(f)
            if fired.get("step", 0) > step or step == 0:
                if state.is_world_process_zero:
                    os.remove(self._path(args))
            else:
                self.fired = True

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.fired or not logs:
            return
        for signal in self.monitor.trained:
            record = premise_warning(logs, signal, self.min_groups)
            if record is None:
                continue
            record = {"step": state.global_step, **record, "reason": f"{record['reason']} at step {state.global_step}"}
            logger.warning(record["reason"])
            self.fired = True
            if state.is_world_process_zero:
                os.makedirs(args.output_dir, exist_ok=True)
                with open(self._path(args), "w") as f:
                    json.dump(record, f)
            return
