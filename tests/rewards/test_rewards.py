"""Each reward against a slow, independent computation on a tiny random model, plus the registry
and the weighted combination."""

import math

import pytest
import torch

from vigor.rewards import (REWARDS, GroupView, RewardSet, build_rollouts, group_advantages, length_corrected,
                           length_uncorrected, make_reward, parse_reward_spec, rank_shape, ranked_last,
                           repetition_ratio, token_statistics)
from vigor.data.gold import Gold
from vigor.tiny import char_tokenizer, tiny_causal_lm

EOS, PAD = 2, 0


@pytest.fixture(scope="module")
def model():
    return tiny_causal_lm("llama", vocab_size=len(char_tokenizer()), hidden_size=32, layers=2, seed=3)


def random_rollouts(seed=0, n=6):
    """Prompts of various lengths; completions: normal with EOS, truncated (no EOS), EOS-only,
    tokens after an EOS (to be cut)."""
    gen = torch.Generator().manual_seed(seed)
    tok = lambda k: torch.randint(5, 90, (k,), generator=gen).tolist()  # noqa: E731
    prompts = [tok(int(torch.randint(2, 7, (1,), generator=gen))) for _ in range(n)]
    completions = [tok(4) + [EOS], tok(6), [EOS], tok(2) + [EOS] + tok(3), tok(1) + [EOS], tok(5)][:n]
    return build_rollouts(prompts, completions, eos_token_ids=[EOS], pad_token_id=PAD,
                          completions=[f"c{i}" for i in range(n)]), prompts, completions


def cut(c):
    return c[: c.index(EOS) + 1] if EOS in c else c


def test_build_rollouts_layout_and_flags():
    r, prompts, completions = random_rollouts()
    assert r.completion_lengths.tolist() == [5, 6, 1, 3, 2, 5]
    assert r.truncated.tolist() == [False, True, False, False, False, True]
    assert r.empty.tolist() == [False, False, True, False, False, False]
    for b, (p, c) in enumerate(zip(prompts, completions)):
        real = r.input_ids[b][r.attention_mask[b].bool()].tolist()
        assert real == p + cut(c)
        assert r.input_ids[b][r.loss_mask[b].bool()].tolist() == cut(c)


def slow_token_statistics(model, prompts, completions):
    """One unpadded sequence at a time, with torch.distributions for the entropy."""
    out = {"entropy": [], "self_certainty": [], "logprob": []}
    for p, c in zip(prompts, completions):
        c = cut(c)
        ids = torch.tensor([p + c])
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0, len(p) - 1: len(p) + len(c) - 1].double()
        dist = torch.distributions.Categorical(logits=logits)
        out["entropy"].append(dist.entropy().mean().item())
        out["self_certainty"].append((torch.logsumexp(logits, -1) - logits.mean(-1)).mean().item())
        out["logprob"].append(dist.log_prob(torch.tensor(c)).mean().item())
    return out


@pytest.mark.parametrize("micro_batch_size", [None, 4])
def test_token_statistics_match_slow_reference(model, micro_batch_size):
    r, prompts, completions = random_rollouts(seed=1)
    fast = token_statistics(model, r, micro_batch_size=micro_batch_size)
    slow = slow_token_statistics(model, prompts, completions)
    for key in slow:
        assert fast[key].tolist() == pytest.approx(slow[key], abs=1e-4), key


def test_logit_rewards_are_the_statistics(model):
    r, prompts, completions = random_rollouts(seed=2)
    slow = slow_token_statistics(model, prompts, completions)
    stats = token_statistics(model, r)
    assert make_reward("self_certainty").score(r, stats=stats).tolist() == pytest.approx(slow["self_certainty"], abs=1e-4)
    assert make_reward("neg_entropy").score(r, stats=stats).tolist() == pytest.approx([-x for x in slow["entropy"]], abs=1e-4)
    assert make_reward("logprob").score(r, stats=stats).tolist() == pytest.approx(slow["logprob"], abs=1e-4)


def slow_vigor_raw(model, prompts, completions, length_correction=True):
    """-||d mean-NLL / d theta|| * sqrt(T), one unpadded sequence at a time, by backward()."""
    params = [p for p in model.parameters() if p.requires_grad]
    raws = []
    for p, c in zip(prompts, completions):
        c = cut(c)
        model.zero_grad()
        logits = model(input_ids=torch.tensor([p + c])).logits[0, len(p) - 1: len(p) + len(c) - 1]
        torch.nn.functional.cross_entropy(logits.double(), torch.tensor(c)).backward()
        norm = math.sqrt(sum(float(q.grad.double().pow(2).sum()) for q in params if q.grad is not None))
        model.zero_grad()
        raws.append(-norm * (math.sqrt(len(c)) if length_correction else 1.0))
    return raws


