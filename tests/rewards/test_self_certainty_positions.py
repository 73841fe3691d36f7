"""self_certainty's two position conventions against a slow loop computing KL(U || p) per position.

Sequence layout: prompt tokens at 0..P-1, completion tokens at P..P+T-1 (EOS last). 'paper' scores the
distributions at P-1..P+T-2 (those predicting the completion), 'intuitor' the ones at P..P+T-1. Our
statistic is logsumexp(z) - mean(z) = KL(U || p) + log V, so the reference adds log V back.
"""

import math

import pytest
import torch

from vigor.rewards import RewardSet, build_rollouts, make_reward
from vigor.rewards.rollouts import StatisticsCollector, statistics_from_logits

EOS, PAD, V = 2, 0, 11


def slow_self_certainty(logits_of, starts, lengths, positions, temperature=1.0):
    """Per completion b, the mean over its T positions of KL(U || softmax(z_j)) + log V, one position at a
    time in float64: `logits_of[b]` [L, V] are sequence b's logits and its completion starts at `starts[b]`."""
    out = []
    for b, T in enumerate(lengths):
        values = []
        for t in range(T):                       # completion token t sits at sequence position starts[b] + t
            j = starts[b] + t - 1 if positions == "paper" else starts[b] + t
            p = torch.softmax(logits_of[b][j].double() / temperature, -1)
            kl = sum((1.0 / V) * (math.log(1.0 / V) - math.log(p[v].item())) for v in range(V))
            values.append(kl + math.log(V))
        out.append(sum(values) / T if T else float("nan"))
    return out


def group_with_eos_and_truncation(gen, n=6, width=7):
    """Prompts of different lengths; completions ending at different EOS positions, one truncated."""
    prompts = [torch.randint(5, V, (int(torch.randint(1, 5, (1,), generator=gen)),), generator=gen).tolist()
               for _ in range(n)]
    lengths = [1, 3, width, 5, 2, width][:n]
    completions = []
    for k, T in enumerate(lengths):
        body = torch.randint(5, V, (T,), generator=gen).tolist()
        truncated = k == 2
        completions.append(body if truncated else body[:-1] + [EOS])
    return prompts, completions


@pytest.mark.parametrize("positions", ["paper", "intuitor"])
@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_statistic_matches_slow_kl_loop(positions, temperature):
    gen = torch.Generator().manual_seed(int(torch.randint(0, 2**31, (1,))))
    prompts, completions = group_with_eos_and_truncation(gen)
    r = build_rollouts(prompts, completions, eos_token_ids=[EOS], pad_token_id=PAD, completions=[""] * len(prompts))
    width_p = r.input_ids.shape[1] - r.completion_width
    full = torch.randn(len(prompts), r.input_ids.shape[1], V, generator=gen) * 3
    keep = r.completion_width + 1                # what the engine and token_statistics hand over
    sums = statistics_from_logits(full[:, -keep:], r.input_ids, r.loss_mask, temperature=temperature,
                                  extra=("self_certainty_intuitor",))
    key = "self_certainty" if positions == "paper" else "self_certainty_intuitor"
    lengths = r.completion_lengths.tolist()
    ours = (sums[key] / r.completion_lengths.double().clamp(min=1)).tolist()
    slow = slow_self_certainty(full, [width_p] * len(prompts), lengths, positions, temperature)
    assert ours == pytest.approx(slow, abs=1e-5)  # float32 softmax against a float64 loop

    # the reward reads the variant it was given, through the collector the engine feeds
    collect = StatisticsCollector(r, temperature, extra=("self_certainty_intuitor",))
    collect(slice(0, len(prompts)), full[:, -keep:])
    score = make_reward("self_certainty", positions=positions).score(r, stats=collect.means())
    assert score.tolist() == pytest.approx(slow, abs=1e-5)


def test_the_two_conventions_differ_by_one_position():
    """Where the EOS distribution is what differs, the two are not equal (the test above is not vacuous)."""
    gen = torch.Generator().manual_seed(1)
    prompts, completions = group_with_eos_and_truncation(gen)
    r = build_rollouts(prompts, completions, eos_token_ids=[EOS], pad_token_id=PAD, completions=[""] * len(prompts))
    logits = torch.randn(len(prompts), r.completion_width + 1, V, generator=gen)
    sums = statistics_from_logits(logits, r.input_ids, r.loss_mask, extra=("self_certainty_intuitor",))
    assert not torch.allclose(sums["self_certainty"], sums["self_certainty_intuitor"])


def test_reward_set_computes_the_intuitor_statistic_only_when_asked():
    from vigor.tiny import tiny_causal_lm

    model = tiny_causal_lm("llama", vocab_size=V, hidden_size=16, layers=1, seed=0)
    gen = torch.Generator().manual_seed(2)
    prompts, completions = group_with_eos_and_truncation(gen)
    r = build_rollouts(prompts, completions, eos_token_ids=[EOS], pad_token_id=PAD, completions=[""] * len(prompts))
    paper = RewardSet.from_spec("self_certainty").score(r, model)[:, 0]
    intuitor = RewardSet.from_spec("self_certainty+positions=intuitor").score(r, model)[:, 0]
    # beside VIGOR, the statistic comes from the engine's forward instead
    shared = RewardSet.from_spec("vigor,self_certainty+positions=intuitor:0").score(r, model)[:, 1]
    unpadded, lengths = [], r.completion_lengths.tolist()
    for p, c, T in zip(prompts, completions, lengths):  # one unpadded sequence at a time
        with torch.no_grad():
            unpadded.append(model(input_ids=torch.tensor([p + c[:T]])).logits[0])
    starts = [len(p) for p in prompts]
    assert paper.tolist() == pytest.approx(slow_self_certainty(unpadded, starts, lengths, "paper"), abs=1e-4)
    assert intuitor.tolist() == pytest.approx(slow_self_certainty(unpadded, starts, lengths, "intuitor"), abs=1e-4)
    assert shared.tolist() == pytest.approx(intuitor.tolist(), abs=1e-5)


def test_bad_positions_is_one_line_naming_reward_and_option():
    with pytest.raises(ValueError, match=r"reward 'self_certainty': positions must be one of \('paper', 'intuitor'\)"):
        RewardSet.from_spec("self_certainty+positions=later")
    with pytest.raises(ValueError, match=r"reward 'self_certainty': unknown option 'position'; it takes positions"):
        RewardSet.from_spec("self_certainty+position=intuitor")
