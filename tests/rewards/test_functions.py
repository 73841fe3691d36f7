"""TRL reward functions in --reward specs: parsing, loading, signature checks, and scoring as TRL does
(None = does not apply), with errors that name the reward and the step."""

import math
import sys
import textwrap

import pytest
import torch

from vigor.rewards import (FunctionReward, GroupView, RewardFunctionError, RewardSet, build_rollouts,
                           group_advantages, make_reward, parse_reward_spec)

EOS, PAD = 2, 0

MODULE = '''
def format_reward(completions, **kwargs):
    """1 when the completion has a box, None when it is empty (does not apply)."""
    return [None if not c else float("boxed" in c) for c in completions]

def echo_columns(prompts, completions, completion_ids, answer, trainer_state, log_extra, log_metric, **kwargs):
    return [float(len(p) + len(c) + len(ids)) + float(a) for p, c, ids, a in zip(prompts, completions, completion_ids, answer)]

def no_kwargs(completions):
    return [0.0] * len(completions)

def positional_only(completions, /, **kwargs):
    return [0.0] * len(completions)

async def later(completions, **kwargs):
    return [0.0] * len(completions)

def accuracy(completions, **kwargs):
    return [0.0] * len(completions)

def bad(completions, **kwargs):
    return BEHAVIOUR(completions)

not_a_function = 3
'''