@pytest.mark.parametrize("length_correction", [True, False])
def test_vigor_raw_matches_slow_reference(model, length_correction):
    r, prompts, completions = random_rollouts(seed=4)
    raw = make_reward("vigor", length_correction=length_correction, micro_batch_size=2).score(r, model=model)
    slow = slow_vigor_raw(model, prompts, completions, length_correction)
    assert math.isnan(raw[2])  # EOS-only completion: empty
    keep = [0, 1, 3, 4, 5]
    assert raw[keep].tolist() == pytest.approx([slow[i] for i in keep], rel=1e-4)


def test_vigor_shape_puts_empty_last_and_truncated_where_asked():
    raw = torch.tensor([-3.0, -1.0, float("nan"), -2.0])  # row 1 truncated, row 2 empty
    view = GroupView(lengths=torch.tensor([4, 6, 1, 3]), truncated=torch.tensor([False, True, False, False]),
                     empty=torch.tensor([False, False, True, False]))
    keep = make_reward("vigor").shape(raw, view, 4)
    assert keep.tolist() == pytest.approx([-1 / 3, 1.0, -1.0, 1 / 3])
    last = make_reward("vigor", truncated="last").shape(raw, view, 4)
    # truncated and empty both get min(others) - 1e-3 and keep position order among themselves
    assert last.tolist() == pytest.approx([1 / 3, -1.0, -1 / 3, 1.0])
    assert make_reward("vigor", shaping="rank_avg_ties", truncated="last").shape(raw, view, 4).tolist() == \
        pytest.approx([1 / 3, -2 / 3, -2 / 3, 1.0])


def test_vigor_metrics_undo_the_length_correction():
    raw = torch.tensor([-4.0, -9.0])
    view = GroupView(lengths=torch.tensor([4, 9]), truncated=torch.zeros(2, dtype=torch.bool),
                     empty=torch.zeros(2, dtype=torch.bool))
    m = {k.removeprefix("rewards/vigor/"): v for k, v in make_reward("vigor").metrics(raw, view).items()}
    assert m["grad_norm_mean"] == pytest.approx(2.5) and m["grad_norm_corrected_mean"] == pytest.approx(6.5)
    assert m["grad_norm_min"] == pytest.approx(2.0) and m["grad_norm_max"] == pytest.approx(3.0)


def test_majority_vote_over_whole_groups():
    texts = ["so \\boxed{4}", "\\boxed{5}", "no answer here", "\\boxed{ 4 }",   # group 1: 4 wins
             "\\boxed{7}", "\\boxed{8}", "\\boxed{8}", "\\boxed{7}"]             # group 2: tie, 7 seen first
    r = build_rollouts([[5]] * 8, [[6, EOS]] * 8, eos_token_ids=EOS, pad_token_id=PAD, completions=texts)
    reward = make_reward("majority_vote")
    raw = reward.score(r)
    assert math.isnan(raw[2])
    shaped = reward.shape(raw, None, 4)
    assert shaped.tolist() == [1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0]


def test_accuracy_grades_math_and_code_and_skips_missing_gold():
    stub = "def add(a, b):\n"
    tests = "def check(f):\n    assert f(1, 2) == 3\n"
    code = Gold(tests=tests, entry_point="add", problem=stub)
    texts = ["the answer is \\boxed{\\frac{1}{2}}", "\\boxed{0.5}", "\\boxed{3}", "\\boxed{2}",
             "    return a + b\n", "    return a - b\n"]
    golds = [Gold(answer="1/2"), Gold(answer="\\frac12"), Gold(answer="4"), Gold(), code, code]
    r = build_rollouts([[5]] * 6, [[6, EOS]] * 6, eos_token_ids=EOS, pad_token_id=PAD, completions=texts,
                       golds=golds)
    accuracy = make_reward("accuracy")
    raw = accuracy.score(r)
    assert raw[[0, 1, 2, 4, 5]].tolist() == [1.0, 1.0, 0.0, 1.0, 0.0] and math.isnan(raw[3])
    assert accuracy.metrics(raw, None) == {"gold_accuracy": pytest.approx(3 / 5)}  # over completions with a gold


def test_random_reward_is_seeded():
    def scores(seed, step, process=0):
        r = build_rollouts([[5]] * 8, [[6, EOS]] * 8, eos_token_ids=EOS, pad_token_id=PAD,
                           completions=[""] * 8, step=step, process_index=process)
        return make_reward("random", seed=seed).score(r)
    a = scores(7, 3)
    assert torch.equal(a, scores(7, 3))
    assert not torch.equal(a, scores(7, 4)) and not torch.equal(a, scores(8, 3)) and not torch.equal(a, scores(7, 3, 1))
    assert bool(((a >= 0) & (a < 1)).all())


