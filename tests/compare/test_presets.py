"""Every `vigor compare --preset` builds valid run configs and passes the pre-training checks (data, held-out
benchmarks, the model's context) -- without loading the model or training."""

import pytest

from vigor.cli import build_parser
from vigor.compare.cli import build_run_config
from vigor.compare.presets import PRESETS
from vigor.training.preflight import check_before_loading


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_passes_the_checks_before_training(tmp_path, name):
    preset = PRESETS[name]
    args = build_parser().parse_args(["compare", "--preset", name, "--output-dir", str(tmp_path / "study")])
    base = build_run_config(args, dict(preset["fields"]), output_dir=tmp_path / "study",
                            reward=",".join(preset["rewards"]))
    assert preset["baseline"] in preset["rewards"] and len(set(preset["seeds"])) == len(preset["seeds"])
    checked = check_before_loading(base)
    assert base.eval_benchmark and set(checked.benchmark_kinds) == set(base.eval_benchmark)
    assert base.max_steps == preset["fields"]["max_steps"]
