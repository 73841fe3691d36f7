"""The completions of one scoring call, as tensors every reward reads.

Layout (TRL's): prompts left-padded to P, completions right-padded to C, so row b is
[pad.. prompt | completion ..pad] and `loss_mask` marks the completion tokens: the prompt is
context only. Each completion is cut at its first EOS and the EOS is kept, so
T = number of completion tokens including the EOS.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vigor.data.gold import Gold

from vigor.gradnorm.common import iter_chunks, model_mode_for_norms, real_token_positions


@dataclass
class Rollouts:
    input_ids: torch.Tensor          # [n, P + C]
    attention_mask: torch.Tensor     # [n, P + C]
    loss_mask: torch.Tensor          # [n, P + C], 1 on completion tokens
    completion_lengths: torch.Tensor  # [n] T, EOS included
    truncated: torch.Tensor          # [n] bool: no EOS within the length limit
    empty: torch.Tensor              # [n] bool: no token before the EOS (or no token at all)
    completion_width: int            # C
    completions: list[str]           # decoded text
    golds: list[Gold] | None = None  # per completion; None where nothing is known
    step: int = 0                    # optimizer step, seeds the random reward
    process_index: int = 0
    reward_kwargs: dict | None = None  # what TRL calls a reward function with: prompts, completions,
                                       # completion_ids, each dataset column, trainer_state, log_extra, ...

    def __len__(self) -> int:
        return self.input_ids.shape[0]


def cut_at_eos(ids: list[int], eos_ids: set[int]) -> tuple[list[int], bool]:
    """(ids up to and including the first EOS, whether an EOS was found)."""
    for i, tok in enumerate(ids):
        if tok in eos_ids:
            return list(ids[: i + 1]), True
    return list(ids), False


def build_rollouts(prompt_ids: list[list[int]], completion_ids: list[list[int]], *, eos_token_ids,
                   pad_token_id: int, completions: list[str], golds: list[Gold | None] | None = None,
                   step: int = 0, process_index: int = 0, reward_kwargs: dict | None = None,
                   device=None) -> Rollouts:
    """Pack token-id lists into a `Rollouts` (see the module docstring for the layout)."""
    if len(prompt_ids) != len(completion_ids):
        raise ValueError(f"{len(prompt_ids)} prompts but {len(completion_ids)} completions")
    if golds is not None and not all(g is None or isinstance(g, Gold) for g in golds):
        raise TypeError("golds must be vigor.data.gold.Gold records (or None)")
    eos = {int(e) for e in ([eos_token_ids] if isinstance(eos_token_ids, int) else eos_token_ids)}
    cut = [cut_at_eos(c, eos) for c in completion_ids]
    width_p = max(len(p) for p in prompt_ids)
    width_c = max(1, max(len(c) for c, _ in cut))
    n = len(prompt_ids)
    input_ids = torch.full((n, width_p + width_c), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros_like(input_ids)
    loss_mask = torch.zeros_like(input_ids)
    for b, (p, (c, _)) in enumerate(zip(prompt_ids, cut)):
        input_ids[b, width_p - len(p): width_p] = torch.tensor(p, dtype=torch.long)
        attention_mask[b, width_p - len(p): width_p + len(c)] = 1
        if c:
            input_ids[b, width_p: width_p + len(c)] = torch.tensor(c, dtype=torch.long)
            loss_mask[b, width_p: width_p + len(c)] = 1
    lengths = torch.tensor([len(c) for c, _ in cut], dtype=torch.long)
    truncated = torch.tensor([not found for _, found in cut], dtype=torch.bool)
    content = torch.tensor([len(c) - (1 if found else 0) for c, found in cut])
    rollouts = Rollouts(input_ids, attention_mask, loss_mask, lengths, truncated, content == 0,
                        width_c, list(completions), golds, step, process_index, reward_kwargs)
    if device is not None:
        for name in ("input_ids", "attention_mask", "loss_mask"):
            setattr(rollouts, name, getattr(rollouts, name).to(device))
    return rollouts


STATISTICS = ("entropy", "self_certainty", "logprob")  # always computed (one softmax serves all three)
OPTIONAL_STATISTICS = ("self_certainty_intuitor",)    # computed only when a reward reads it


def self_certainty_per_position(z: torch.Tensor) -> torch.Tensor:
    """logsumexp_v(z) - mean_v(z) = KL(U || softmax(z)) + log V, per position ([..., V] -> [...])."""
    return torch.logsumexp(z, -1) - z.mean(-1)


def statistics_from_logits(logits: torch.Tensor, input_ids: torch.Tensor, loss_mask: torch.Tensor, *,
                           temperature: float = 1.0, extra: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    """Per completion, sums over its tokens (float64 [b]) from the logits of the last K positions
    ([b, K, V]; position t - 1 predicts token t), with a float32 softmax:

    entropy        H_t = -sum_v p_v log p_v
    self_certainty logsumexp(z) - mean_v(z)     (INTUITOR's paper; z = logits / temperature)
    logprob        log p(token_t)

    and, when named in `extra`, `self_certainty_intuitor`: the same at position t instead of t - 1 (the
    positions INTUITOR's released code scores; see vigor.rewards.intrinsic.SelfCertainty).
    """
    unknown = set(extra) - set(OPTIONAL_STATISTICS)
    if unknown:
        raise ValueError(f"unknown token statistics {sorted(unknown)}; optional ones: {OPTIONAL_STATISTICS}")
    keep = logits.shape[1]
    z = logits[:, :-1].float()
    if temperature != 1.0:
        z = z / temperature
    logp = torch.log_softmax(z, -1)
    targets = input_ids[:, -(keep - 1):] if keep > 1 else input_ids[:, :0]
    mask = loss_mask[:, -(keep - 1):].bool() if keep > 1 else loss_mask[:, :0].bool()
    per_token = {
        "entropy": -(logp.exp() * logp).sum(-1),
        "self_certainty": self_certainty_per_position(z),
        "logprob": logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1),
    }
    if "self_certainty_intuitor" in extra:  # position t itself: the token's own distribution, EOS included
        later = logits[:, 1:].float()
        per_token["self_certainty_intuitor"] = self_certainty_per_position(
            later / temperature if temperature != 1.0 else later)
    zero = torch.zeros((), dtype=torch.float64, device=z.device)
    return {k: torch.where(mask, v.double(), zero).sum(1).cpu() for k, v in per_token.items()}


class StatisticsCollector:
    """Accumulates `statistics_from_logits` over micro-batches; used as the gradient-norm
    engine's `logits_callback`, so VIGOR and the logit rewards share one forward."""

    def __init__(self, rollouts: "Rollouts", temperature: float = 1.0, extra: tuple[str, ...] = ()):
        self.rollouts, self.temperature, self.extra = rollouts, temperature, tuple(extra)
        self.sums = {k: torch.zeros(len(rollouts), dtype=torch.float64) for k in STATISTICS + self.extra}
        self.seen = torch.zeros(len(rollouts), dtype=torch.bool)

    def __call__(self, rows: slice, logits: torch.Tensor) -> None:
        r = self.rollouts
        part = statistics_from_logits(logits, r.input_ids[rows], r.loss_mask[rows], temperature=self.temperature,
                                      extra=self.extra)
        for k, v in part.items():
            self.sums[k][rows] = v
        self.seen[rows] = True

    def means(self) -> dict[str, torch.Tensor]:
        if not bool(self.seen.all()):
            raise RuntimeError("token statistics: some completions were never seen by the forward")
        count = self.rollouts.completion_lengths.double().clamp(min=1)
        return {k: (v / count).float() for k, v in self.sums.items()}


def token_statistics(model, rollouts: Rollouts, *, temperature: float = 1.0, micro_batch_size: int | None = None,
                     extra: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    """Per-completion means of the `statistics_from_logits` statistics, from one batched no-grad
    forward (used when no VIGOR reward runs the engine's forward). Position ids count real tokens
    only, so left padding does not shift them."""
    n = len(rollouts)
    keep = rollouts.completion_width + 1
    collect = StatisticsCollector(rollouts, temperature, extra)
    with model_mode_for_norms(model, keep_checkpointing=False), torch.no_grad():  # eval, then restored
        for rows in iter_chunks(n, micro_batch_size):
            attn = rollouts.attention_mask[rows]
            collect(rows, model(input_ids=rollouts.input_ids[rows], attention_mask=attn,
                                position_ids=real_token_positions(attn), logits_to_keep=keep).logits)
    return collect.means()


def repetition_ratio(token_ids: list[int], n: int = 4) -> float:
    """Share of a completion's n-grams that repeat an earlier one: 1 - distinct / total (0 if none)."""
    grams = [tuple(token_ids[i: i + n]) for i in range(len(token_ids) - n + 1)]
    return 1.0 - len(set(grams)) / len(grams) if grams else 0.0