def test_repetition_ratio_hand_values():
    assert repetition_ratio([1, 2, 3, 4, 5], n=2) == 0.0
    assert repetition_ratio([1, 2, 1, 2, 1, 2], n=2) == pytest.approx(1 - 2 / 5)
    assert repetition_ratio([1, 2], n=4) == 0.0


def test_reward_set_scores_once_and_sums_weighted_advantages(model):
    r, _, _ = random_rollouts(seed=5, n=4)
    rewards = RewardSet.from_spec("vigor,self_certainty:0.5,logprob:0")
    raw = rewards.score(r, model)
    assert raw.shape == (4, 3) and raw.dtype == torch.float64
    view = GroupView(lengths=r.completion_lengths, truncated=r.truncated, empty=r.empty)
    shaped, adv = rewards.advantages(raw, view, 4)
    assert sorted(shaped[:, 0].tolist()) == pytest.approx([-1, -1 / 3, 1 / 3, 1])
    assert torch.allclose(shaped[:, 1], raw[:, 1])  # no shaping: the advantage is the z-score
    for k in range(3):
        assert torch.allclose(adv[:, k], group_advantages(shaped[:, k], 4).double())
    combined = rewards.combined_advantage(adv)
    assert torch.allclose(combined, adv[:, 0] + 0.5 * adv[:, 1])
    assert combined.view(-1, 4).sum(1).abs().max() < 1e-9  # a sum of zero-mean group advantages


def test_registry_and_specs():
    assert set(REWARDS) == {"vigor", "self_certainty", "neg_entropy", "logprob", "majority_vote", "random", "accuracy"}
    assert parse_reward_spec("vigor, accuracy:0.25") == [("vigor", 1.0), ("accuracy", 0.25)]
    with pytest.raises(ValueError, match="unknown reward 'vigr'"):
        RewardSet.from_spec("vigr")
    with pytest.raises(ValueError, match="weight 'x' is not a number"):
        parse_reward_spec("vigor:x")
    with pytest.raises(ValueError, match="listed twice"):
        RewardSet.from_spec("vigor,vigor:2")
    with pytest.raises(ValueError, match="shaping must be one of"):
        make_reward("vigor", shaping="softmax")
    assert rank_shape(torch.tensor([0.0, 1.0]), 2).tolist() == [-1.0, 1.0]


@pytest.mark.parametrize("micro_batch_size", [None, 4])
def test_vigor_and_logit_rewards_share_one_forward(model, micro_batch_size):
    r, prompts, completions = random_rollouts(seed=6)
    calls = []
    handle = model.register_forward_pre_hook(lambda *a: calls.append(1))
    try:
        raw = RewardSet.from_spec("vigor,self_certainty,neg_entropy,logprob",
                                  {"vigor": {"micro_batch_size": micro_batch_size}}).score(r, model)
    finally:
        handle.remove()
    assert len(calls) == (1 if micro_batch_size is None else 2)  # one forward per micro-batch
    slow = slow_token_statistics(model, prompts, completions)
    assert raw[:, 1].tolist() == pytest.approx(slow["self_certainty"], abs=1e-4)
    assert raw[:, 2].tolist() == pytest.approx([-x for x in slow["entropy"]], abs=1e-4)
    assert raw[:, 3].tolist() == pytest.approx(slow["logprob"], abs=1e-4)
    keep = [0, 1, 3, 4, 5]
    slow_vigor = slow_vigor_raw(model, prompts, completions)
    assert raw[keep, 0].tolist() == pytest.approx([slow_vigor[i] for i in keep], rel=1e-4)


def test_length_correction_is_one_formula_for_torch_and_numpy():
    """length_corrected(n, T) = n * sqrt(T) and its inverse, on fresh random norms and lengths."""
    lengths = torch.randint(0, 50, (20,))
    norms = torch.rand(20, dtype=torch.float64) * 5
    slow = torch.tensor([n * math.sqrt(t) for n, t in zip(norms.tolist(), lengths.tolist())], dtype=torch.float64)
    corrected = length_corrected(norms, lengths.double())
    assert torch.allclose(corrected, slow, rtol=1e-12, atol=0)
    assert torch.allclose(torch.from_numpy(length_corrected(norms.numpy(), lengths.numpy())), slow, rtol=1e-12)
    back = length_uncorrected(corrected, lengths.double())
    assert torch.allclose(back[lengths > 0], norms[lengths > 0], rtol=1e-12)
    assert bool((back[lengths == 0] == 0).all())


def test_ranked_last_policies():
    view = GroupView(lengths=torch.tensor([3, 4, 1]), truncated=torch.tensor([False, True, False]),
                     empty=torch.tensor([False, False, True]))
    assert ranked_last(view, "keep").tolist() == [False, False, True]
    assert ranked_last(view, "last").tolist() == [False, True, True]
    with pytest.raises(ValueError, match="truncated must be one of"):
        ranked_last(view, "drop")
