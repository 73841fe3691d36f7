"""Variants as study arms (issue 17.4): a `--rewards` entry with settings after '+', each a reward option or a typed
`vigor train` field; its config differs from the study's exactly there; bad settings are one-line errors before
anything is made; a study with two arms of one reward trains, reports each arm's settings, skips finished arms and
trains an added one."""

import json

import pytest

from tests.compare.conftest import tiny_study_args
from vigor.cli import build_parser, main
from vigor.compare.arms import arm_folder, parse_arms
from vigor.compare.cli import run_configs
from vigor.compare.study import StudyError, check_manifest, run_specs
from vigor.errors import UsageError


def test_entries_parse_to_typed_fields_and_options():
    plain, option, fields, listed = parse_arms(
        ["vigor", "vigor+length_correction=false", "self_certainty+learning_rate=2e-6+beta=0.01+positions=intuitor"
         "+lr_scheduler_type=linear+max_steps=3", "logprob+premise_signals=vigor,vigor_uncorrected+premise_window_steps=4"])
    assert (plain.reward, plain.fields, plain.folder) == ("vigor", {}, "vigor")
    assert (option.reward, option.fields, option.options) == ("vigor+length_correction=false", {},
                                                              {"length_correction": "false"})
    assert fields.reward == "self_certainty+positions=intuitor"
    assert fields.fields == {"learning_rate": 2e-6, "beta": 0.01, "lr_scheduler_type": "linear", "max_steps": 3}
    assert [type(v) for v in fields.fields.values()] == [float, float, str, int]
    assert listed.fields == {"premise_signals": ["vigor", "vigor_uncorrected"], "premise_window_steps": 4}


def test_a_length_correction_field_is_also_accepted_on_another_reward():
    (arm,) = parse_arms(["self_certainty+length_correction=false"])  # not its option: the config field
    assert arm.fields == {"length_correction": False} and arm.reward == "self_certainty"


@pytest.mark.parametrize("entry, says", [
    ("vigor+foo=1", "'foo' is neither a vigor train field nor an option of vigor"),
    ("vigor+learning_rate=abc", "learning_rate must be a float, got 'abc'"),
    ("vigor+max_steps=1.5", "max_steps must be an int"),
    ("vigor+length_correction=maybe", "length_correction must be true or false"),
    ("self_certainty+positions=later", "positions must be one of"),
    ("vigor+seed=3", "seed cannot differ between arms"),
    ("vigor+eval_benchmark=x.jsonl", "eval_benchmark cannot differ between arms"),
    ("vigor+beta", "is not OPTION=VALUE"),
    ("vigr+beta=0.1", "unknown reward 'vigr'"),
])
def test_bad_settings_are_one_line_errors(entry, says):
    with pytest.raises(UsageError) as err:
        parse_arms([entry])
    assert says in str(err.value) and "\n" not in str(err.value)


def test_bad_setting_stops_the_study_before_anything_is_made(tiny_model_dir, data_files, tmp_path, capsys):
    train, heldout = data_files
    out = tmp_path / "cmp"
    args = tiny_study_args(tiny_model_dir, train, heldout, out, rewards=("vigor+learning_rate=fast", "random"))
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "vigor+learning_rate=fast: learning_rate must be a float" in err and err.count("\n") == 1
    assert not out.exists()