@pytest.fixture
def module_file(tmp_path, monkeypatch):
    path = tmp_path / "my_rewards.py"
    path.write_text(MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield path
    sys.modules.pop("my_rewards", None)


def rollouts(texts, step=3, **columns):
    n = len(texts)
    ids = [[5 + i, 6, EOS] for i in range(n)]
    prompts = [f"p{i}" for i in range(n)]
    kwargs = dict(prompts=prompts, completions=texts, completion_ids=ids, trainer_state=None, log_extra=None,
                  log_metric=None, **columns)
    return build_rollouts([[7]] * n, ids, eos_token_ids=EOS, pad_token_id=PAD, completions=texts, step=step,
                          reward_kwargs=kwargs)


def test_spec_forms():
    assert parse_reward_spec("vigor,my_rewards.py:format_reward:0.5,pkg.mod:fn,accuracy:0") == [
        ("vigor", 1.0), ("my_rewards.py:format_reward", 0.5), ("pkg.mod:fn", 1.0), ("accuracy", 0.0)]
    for bad, message in (("a:b:c", "expected NAME"), ("my.py:", "expected NAME"), ("vigor:x", "weight 'x'"),
                         ("vigor:inf", "not finite")):
        with pytest.raises(ValueError, match=message):
            parse_reward_spec(bad)


def test_loaded_by_path_and_by_module_and_scored_with_none(module_file):
    by_path = make_reward("my_rewards.py:format_reward")
    by_module = make_reward("my_rewards:format_reward")
    assert isinstance(by_path, FunctionReward) and by_path.name == by_module.name == "format_reward"
    raw = by_path.score(rollouts(["\\boxed{1}", "", "no", "boxed"]))
    assert raw.dtype == torch.float64
    assert raw[[0, 2, 3]].tolist() == [1.0, 0.0, 1.0] and math.isnan(raw[1])


def test_called_with_every_trl_keyword_and_dataset_column(module_file):
    reward = make_reward("my_rewards.py:echo_columns")
    raw = reward.score(rollouts(["ab", "c"], answer=[10, 20]))
    assert raw.tolist() == [2 + 2 + 3 + 10, 2 + 1 + 3 + 20]


@pytest.mark.parametrize("spec, message", [
    ("missing.py:f", "no such file 'missing.py'"),
    ("my_rewards.py:nothing", "my_rewards.py has no function 'nothing'"),
    ("no_such_module_xyz:f", "cannot import module 'no_such_module_xyz'"),
    ("my_rewards.py:no_kwargs", "wrong signature .*add \\*\\*kwargs"),
    ("my_rewards.py:positional_only", "'completions' is positional-only"),
    ("my_rewards.py:later", "async reward functions are not supported"),
    ("my_rewards.py:not_a_function", "int object is not callable"),
    ("my_rewards.py:accuracy", "'accuracy' is a built-in reward"),
])
def test_bad_specs_are_one_line_errors(module_file, spec, message):
    with pytest.raises(ValueError, match=message) as info:
        RewardSet.from_spec(f"vigor,{spec}:0.5")
    assert "\n" not in str(info.value) and spec.split(":")[0] in str(info.value)


@pytest.mark.parametrize("behaviour, message", [
    ("lambda c: [1.0]", "returned 1 values for 3 completions"),
    ("lambda c: [1.0, float('nan'), 0.0]", "returned nan for completion 1; return None"),
    ("lambda c: [1.0, 'x', 0.0]", "returned 'x' for completion 1: not a number or None"),
    ("lambda c: 1.0", "returned a float, not a list"),
    ("lambda c: 1 / 0", "raised ZeroDivisionError: division by zero"),
])
def test_bad_values_name_the_reward_and_the_step(module_file, behaviour, message):
    reward = make_reward("my_rewards.py:bad")
    reward.func.__globals__["BEHAVIOUR"] = eval(behaviour)
    with pytest.raises(RewardFunctionError, match=f"reward 'bad' \\(my_rewards.py:bad\\) at step 3 {message}"):
        reward.score(rollouts(["a", "b", "c"]))


def test_none_is_left_out_of_the_group_and_gets_no_advantage(module_file):
    """TRL's rule: a None reward is excluded from its group's mean and std and adds nothing to the
    policy advantage; a completion no reward applies to gets advantage 0."""
    rewards = RewardSet.from_spec("my_rewards.py:format_reward")
    texts = ["boxed", "", "x", "boxed x", "", "", "", ""]  # group 2: nothing applies
    raw = rewards.score(rollouts(texts), None)
    view = GroupView(lengths=torch.full((8,), 3), truncated=torch.zeros(8, dtype=torch.bool),
                     empty=torch.zeros(8, dtype=torch.bool))
    shaped, adv = rewards.advantages(raw, view, 4)
    valid = torch.tensor([1.0, 0.0, 1.0])  # rows 0, 2, 3 of group 1
    expected = (valid - valid.mean()) / (valid.std() + 1e-4)
    assert adv[[0, 2, 3], 0].tolist() == pytest.approx(expected.tolist())
    assert torch.isnan(adv[[1, 4, 5, 6, 7], 0]).all()
    combined = rewards.combined_advantage(adv)
    assert combined[[1, 4, 5, 6, 7]].tolist() == [0.0] * 5
    assert torch.allclose(group_advantages(shaped[:, 0], 4).double(), adv[:, 0], equal_nan=True)


def test_weighted_reward_is_trls(module_file):
    """reward = sum_k w_k r_k over the rewards that apply; NaN (left out of the mean) where none applies."""
    rewards = RewardSet.from_spec("my_rewards.py:format_reward:2,random:0.5")
    reported = torch.tensor([[1.0, 0.2], [math.nan, 0.4], [math.nan, math.nan]], dtype=torch.float64)
    weighted = rewards.weighted_reward(reported)
    assert weighted[:2].tolist() == pytest.approx([2.1, 0.2]) and math.isnan(weighted[2])


def test_majority_vote_reports_its_zero_one_value():
    texts = ["\\boxed{4}", "\\boxed{4}", "\\boxed{5}", "none"]
    r = build_rollouts([[5]] * 4, [[6, EOS]] * 4, eos_token_ids=EOS, pad_token_id=PAD, completions=texts)
    rewards = RewardSet.from_spec("majority_vote")
    raw = rewards.score(r, None)
    shaped, _ = rewards.advantages(raw, None, 4)
    assert rewards.reported(raw, shaped)[:, 0].tolist() == [1.0, 1.0, 0.0, 0.0]


def test_module_code_is_loaded_once(tmp_path, monkeypatch):
    (tmp_path / "counting.py").write_text(textwrap.dedent('''
        import builtins
        builtins.vigor_test_loads = getattr(builtins, "vigor_test_loads", 0) + 1
        def count(completions, **kwargs):
            return [0.0] * len(completions)
    '''))
    monkeypatch.chdir(tmp_path)
    import builtins

    make_reward("counting.py:count")
    make_reward("counting.py:count")
    assert builtins.vigor_test_loads == 1
    del builtins.vigor_test_loads
