"""The output folder's start (refusal, --resume past incomplete checkpoints, --overwrite) and the staged commit,
on the folders a real tiny run writes."""

import os
import shutil

import pytest

from tests.training.training_helpers import tiny_run_options


@pytest.fixture(scope="module")
def finished_run(tiny_model_dir, prompts_file, tmp_path_factory):
    """A real 2-step run with a checkpoint at each step (config fields, folder)."""
    from vigor.training import VigorGRPOConfig, train

    out = tmp_path_factory.mktemp("run") / "out"
    options = tiny_run_options(tiny_model_dir, prompts_file, out, max_steps=2, save_strategy="steps", save_steps=1,
                               reward_dump=True)
    train(VigorGRPOConfig(**options))
    return options, out


def copy_of(finished_run, tmp_path, **fields):
    from vigor.training import VigorGRPOConfig

    options, out = finished_run
    shutil.copytree(out, tmp_path / "out")
    return VigorGRPOConfig(**dict(options, output_dir=str(tmp_path / "out"), **fields)), tmp_path / "out"


def test_a_folder_holding_a_run_is_refused_unless_resume_or_overwrite(finished_run, tmp_path, capsys):
    from vigor.training.checkpoints import clear_for_overwrite, start_checkpoint

    config, out = copy_of(finished_run, tmp_path)
    with pytest.raises(ValueError, match=r"holds another run \(checkpoint-1\.\.2, .*metrics\.jsonl.*\); pass "
                                         r"--resume .* --overwrite") as err:
        start_checkpoint(config)
    assert "\n" not in str(err.value)
    config.resume = True
    assert start_checkpoint(config) == str(out / "checkpoint-2")
    config.overwrite = True
    with pytest.raises(ValueError, match="--overwrite and --resume: choose one"):
        start_checkpoint(config)
    config.resume = False
    (out / "notes.txt").write_text("mine")
    (out / "data").mkdir()
    assert start_checkpoint(config) is None and sorted(os.listdir(out)) != ["data", "notes.txt"]  # nothing gone yet
    removed = clear_for_overwrite(config)
    assert "checkpoint-1" in removed and "metrics.jsonl" in removed and "model.safetensors" in removed
    assert sorted(os.listdir(out)) == ["data", "notes.txt"]  # what a run does not write stays
    assert "--overwrite: deleted the earlier run's" in capsys.readouterr().out
    config.overwrite = False
    assert start_checkpoint(config) is None  # what is left is no run


def test_resume_names_and_skips_an_incomplete_checkpoint(finished_run, tmp_path, capsys):
    from vigor.training.checkpoints import last_checkpoint, start_checkpoint

    config, out = copy_of(finished_run, tmp_path, resume=True)
    for name in os.listdir(out / "checkpoint-2"):  # what a kill while saving checkpoint-2 used to leave
        if name != "config.json":
            os.remove(out / "checkpoint-2" / name)
    assert last_checkpoint(str(out)) == str(out / "checkpoint-1")
    assert start_checkpoint(config) == str(out / "checkpoint-1")
    assert "skipping checkpoint-2 (no trainer_state.json, only config.json)" in capsys.readouterr().out
    shutil.rmtree(out / "checkpoint-1")
    with pytest.raises(ValueError, match=r"--resume: no complete checkpoint-N folder in .* \(only checkpoint-2 \(no "
                                         r"trainer_state.json, only config.json\): left by a kill while saving\); "
                                         r"pass --overwrite"):
        start_checkpoint(config)
    config.resume, config.resume_from_checkpoint = False, str(out / "checkpoint-2")
    with pytest.raises(ValueError, match=r"checkpoint-2: an incomplete checkpoint \(no trainer_state.json"):
        start_checkpoint(config)
    (out / "checkpoint-3").mkdir()
    (out / "checkpoint-3" / "trainer_state.json").write_text('{"global_step": 3')  # cut short
    config.resume_from_checkpoint = str(out / "checkpoint-3")
    with pytest.raises(ValueError, match=r"checkpoint-3: an incomplete checkpoint \(trainer_state.json unreadable"):
        start_checkpoint(config)


def test_commit_replaces_a_folder_in_the_way(tmp_path):
    from vigor.training.checkpoints import STAGING_DIR, commit

    staged = tmp_path / STAGING_DIR / "checkpoint-3"
    staged.mkdir(parents=True)
    (staged / "trainer_state.json").write_text("new")
    (tmp_path / "checkpoint-3").mkdir()
    (tmp_path / "checkpoint-3" / "config.json").write_text("old")  # an older kill's leftover
    commit(str(staged), str(tmp_path / "checkpoint-3"))
    assert os.listdir(tmp_path / "checkpoint-3") == ["trainer_state.json"]
    assert sorted(os.listdir(tmp_path)) == ["checkpoint-3"]


def test_a_resumed_run_past_a_staging_leftover_rotates_after_the_rename(finished_run, tmp_path):
    from vigor.training import train
    from vigor.training.checkpoints import STAGING_DIR

    config, out = copy_of(finished_run, tmp_path, resume=True, max_steps=3, save_total_limit=1)
    (out / STAGING_DIR / "checkpoint-3").mkdir(parents=True)  # a kill in the middle of an earlier save
    (out / STAGING_DIR / "checkpoint-3" / "config.json").write_text("{}")
    train(config)
    assert sorted(p for p in os.listdir(out) if p.startswith(("checkpoint-", "."))) == ["checkpoint-3"]
    assert os.path.isfile(out / "checkpoint-3" / "trainer_state.json")
