"""Every intrinsic signal of a batch of sampled completions, oriented "higher = predicted better".

vigor            -||grad mean-NLL|| * sqrt(T)  (the VIGOR reward, length-corrected)
vigor_uncorrected -||grad mean-NLL||           (the same without the sqrt(T) correction)
self_certainty   mean_t logsumexp(z_t) - mean_v z_t,v   (INTUITOR)
neg_entropy      -mean_t H(p_t)
logprob          mean_t log p(token_t)
length           T, completion tokens incl. EOS (longer = "better"; an AUROC below 0.5 means shorter wins)

The signals are every registered reward read off the model (needs 'logits' or 'gradients') that needs no
gold answer, in registration order, with VIGOR's uncorrected variant after it, then the length; so a
reward registered with `vigor.rewards.register_reward` is a signal too. The formulas live in
`vigor.rewards` (the same code the trainer uses); this module only feeds them.
Empty completions get NaN, which the statistics treat as the worst score (as training ranks them last).
"""

from __future__ import annotations

import numpy as np



def intrinsic_rewards() -> list[str]:
    """The registered rewards computed from the model alone (no gold): vigor, self_certainty, ..."""
    from vigor.rewards import reward_names

    return reward_names(needs=("logits", "gradients"), gold=False)


def signal_names() -> list[str]:
    """The signals `compute_signals` returns, in the order reports list them."""
    names = []
    for name in intrinsic_rewards():
        names += [name, "vigor_uncorrected"] if name == "vigor" else [name]
    return names + ["length"]


def compute_signals(model, tokenizer, prompt_ids: list[list[int]], completion_ids: list[list[int]], *,
                    micro_batch_size: int | None = 8, progress: bool = True) -> dict[str, np.ndarray]:
    """Signals of completion i (token ids, cut at the first EOS by `build_rollouts`) given prompt i.

    Also returns `grad_norm` and `grad_norm_corrected` (positive norms, for plots), `truncated`
    and `empty` flags, all as arrays of length N."""
    from tqdm.auto import tqdm

    from vigor.rewards import RewardSet, build_rollouts, length_corrected, term_for

    # one engine pass per micro-batch gives the norms and, through its forward, the token statistics
    rewards = RewardSet.from_terms(tuple(term_for(name, given={"length_correction": False} if name == "vigor" else None)
                                         for name in intrinsic_rewards()))
    n = len(completion_ids)
    size = micro_batch_size or n
    columns, lengths, truncated, empty = [], [], [], []
    bar = tqdm(total=n, desc="scoring completions", unit="completion", disable=not progress)
    for start in range(0, n, size):
        rows = slice(start, min(n, start + size))
        rollouts = build_rollouts(prompt_ids[rows], completion_ids[rows], eos_token_ids=[tokenizer.eos_token_id],
                                  pad_token_id=tokenizer.pad_token_id, completions=[""] * (rows.stop - rows.start))
        columns.append(rewards.score(rollouts, model).numpy())
        lengths.append(rollouts.completion_lengths.numpy())
        truncated.append(rollouts.truncated.numpy())
        empty.append(rollouts.empty.numpy())
        bar.update(rows.stop - rows.start)
    bar.close()
    raw = dict(zip(rewards.names, np.concatenate(columns).T))
    stats = {name: raw[name] for name in rewards.names if name != "vigor"}
    vigor_uncorrected = raw["vigor"]
    length = np.concatenate(lengths).astype(np.float64)
    vigor = length_corrected(vigor_uncorrected, length)  # the same correction as VigorReward
    out = {"vigor": vigor, "vigor_uncorrected": vigor_uncorrected, "length": length,
           **stats}
    out["grad_norm"] = -vigor_uncorrected
    out["grad_norm_corrected"] = -vigor
    out["truncated"] = np.concatenate(truncated)
    out["empty"] = np.concatenate(empty)
    return out

