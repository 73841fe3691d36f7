"""Every `vigor compare --preset` builds valid run configs and passes the pre-training checks (data, held-out
benchmarks, the model's context, each arm's settings) -- without loading the model or training."""

from pathlib import Path

import pytest

from vigor.cli import build_parser
from vigor.compare.cli import build_run_config, check_arms, check_names, run_configs
from vigor.compare.presets import PRESETS
from vigor.compare.study import run_specs
from vigor.training.preflight import check_before_loading


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_passes_the_checks_before_training(tmp_path, name):
    preset = PRESETS[name]
    out = tmp_path / "study"
    args = build_parser().parse_args(["compare", "--preset", name, "--output-dir", str(out)])
    arms = check_names(preset["rewards"], preset["seeds"], preset["baseline"])
    base = build_run_config(args, dict(preset["fields"]), output_dir=out,
                            reward=",".join(dict.fromkeys(a.reward_name for a in arms)))
    assert preset["baseline"] in preset["rewards"] and len(set(preset["seeds"])) == len(preset["seeds"])
    checked = check_before_loading(base)
    assert base.eval_benchmark and set(checked.benchmark_kinds) == set(base.eval_benchmark)
    assert base.max_steps == preset["fields"]["max_steps"]
    records = check_arms(args, dict(preset["fields"]), arms, base, Path(out))
    configs = run_configs(args, dict(preset["fields"]), run_specs(Path(out), preset["rewards"], preset["seeds"]),
                          out=Path(out), data_seed=0, every=base.eval_steps, arms={a.entry: a for a in arms})
    assert len(configs) == len(preset["rewards"]) * len(preset["seeds"])
    for arm in arms:  # each arm's config is the study's but for its own settings
        assert set(records[arm.entry]["differs"]) == set(arm.fields) | set(arm.options)


def test_why_135m_arms_are_the_studys():
    preset = PRESETS["why-135m"]
    assert preset["seeds"] == [0, 1, 2, 3] and preset["fields"] == PRESETS["miniature-long"]["fields"]
    arms = {a.entry: a for a in check_names(preset["rewards"], preset["seeds"], preset["baseline"])}
    assert {"vigor", "vigor+length_correction=false", "logprob", "self_certainty"} <= set(arms)
    [subset] = [a for a in arms.values() if "grad_params" in a.options]  # the norm over the last two blocks only
    assert subset.reward_name == "vigor" and not subset.fields
    from vigor.gradnorm import select_parameters
    from vigor.models import load_model_and_tokenizer

    model, _ = load_model_and_tokenizer(None)
    names = select_parameters(model, subset.options["grad_params"])
    assert names and {n.split(".")[2] for n in names} == {"28", "29"}  # SmolLM2-135M has blocks 0-29
    recipe = [a for a in arms.values() if a.fields]
    assert sorted(a.reward_name for a in recipe) == ["self_certainty", "vigor"]
    for arm in recipe:  # the reference recipe: learning rate 2e-6, 10 % warm-up, beta 0.01
        assert arm.fields == {"learning_rate": 2e-6, "beta": 0.01, "warmup_steps": 0.1}
