"""A reward added in one file, outside the package, appears in train's spec parsing, the demo's monitors and
analyze's signals, and computes on a real group; declared options are validated once; bad files are
one-line errors naming the file and the name."""

import textwrap

import numpy as np
import pytest
import torch

from vigor.rewards import REWARDS, RewardSet, RewardTerm, parse_rewards, reward_names

USER_REWARD = '''
from dataclasses import dataclass

from vigor.rewards import Reward, option, register_reward


@register_reward
class Doubt(Reward):
    """Minus the self-certainty, scaled: a made-up intrinsic reward."""
    name = "doubt"
    needs = "logits"

    @dataclass(frozen=True)
    class Options:
        scale: float = option(1.0, help="multiplies the score")

    def score(self, rollouts, *, model=None, stats=None):
        return -self.scale * stats["self_certainty"].double()


class Unregistered(Reward):
    name = "unregistered"

    def score(self, rollouts, *, model=None, stats=None):
        return rollouts.completion_lengths.double()


class NotAReward:
    name = "plain"
'''


@pytest.fixture
def user_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my_rewards.py").write_text(USER_REWARD)
    before = dict(REWARDS)
    yield "my_rewards.py"
    for name in set(REWARDS) - set(before):  # leave the registry as the other tests expect it
        del REWARDS[name]


def test_a_registered_file_reward_reaches_train_demo_and_analyze(user_file):
    from vigor.analysis.signals import compute_signals, signal_names
    from vigor.demo.run import monitored_rewards
    from vigor.tiny import char_tokenizer, tiny_causal_lm
    from vigor.training import VigorGRPOConfig

    config = VigorGRPOConfig(output_dir="out", reward=f"vigor,{user_file}:Doubt+scale=2:0.5", use_cpu=True,
                             report_to=[])
    terms = parse_rewards(config.reward, config)  # train's one parse of the spec
    assert [(t.name, t.weight) for t in terms] == [("vigor", 1.0), ("doubt", 0.5)]
    assert isinstance(terms[1], RewardTerm) and terms[1].options.scale == 2.0 and terms[1].needs == "logits"
    # loading the file registered it: now it is a name like the built-ins, everywhere
    assert "doubt" in reward_names() and parse_rewards("doubt:0")[0].options.scale == 1.0
    assert "doubt" in monitored_rewards() and "doubt" in signal_names()

    tokenizer = char_tokenizer()
    model = tiny_causal_lm("llama", vocab_size=len(tokenizer), hidden_size=32, layers=2, seed=3)
    gen = torch.Generator().manual_seed(int(torch.randint(0, 2**31, (1,))))
    tok = lambda k: torch.randint(5, 40, (k,), generator=gen).tolist()  # noqa: E731
    prompts = [tok(3), tok(5), tok(2), tok(4)]
    completions = [tok(4) + [tokenizer.eos_token_id], tok(6), tok(2) + [tokenizer.eos_token_id], tok(3)]
    signals = compute_signals(model, tokenizer, prompts, completions, micro_batch_size=2, progress=False)
    assert np.allclose(signals["doubt"], -signals["self_certainty"], rtol=0, atol=1e-6)
    assert np.isfinite(signals["doubt"]).all() and signals["doubt"].std() > 0

    scaled = RewardSet.from_terms(terms[1:]).rewards[0]
    assert scaled.scale == 2.0 and scaled.options is terms[1].options  # built without a second validation


def test_an_unregistered_reward_class_loads_by_file_and_name(user_file):
    (term,) = parse_rewards(f"{user_file}:Unregistered")
    assert term.name == "unregistered" and "unregistered" not in REWARDS
    assert RewardSet.from_terms((term,)).names == ["unregistered"]


@pytest.mark.parametrize("entry, message", [
    ("missing.py:Doubt", "reward 'missing.py:Doubt': no such file 'missing.py'"),
    ("my_rewards.py:Nothing", "reward 'my_rewards.py:Nothing': my_rewards.py has no function 'Nothing'"),
    ("my_rewards.py:NotAReward", "reward 'my_rewards.py:NotAReward': class NotAReward is not a "
                                 "vigor.rewards.Reward subclass"),
    ("my_rewards.py:Doubt+scale=big", "reward 'doubt': option scale must be a number, got 'big'"),
    ("my_rewards.py:Doubt+shape=2", "reward 'doubt': unknown option 'shape'; it takes scale"),
    ("vigor+shaping=softmax", "reward 'vigor': shaping must be one of ('rank', 'rank_avg_ties', 'zscore', 'none')"),
    ("vigor+length_correction=maybe", "reward 'vigor': option length_correction must be true or false, got 'maybe'"),
    ("accuracy+timeout_s", "reward 'accuracy+timeout_s': option 'timeout_s' is not OPTION=VALUE"),
    ("random+seed=1.5", "reward 'random': option seed must be a whole number, got '1.5'"),
])
def test_bad_entries_are_one_line_errors(user_file, entry, message):
    with pytest.raises(ValueError) as err:
        parse_rewards(entry)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_two_registrations_under_one_name_name_the_file(user_file, tmp_path):
    (tmp_path / "clash.py").write_text(textwrap.dedent('''
        from vigor.rewards import Reward, register_reward

        @register_reward
        class Mine(Reward):
            name = "self_certainty"
    '''))
    with pytest.raises(ValueError) as err:
        parse_rewards("clash.py:Mine")
    text = str(err.value)
    assert "\n" not in text and "clash.py" in text and "Mine" in text and "'self_certainty' is already registered" in text
    assert REWARDS["self_certainty"].__module__ == "vigor.rewards.intrinsic"


def test_options_come_from_the_config_fields_the_reward_declares():
    from vigor.training import VigorGRPOConfig

    config = VigorGRPOConfig(output_dir="out", shaping="zscore", truncated="last", grad_norm_micro_batch_size=3,
                             reward_temperature=0.5, accuracy_timeout_s=2.0, seed=11, length_correction=False,
                             use_cpu=True, report_to=[])
    vigor, accuracy, rnd = parse_rewards("vigor,accuracy:0,random+seed=4", config)
    assert (vigor.options.shaping, vigor.options.truncated, vigor.options.micro_batch_size,
            vigor.options.temperature, vigor.options.length_correction) == ("zscore", "last", 3, 0.5, False)
    assert accuracy.options.timeout_s == 2.0 and rnd.options.seed == 4  # the spec's own option wins
    with pytest.raises(ValueError, match="reward 'vigor': shaping must be one of"):
        parse_rewards("vigor", VigorGRPOConfig(output_dir="out", shaping="softmax", use_cpu=True, report_to=[]))


def test_readme_table_is_the_registry():
    import pathlib

    from vigor.rewards import reward_table

    readme = (pathlib.Path(__file__).parents[2] / "README.md").read_text()
    assert reward_table() in readme