def test_folders_are_safe_and_distinct():
    entries = ["vigor+grad_params=model\\.layers\\.(28|29)\\.", "vigor+grad_params=model\\.layers\\.(28|29)/",
               "vigor+learning_rate=2e-6"]
    folders = [arm_folder(e) for e in entries]
    assert folders[2] == entries[2] and len(set(folders)) == 3
    assert all(set(f) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.+=-") for f in folders)


def test_an_arms_config_differs_from_the_base_exactly_in_its_settings(tmp_path):
    out = tmp_path / "study"
    entries = ["vigor", "vigor+learning_rate=3e-3+beta=0.05+length_correction=false"]
    args = build_parser().parse_args(["compare", "--dataset", "prompts.jsonl", "--rewards", *entries,
                                      "--output-dir", str(out), "--eval-benchmark", "heldout.jsonl",
                                      "--use-cpu", "true", "--learning-rate", "1e-2", "--beta", "0.0"])
    base, arm = run_configs(args, {}, run_specs(out, entries, [0]), out=out, data_seed=3, every=4)
    a, b = base.to_dict(), arm.to_dict()
    differ = {k for k in a if a[k] != b[k]} - {"output_dir", "logging_dir", "run_name"}
    assert differ == {"learning_rate", "beta", "reward"}
    assert (base.learning_rate, arm.learning_rate, arm.beta) == (1e-2, 3e-3, 0.05)  # the arm's value wins
    assert arm.reward == "vigor+length_correction=false" and arm.output_dir == str(out / entries[1] / "seed0")


def test_an_arm_trained_with_other_settings_is_refused(tmp_path):
    from vigor.training.config import VigorGRPOConfig

    config = VigorGRPOConfig(output_dir=str(tmp_path), dataset="x.jsonl", use_cpu=True)
    record = {"folder": "a", "reward": "vigor", "fields": {"beta": 0.01}, "options": {}, "differs": {}}
    manifest = check_manifest(tmp_path, config, ["a"], [0], [], {"a": record})
    (tmp_path / "study.json").write_text(json.dumps(manifest))
    assert check_manifest(tmp_path, config, ["a"], [0], [], {"a": record})["arms"] == {"a": record}
    with pytest.raises(StudyError, match="arm a was trained with fields"):
        check_manifest(tmp_path, config, ["a"], [0], [], {"a": dict(record, fields={"beta": 0.02})})


@pytest.mark.slow
def test_two_arms_of_one_reward_train_report_and_resume(tiny_model_dir, data_files, tmp_path):
    train, heldout = data_files
    out = tmp_path / "cmp"
    arms = ("vigor", "vigor+learning_rate=1e-3+length_correction=false")
    gold = ("--monitor-accuracy", "true")  # the premise monitor needs gold
    assert main(tiny_study_args(tiny_model_dir, train, heldout, out, rewards=arms, extra=gold)) == 0
    manifest = json.loads((out / "study.json").read_text())
    assert manifest["arms"][arms[1]]["differs"] == {"learning_rate": 1e-3, "length_correction": False}
    assert manifest["arms"][arms[0]]["differs"] == {}
    logged_lr = {}
    for arm in arms:
        assert (out / arm / "seed0" / "run.json").exists(), arm
        metrics = [json.loads(line) for line in (out / arm / "seed0" / "metrics.jsonl").read_text().splitlines()]
        logged_lr[arm] = next(r["learning_rate"] for r in metrics if r.get("step") == 1 and "learning_rate" in r)
    # the same schedule from the arm's own peak: 1e-3 against the command line's 1e-2
    assert logged_lr[arms[1]] / logged_lr[arms[0]] == pytest.approx(0.1, rel=1e-9)
    report = (out / "report.md").read_text()
    assert f"| {arms[1]} | {arms[1]}/ | learning_rate = 0.001, length_correction = False |" in report
    assert f"| {arms[0]} | {arms[0]}/ | none |" in report
    assert "## The premise during training" in report
    result = json.loads((out / "report.json").read_text())
    assert [row["signal"] for row in result["premise"].values()] == ["vigor", "vigor_uncorrected"]
    # again with one arm more: the two finished arms are skipped, only the new one trains
    more = (*arms, "random")
    assert main(tiny_study_args(tiny_model_dir, train, heldout, out, rewards=more, extra=gold)) == 0
    events = [json.loads(line) for line in (out / "study.log.jsonl").read_text().splitlines()]
    actions = {run: [e["action"] for e in events if e["run"] == run] for run in {e["run"] for e in events}}
    assert actions == {f"{arms[0]}/seed0": ["train", "done", "skip"], f"{arms[1]}/seed0": ["train", "done", "skip"],
                       "random/seed0": ["train", "done"]}
