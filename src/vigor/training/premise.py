"""The premise, tracked during training: does each signal the step computes still tell right answers from wrong?

On whenever gold correctness is known (the `accuracy` reward runs, by default as the weight-0 monitor) and
`premise_monitor` is on. At every logged training step, for every signal, the within-group AUROC against gold
correctness, defined as `vigor analyze` and the demo report define it (`vigor.analysis.stats`): in each mixed
group (the G completions of one prompt, some right and some wrong) AUROC = P(score of a right one > score of a
wrong one) + 1/2 P(tie), then the mean over the mixed groups (pooled: every mixed group counts once). A missing
score (NaN: an empty completion, a reward that does not apply) counts as the worst, as in `signal_summary`.
Groups without gold (NaN accuracy) are left out.

Signals, each oriented "higher = predicted better":
  <reward>           each reward of the run except accuracy (the gold): its value as logged (majority vote's 0/1)
  vigor              -||g|| sqrt(T), the corrected norm, whatever the vigor reward's `length_correction`
  vigor_uncorrected  -||g||   (both only when a gradient-norm pass runs: vigor is a reward, or `premise_signals`)
  self_certainty, neg_entropy, logprob   the token statistics of the step's one model forward (when one runs)
  length             T, completion tokens incl. EOS. Longer = "higher", as in `vigor analyze`, so that the two
                     tools' numbers read alike; neither direction is "better": below 0.5, the shorter are right.

Logged with the step's other metrics (metrics.jsonl, TensorBoard, W&B); "the step" is every group sampled since
the previous log, "the window" the last `premise_window_steps` logged steps:
  premise/<signal>/auroc          the step's value (absent when the step has no mixed group)
  premise/<signal>/auroc_window   over all mixed groups of the window (absent when it has none)
  premise/<signal>/mixed_groups   how many mixed groups the window holds
  premise/<signal>/auroc_window_ci_low, ..._ci_high   for the trained signals (weight != 0): the 95 % percentile
                                  bootstrap over the window's groups (`bootstrap_ci`, 1000 draws, seed 0)
  premise/step_mixed_groups       the step's mixed groups
Each step's per-group AUROCs go to OUTPUT_DIR/premise_groups.jsonl ({"step", "groups": {signal: [...]}}), from
which a resumed run rebuilds its window and a report can pool any span of steps. When the prompts carry categories
(`PromptRecord.categories`: MATH's type and level, reasoning-gym's source task, `--category-column`), the record
also holds "categories": the category of each mixed group, in the groups' order ({axis: value} each), so a report
can break the premise down by category.
"""

from __future__ import annotations

import json
import os
import time

import numpy as np
import torch

from vigor.analysis.stats import bootstrap_ci, group_aurocs, mixed_groups
from vigor.rewards import RewardSet, length_corrected, length_uncorrected, make_reward, parse_rewards

GOLD = "accuracy"
STATISTIC_SIGNALS = ("self_certainty", "neg_entropy", "logprob")  # reward names reading the shared forward
GRADIENT_SIGNALS = ("vigor", "vigor_uncorrected")  # what `premise_signals` may add (a backward pass each step)
RECORDS_FILE = "premise_groups.jsonl"
CATEGORY_COLUMN = "category"  # the training dataset's column: each prompt's categories as one JSON string
CATEGORIES_KEY = "categories"  # in premise_groups.jsonl: each mixed group's category, in the groups' order
BOOTSTRAP = dict(resamples=1000, level=0.95, seed=0)


def worst_if_missing(scores: np.ndarray) -> np.ndarray:
    """`signal_summary`'s convention: a NaN score ranks below every other."""
    return np.where(np.isnan(scores), -np.inf, scores)


def step_group_aurocs(signals: dict[str, np.ndarray], gold: np.ndarray, group_size: int) -> dict[str, np.ndarray]:
    """{signal: AUROC of each mixed group} for one scoring call: `signals` [N] each, `gold` [N] (1 right, 0 wrong,
    NaN unknown), rows k*G .. k*G+G-1 one group."""
    known, correct = known_groups(gold, group_size)
    return {name: group_aurocs(worst_if_missing(np.asarray(v, dtype=np.float64).reshape(-1, group_size)[known]),
                               correct) for name, v in signals.items()}


