"""vigor.training.configure: the one "which fields did the user give" (recipe included) and the config built once
from typed overrides, for each command that builds run configs (train, compare, bench step). No model loads."""

import pytest

from vigor.cli import build_parser
from vigor.errors import UsageError
from vigor.training.configure import build_config, given_fields


def parse(tmp_path, command, *options):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("save_steps: 7\nmax_samples: 5\n")
    return build_parser().parse_args([*command, "--config", str(recipe), *options])


COMMANDS = [["train", "--dataset", "d.jsonl"], ["compare", "--dataset", "d.jsonl", "--eval-benchmark", "gsm8k"],
            ["bench", "step"]]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_a_recipes_fields_count_as_given(tmp_path, command):
    given = given_fields(parse(tmp_path, command, "--beta", "0.5"))
    assert {"save_steps", "max_samples", "beta"} <= given
    assert not given & {"save_total_limit", "learning_rate", "seed"}


def test_compares_named_evaluation_options_are_the_config_fields(tmp_path):
    args = parse(tmp_path, COMMANDS[1], "--eval-steps", "3", "--eval-samples", "2", "--use-cpu", "true")
    assert {"eval_benchmark", "eval_steps", "eval_samples", "dataset"} <= given_fields(args)
    config = build_config(args, overrides={"output_dir": str(tmp_path), "reward": "vigor"})
    assert (config.eval_benchmark, config.eval_steps, config.eval_samples) == (["gsm8k"], 3, 2)


def test_overrides_sit_above_the_recipe_and_below_the_users_field_options(tmp_path):
    args = parse(tmp_path, COMMANDS[0], "--output-dir", str(tmp_path), "--seed", "4", "--use-cpu", "true")
    config = build_config(args, {"beta": 0.3}, overrides={"save_steps": 9, "seed": 11, "max_steps": 2})
    assert (config.save_steps, config.seed, config.max_steps, config.beta) == (9, 4, 2, 0.3)
    assert config.max_samples == 5  # the recipe's, below the overrides but not overridden
    assert "save_steps" in given_fields(args) and "max_steps" not in given_fields(args)  # overrides are not given


def test_required_fields_may_come_from_overrides(tmp_path):
    args = build_parser().parse_args(["bench", "step", "--use-cpu", "true"])
    with pytest.raises(UsageError, match="--output-dir is required"):
        build_config(args)
    config = build_config(args, overrides={"output_dir": str(tmp_path), "dataset": "gsm_symbolic", "max_samples": 4})
    assert (config.output_dir, config.dataset, config.max_samples) == (str(tmp_path), "gsm_symbolic", 4)


def test_only_field_option_commands_keep_unknown_options(capsys):
    assert build_parser().parse_args(["train", "--beta", "1"]).field_options == ["--beta", "1"]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["bench", "gradnorm", "--beta", "1"])
    assert "unrecognized arguments: --beta 1" in capsys.readouterr().err
