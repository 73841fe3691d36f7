"""Settings given in a --config recipe or a preset count as given, like those on the command line:
`vigor compare` leaves the checkpointing the user set and adds its own only where none was set. The run
configs are built by the code `vigor compare` runs (no model loads)."""

from pathlib import Path

import pytest

from vigor.cli import build_parser
from vigor.compare.cli import run_configs
from vigor.compare.study import run_specs
from vigor.training.configure import given_fields


def configs(tmp_path, *options, defaults=None):
    out = tmp_path / "study"
    args = build_parser().parse_args(["compare", "--dataset", "prompts.jsonl", "--rewards", "vigor", "random",
                                      "--output-dir", str(out), "--eval-benchmark", "heldout.jsonl",
                                      "--use-cpu", "true", *options])
    runs = run_specs(Path(out), ["vigor", "random"], [0])
    return run_configs(args, dict(defaults or {}), runs, out=Path(out), data_seed=3, every=4)


def test_checkpointing_defaults_to_each_evaluation(tmp_path):
    for config in configs(tmp_path):
        assert (config.save_strategy, config.save_steps, config.save_total_limit) == ("steps", 4, 1)
        assert (config.data_seed, config.save_best) == (3, True)


@pytest.mark.parametrize("where", ["recipe", "command line", "preset"])
def test_checkpointing_given_anywhere_is_kept(tmp_path, where):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("save_steps: 7\nsave_total_limit: 2\n")
    options = {"recipe": ["--config", str(recipe)], "command line": ["--save-steps", "7", "--save-total-limit", "2"],
               "preset": []}[where]
    defaults = {"save_steps": 7, "save_total_limit": 2} if where == "preset" else None
    for config in configs(tmp_path, *options, defaults=defaults):
        assert (config.save_strategy, config.save_steps, config.save_total_limit) == ("steps", 7, 2), where


def test_given_fields_reads_every_layer(tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("max_samples: 5\n")
    args = build_parser().parse_args(["train", "--dataset", "d.jsonl", "--config", str(recipe), "--beta=0.1",
                                      "--save-steps", "3"])
    given = given_fields(args, {"seed": 1})
    assert {"dataset", "max_samples", "beta", "save_steps", "seed"} <= given
    assert not given & {"learning_rate", "output_dir", "max_steps"}