def known_groups(gold: np.ndarray, group_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(which groups have gold for every completion [groups], their correctness [known groups, G])."""
    gold = np.asarray(gold, dtype=np.float64).reshape(-1, group_size)
    known = np.isfinite(gold).all(1)
    return known, gold[known] > 0.5


def mixed_group_categories(categories: list, gold: np.ndarray, group_size: int) -> list:
    """The category ({axis: value}, or None) of each mixed group, in `step_group_aurocs`' order; `categories`:
    one JSON string (or None) per completion, as the dataset's CATEGORY_COLUMN gives them."""
    known, correct = known_groups(gold, group_size)
    firsts = [categories[k * group_size] for k in np.flatnonzero(known)]
    return [json.loads(firsts[g]) if firsts[g] else None for g in mixed_groups(correct)]


def window_ci(values: np.ndarray) -> tuple[float, float]:
    """95 % percentile bootstrap interval of the mean of per-group AUROCs, resampling groups (as `vigor analyze`)."""
    return bootstrap_ci(lambda rows: values[rows].mean(), values.size, **BOOTSTRAP)


def signal_name(reward: str, length_correction: bool = True) -> str:
    """The premise signal a reward trains on: its name; VIGOR without the sqrt(T) correction is vigor_uncorrected."""
    return "vigor_uncorrected" if reward == "vigor" and not length_correction else reward


def trained_signals(reward_set: RewardSet) -> list[str]:
    """The signals the run trains on: each reward with a non-zero weight except the gold itself (vigor as the
    norm it is trained on)."""
    return [signal_name(reward.name, getattr(reward, "length_correction", True))
            for reward, weight in zip(reward_set.rewards, reward_set.weights) if weight != 0 and reward.name != GOLD]


class PassTimer:
    """Wraps a reward's `grad_norms` to add up the seconds it takes (the cost of a signal added for the monitor)."""

    def __init__(self, method):
        self.method, self.seconds, self.calls = method, 0.0, 0

    def __call__(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return self.method(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start
            self.calls += 1


def premise_setup(args, reward_set: RewardSet, *, main_process: bool = True):
    """(the reward set to train with, the monitor or None). The monitor runs when `premise_monitor` is on and the
    accuracy reward gives gold; `premise_signals` that no reward computes are added as weight-0 rewards (VIGOR:
    one gradient-norm pass per step, which the run does not train on), with a note of their cost."""
    if not args.premise_monitor or GOLD not in reward_set.names:
        if args.premise_signals and main_process:
            print("premise monitor: off (no gold answers, or --premise-monitor false); --premise-signals ignored",
                  flush=True)
        return reward_set, None
    timer = None
    wanted = set(args.premise_signals or ())
    if wanted & set(GRADIENT_SIGNALS) and not any(r.needs == "gradients" for r in reward_set.rewards):
        vigor = parse_rewards("vigor", args)[0].build()  # its options from the run's fields, as a trained VIGOR's
        vigor.grad_norms = timer = PassTimer(vigor.grad_norms)
        reward_set = RewardSet([*reward_set.rewards, vigor], [*reward_set.weights, 0.0],
                               statistics_temperature=reward_set.statistics_temperature,
                               micro_batch_size=reward_set.micro_batch_size)
        if main_process:
            print("premise monitor: --premise-signals adds vigor (weight 0), which this run does not train on: one "
                  "gradient-norm pass (a forward and a backward over the step's completions) every step; its "
                  "measured time is printed after the first logged step", flush=True)
    return reward_set, PremiseMonitor(reward_set, args.premise_window_steps, args.output_dir, added_timer=timer)


class PremiseMonitor:
    """Collects each training scoring call's per-group AUROCs (`add`) and turns them into the logged keys at each
    log (`step_metrics`); keeps the window. See the module docstring."""

    def __init__(self, reward_set: RewardSet, window_steps: int, output_dir: str, *, added_timer=None):
        self.reward_set, self.window_steps, self.added_timer = reward_set, window_steps, added_timer
        self.records_path = os.path.join(output_dir, RECORDS_FILE)
        names = reward_set.names
        self.gold_column = names.index(GOLD)
        self.forward = any(r.needs in ("gradients", "logits") for r in reward_set.rewards)
        self.statistics = [n for n in STATISTIC_SIGNALS if n not in names] if self.forward else []
        self.statistic_rewards = [make_reward(n) for n in self.statistics]  # their formulas, built once
        self.signals = [*(GRADIENT_SIGNALS if "vigor" in names else ()),
                        *(n for n in names if n not in (GOLD, "vigor")), *self.statistics, "length"]
        self.trained = trained_signals(reward_set)
        self.pending: list[dict[str, np.ndarray]] = []  # scoring calls since the last log
        self.window: list[dict[str, np.ndarray]] = []  # the last window_steps logged steps

    def local_statistics(self, rollouts) -> torch.Tensor:
        """[n, len(self.statistics)] the token-statistic signals of this process's completions (float64), each by
        its reward's own formula from the statistics `RewardSet.score` kept."""
        stats = self.reward_set.last_statistics
        columns = [reward.score(rollouts, stats=stats).double().cpu() for reward in self.statistic_rewards]
        return torch.stack(columns, 1) if columns else torch.zeros((len(rollouts), 0), dtype=torch.float64)

    def signal_values(self, reported: torch.Tensor, statistics: torch.Tensor, lengths: torch.Tensor) -> dict:
        """{signal: [N] numpy} from the gathered logged rewards, token statistics and completion lengths."""
        names = self.reward_set.names
        out = {}
        for k, name in enumerate(names):
            column = reported[:, k].double()
            if name == "vigor":
                if self.reward_set.rewards[k].length_correction:
                    out["vigor"], out["vigor_uncorrected"] = column, length_uncorrected(column, lengths.double())
                else:
                    out["vigor"], out["vigor_uncorrected"] = length_corrected(column, lengths.double()), column
            elif name != GOLD:
                out[name] = column
        out.update({name: statistics[:, j] for j, name in enumerate(self.statistics)})
        out["length"] = lengths.double()
        return {name: out[name].numpy() for name in self.signals}

    def add(self, reported, statistics, lengths, group_size: int, categories: list | None = None) -> None:
        """One training scoring call's gathered values ([N, rewards], [N, statistics], [N]), and each completion's
        category (CATEGORY_COLUMN's JSON string or None; None when the data has none)."""
        signals = self.signal_values(reported, statistics, lengths)
        gold = reported[:, self.gold_column].numpy()
        groups = step_group_aurocs(signals, gold, group_size)
        if categories is not None and any(categories):
            groups[CATEGORIES_KEY] = mixed_group_categories(categories, gold, group_size)
        self.pending.append(groups)

    def restore(self, records: list[dict]) -> None:
        """Rebuild the window from the records of the last logged steps (a resumed run)."""
        self.pending = []
        self.window = [{name: np.asarray(r["groups"].get(name, []), dtype=np.float64) for name in self.signals}
                       for r in records[-self.window_steps:]]

    def step_metrics(self, step: int, *, write: bool = True) -> dict[str, float]:
        """The premise keys of the logged step `step` (see the module docstring); {} when nothing was sampled."""
        if not self.pending:
            return {}
        groups = {name: np.concatenate([p[name] for p in self.pending]) for name in self.signals}
        categories = [c for p in self.pending for c in p.get(CATEGORIES_KEY, [None] * len(p["length"]))]
        self.pending = []
        self.window = (self.window + [groups])[-self.window_steps:]
        if write:
            os.makedirs(os.path.dirname(self.records_path) or ".", exist_ok=True)
            record = {"step": step, "groups": {k: v.tolist() for k, v in groups.items()}}
            if any(c is not None for c in categories):
                record[CATEGORIES_KEY] = categories
            with open(self.records_path, "a") as f:
                f.write(json.dumps(record) + "\n")
        out: dict[str, float] = {"premise/step_mixed_groups": int(groups["length"].size)}
        for name in self.signals:
            key = f"premise/{name}/"
            pooled = np.concatenate([w[name] for w in self.window])
            if groups[name].size:
                out[key + "auroc"] = float(groups[name].mean())
            out[key + "mixed_groups"] = int(pooled.size)
            if pooled.size:
                out[key + "auroc_window"] = float(pooled.mean())
            low, high = window_ci(pooled) if name in self.trained else (np.nan, np.nan)
            if np.isfinite(low) and np.isfinite(high):
                out[key + "auroc_window_ci_low"], out[key + "auroc_window_ci_high"] = low, high
        if self.added_timer is not None and write and self.added_timer.calls:
            print(f"premise monitor: the added gradient-norm pass took {self.added_timer.seconds:.2f} s over "
                  f"{self.added_timer.calls} scoring call(s) up to step {step}", flush=True)
            self.added_timer = None  # said once
        return out
