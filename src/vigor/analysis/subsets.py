"""VIGOR over a subset of the parameters (`--grad-params REGEX`) against the full norm: does the cheaper norm rank a
group's completions as the full one does, and how much cheaper is it?

For each regex, over the completions of each group g (empty ones left out: VIGOR ranks them last whatever the norm):
  spearman      mean over groups of Spearman's rho between the subset's corrected norm ||g_S|| sqrt(T) and the
                full corrected norm ||g|| sqrt(T) (groups with under 2 non-empty completions, or a constant norm, are
                left out: rho is undefined there);
  top1_agreement  the fraction of groups whose top-ranked completion (smallest corrected norm = highest VIGOR) is
                the same under both;
  seconds_per_completion  the engine's time for the subset, beside the full norm's, both timed the same way (one
                `per_sample_grad_norms` call per micro-batch, nothing else in it).
"""

from __future__ import annotations

import time

import numpy as np

from vigor.analysis.stats import spearman


def subset_norms(model, tokenizer, prompt_ids, completion_ids, patterns, *, micro_batch_size: int | None = 8):
    """({"full" and each pattern: corrected norms [N] (NaN for an empty completion)}, {same keys: seconds})."""
    from vigor.gradnorm import per_sample_grad_norms, select_parameters
    from vigor.gradnorm.common import iter_chunks
    from vigor.rewards import build_rollouts, length_corrected

    selections = {"full": None, **{p: select_parameters(model, p) for p in patterns}}
    norms = {key: [] for key in selections}
    seconds = dict.fromkeys(selections, 0.0)
    for rows in iter_chunks(len(completion_ids), micro_batch_size):
        r = build_rollouts(prompt_ids[rows], completion_ids[rows], eos_token_ids=[tokenizer.eos_token_id],
                           pad_token_id=tokenizer.pad_token_id, completions=[""] * (rows.stop - rows.start))
        lengths = r.completion_lengths.double()
        for key, params in selections.items():
            began = time.perf_counter()
            norm = per_sample_grad_norms(model, r.input_ids, r.attention_mask, r.loss_mask, params=params)
            seconds[key] += time.perf_counter() - began
            # on torch tensors, where T ** 0.5 is torch.sqrt bit for bit (numpy's float64 ** 0.5 is not, for ~0.6% of T)
            corrected = length_corrected(norm.double().cpu(), lengths).numpy()
            corrected[r.empty.numpy()] = np.nan
            norms[key].append(corrected)
    return {key: np.concatenate(parts) if parts else np.zeros(0) for key, parts in norms.items()}, seconds


def rank_agreement(subset, full, group_size: int) -> dict:
    """Within-group agreement of two corrected-norm arrays (rows i*G .. i*G+G-1 a group); see the module doc."""
    rhos, same_top = [], []
    for a, b in zip(np.asarray(subset, float).reshape(-1, group_size), np.asarray(full, float).reshape(-1, group_size)):
        ok = np.isfinite(a) & np.isfinite(b)
        if not ok.any():
            continue
        same_top.append(bool(np.argmin(np.where(ok, a, np.inf)) == np.argmin(np.where(ok, b, np.inf))))
        rho = spearman(a[ok], b[ok])  # NaN under 2 values or for a constant side: the group is left out
        if not np.isnan(rho):
            rhos.append(rho)
    return {"spearman": float(np.mean(rhos)) if rhos else float("nan"), "n_groups_spearman": len(rhos),
            "top1_agreement": float(np.mean(same_top)) if same_top else float("nan"), "n_groups": len(same_top)}


def subset_report(norms: dict, seconds: dict, group_size: int) -> list[dict]:
    """One row per pattern: its agreement with the full norm and both times per completion."""
    n = max(len(norms["full"]), 1)
    return [{"grad_params": key, **rank_agreement(values, norms["full"], group_size),
             "seconds_per_completion": seconds[key] / n, "full_seconds_per_completion": seconds["full"] / n}
            for key, values in norms.items() if key != "full"]


def subset_table(rows: list[dict]) -> list[str]:
    lines = ["| grad_params | Spearman with the full norm (mean within group) | top-1 agreement | "
             "s per completion (subset / full) |", "|---|---|---|---|"]
    for r in rows:
        lines.append(f"| `{r['grad_params']}` | {r['spearman']:.3f} ({r['n_groups_spearman']} groups) | "
                     f"{r['top1_agreement']:.3f} ({r['n_groups']} groups) | "
                     f"{r['seconds_per_completion']:.4f} / {r['full_seconds_per_completion']:.4f} |")
    return lines
