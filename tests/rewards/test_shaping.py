"""Rank shaping and GRPO advantages: hand-computed values, ties, and slow loop references."""

import math

import pytest
import torch

from vigor.rewards import group_advantages, place_last, rank_shape, shape_rewards

G8_TABLE = [-1.4287, -1.0205, -0.6123, -0.2041, 0.2041, 0.6123, 1.0205, 1.4287]


def slow_rank_shape(raw, g, ties):
    """Obviously right: rank = number of group members that sort before it."""
    out = []
    for start in range(0, len(raw), g):
        group = raw[start:start + g]
        for i, x in enumerate(group):
            if ties == "position":
                rank = sum(1 for j, y in enumerate(group) if y < x or (y == x and j < i))
            else:
                rank = sum(1 for y in group if y < x) + (sum(1 for y in group if y == x) - 1) / 2
            out.append(rank / (g - 1) * 2 - 1)
    return out


def slow_advantages(values, g, eps=1e-4):
    out = []
    for start in range(0, len(values), g):
        group = values[start:start + g]
        mean = sum(group) / g
        std = math.sqrt(sum((x - mean) ** 2 for x in group) / (g - 1))
        out.extend((x - mean) / (std + eps) for x in group)
    return out


def test_rank_shape_hand_values():
    raw = torch.tensor([-3.0, -1.0, -2.0, -5.0])  # corrected norms 3, 1, 2, 5
    assert rank_shape(raw, 4).tolist() == pytest.approx([-1 / 3, 1.0, 1 / 3, -1.0])


def test_rank_shape_ties_keep_position_order():
    raw = torch.tensor([2.0, 1.0, 2.0, 1.0])
    assert rank_shape(raw, 4).tolist() == pytest.approx([1 / 3, -1.0, 1.0, -1 / 3])
    assert rank_shape(raw, 4, ties="average").tolist() == pytest.approx([2 / 3, -2 / 3, 2 / 3, -2 / 3])
    assert rank_shape(torch.zeros(3), 3, ties="average").tolist() == [0.0, 0.0, 0.0]


def test_g8_advantage_table_of_the_reference():
    raw = torch.tensor([5.0, 0.0, 7.0, 1.0, 3.0, 2.0, 6.0, 4.0])
    adv = group_advantages(rank_shape(raw, 8), 8)
    assert sorted(adv.tolist()) == pytest.approx(G8_TABLE, abs=1e-4)
    assert adv[2].item() == pytest.approx(1.4287, abs=1e-4) and adv[1].item() == pytest.approx(-1.4287, abs=1e-4)


def test_group_advantages_hand_values():
    adv = group_advantages(torch.tensor([1.0, 0.0, 0.0, 0.0, 2.0, 2.0]), 3)
    # group 1: mean 1/3, unbiased std sqrt((4/9 + 1/9 + 1/9) / 2) = sqrt(1/3)
    # group 2: mean 4/3, unbiased std sqrt((16/9 + 4/9 + 4/9) / 2) = sqrt(4/3)
    s1, s2 = math.sqrt(1 / 3) + 1e-4, math.sqrt(4 / 3) + 1e-4
    assert adv.tolist() == pytest.approx([(2 / 3) / s1, (-1 / 3) / s1, (-1 / 3) / s1,
                                          (-4 / 3) / s2, (2 / 3) / s2, (2 / 3) / s2])
    assert group_advantages(torch.ones(4), 2).tolist() == [0.0] * 4
    assert group_advantages(torch.tensor([1.0, 3.0, 0.0, 0.0]), 2, scale="none").tolist() == [-1.0, 1.0, 0.0, 0.0]


@pytest.mark.parametrize("ties", ["position", "average"])
def test_rank_shape_matches_slow_reference_on_random_inputs(ties):
    gen = torch.Generator().manual_seed(1)
    for g in (2, 3, 8):
        raw = torch.randint(0, 4, (g * 5,), generator=gen).double()  # few values: many ties
        assert rank_shape(raw, g, ties=ties).tolist() == pytest.approx(slow_rank_shape(raw.tolist(), g, ties), abs=1e-12)
        raw = torch.randn(g * 5, generator=gen, dtype=torch.float64)
        assert rank_shape(raw, g, ties=ties).tolist() == pytest.approx(slow_rank_shape(raw.tolist(), g, ties), abs=1e-12)


def test_group_advantages_matches_slow_reference_on_random_inputs():
    gen = torch.Generator().manual_seed(2)
    values = torch.randn(8 * 6, generator=gen, dtype=torch.float64)
    assert group_advantages(values, 8).tolist() == pytest.approx(slow_advantages(values.tolist(), 8), abs=1e-12)


def test_group_advantages_leave_nan_out():
    adv = group_advantages(torch.tensor([1.0, float("nan"), 3.0, 0.0]), 4)
    expected = slow_advantages([1.0, 3.0, 0.0], 3)
    assert math.isnan(adv[1].item())
    assert [adv[0].item(), adv[2].item(), adv[3].item()] == pytest.approx(expected, abs=1e-6)


def test_place_last_puts_flagged_below_the_rest():
    raw = torch.tensor([-2.0, float("nan"), -1.0, -3.0, -5.0, -4.0])
    last = torch.tensor([False, True, False, True, True, True])
    placed = place_last(raw, last, 3)
    assert placed.tolist() == pytest.approx([-2.0, -2.001, -1.0, 0.0, 0.0, 0.0])
    shaped = rank_shape(placed, 3)
    assert shaped[:3].tolist() == [0.0, -1.0, 1.0]
    # large magnitudes keep the gap (float64)
    assert place_last(torch.tensor([-1e6, -2e6], dtype=torch.float32), torch.tensor([True, False]), 2)[0] < -2e6


def test_shape_rewards_options():
    raw = torch.tensor([1.0, 4.0, 2.0, 2.0])
    assert shape_rewards(raw, 4, "rank").tolist() == pytest.approx([-1, 1, -1 / 3, 1 / 3])
    assert shape_rewards(raw, 4, "rank_avg_ties").tolist() == pytest.approx([-1, 1, 0, 0])
    assert shape_rewards(raw, 4, "zscore").tolist() == pytest.approx(slow_advantages(raw.tolist(), 4), abs=1e-6)
    assert shape_rewards(raw, 4, "none").tolist() == raw.tolist()


@pytest.mark.parametrize("call, message", [
    (lambda: rank_shape(torch.zeros(4), 1), "group_size must be >= 2"),
    (lambda: rank_shape(torch.zeros(5), 2), "not a multiple of group_size"),
    (lambda: rank_shape(torch.tensor([1.0, float("nan")]), 2), "finite"),
    (lambda: rank_shape(torch.zeros(4), 2, ties="random"), "ties must be"),
    (lambda: group_advantages(torch.zeros(4), 2, scale="max"), "scale must be"),
    (lambda: shape_rewards(torch.zeros(4), 2, "softmax"), "shaping must be"),
])
def test_bad_arguments_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()
