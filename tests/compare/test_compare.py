"""`vigor compare` end to end on a tiny random model: 2 rewards x 1 seed x 2 steps, evaluations at steps 0
and 2; the report holds the evaluated numbers; a second invocation trains nothing; bad input."""

import json
import os

import pytest

from tests.compare.conftest import tiny_study_args
from vigor.cli import main


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def correct_fraction(folder, key):
    rows = read_jsonl(os.path.join(folder, f"{key}.samples.jsonl"))
    return sum(r["correct"] for r in rows) / len(rows)


@pytest.fixture(scope="module")
def study(tiny_model_dir, data_files, tmp_path_factory):
    train, heldout = data_files
    out = tmp_path_factory.mktemp("study") / "cmp"
    assert main(tiny_study_args(tiny_model_dir, train, heldout, out)) == 0
    return out, tiny_model_dir, train, heldout


@pytest.mark.slow
def test_report_holds_the_evaluated_numbers(study):
    out, *_ = study
    for name in ("report.md", "report.json", "accuracy_by_step.png", "stability.png", "study.json"):
        assert (out / name).stat().st_size > 0, name
    report = json.loads((out / "report.json").read_text())
    key = "heldout"
    base = correct_fraction(out / "base", key)
    assert report["table"]["base model"][key]["accuracy"] == pytest.approx(base)
    for reward in ("vigor", "random"):
        run = out / reward / "seed0"
        evals = [r for r in read_jsonl(run / "metrics.jsonl") if "eval/mean_accuracy" in r]
        assert [r["step"] for r in evals] == [0, 2]
        assert evals[0][f"eval/{key}/accuracy"] == pytest.approx(base)  # step 0 is the shared base evaluation
        final = correct_fraction(run / "eval" / "step-2", key)
        assert evals[1][f"eval/{key}/accuracy"] == pytest.approx(final)
        cell = report["table"][reward][key]
        assert cell["accuracy"] == pytest.approx(final)
        assert cell["ci95"][0] <= cell["accuracy"] <= cell["ci95"][1]
        assert f"{100 * final:.1f} [" in (out / "report.md").read_text()
        curve = report["curves"][reward]["accuracy"][key]
        assert curve[0] == [0, 2] and curve[1] == pytest.approx([base, final])
        best = json.loads((run / "best" / "best.json").read_text())
        assert best["eval/mean_accuracy"] == pytest.approx(max(base, final))
    # the paired difference and its counts, recomputed from the per-sample verdicts
    vigor = read_jsonl(out / "vigor" / "seed0" / "eval" / "step-2" / f"{key}.samples.jsonl")
    random_ = read_jsonl(out / "random" / "seed0" / "eval" / "step-2" / f"{key}.samples.jsonl")
    pairs = {(r["id"], r["sample"]): r["correct"] for r in random_}
    gained = sum(r["correct"] and not pairs[(r["id"], r["sample"])] for r in vigor)
    lost = sum(not r["correct"] and pairs[(r["id"], r["sample"])] for r in vigor)
    row = report["versus"]["vigor"][key]
    assert (row["gained"], row["lost"]) == (gained, lost)
    assert row["difference"] == pytest.approx(correct_fraction(out / "vigor/seed0/eval/step-2", key) -
                                              correct_fraction(out / "random/seed0/eval/step-2", key))
    assert "no difference detectable at this size" in report["verdict"].lower() or row["mcnemar_p"] < 0.05


def test_second_invocation_trains_nothing(study, capsys):
    out, model, train, heldout = study
    stamps = {p: os.path.getmtime(p) for p in out.glob("*/seed0/model.safetensors")}
    before = len(read_jsonl(out / "study.log.jsonl"))
    assert main(tiny_study_args(model, train, heldout, out)) == 0
    new = read_jsonl(out / "study.log.jsonl")[before:]
    assert sorted((e["run"], e["action"]) for e in new) == [("random/seed0", "skip"), ("vigor/seed0", "skip")]
    assert stamps == {p: os.path.getmtime(p) for p in out.glob("*/seed0/model.safetensors")}
    assert "note: with 1 seed(s) per reward the report's seed-level test cannot go below p = 1" in capsys.readouterr().out


def test_seeds_note_names_how_many_seeds_a_seed_level_difference_needs():
    from vigor.compare.cli import seeds_note

    assert "cannot go below p = 0.1," in seeds_note(3) and "4 seeds per reward can (--seeds 0 1 2 3)" in seeds_note(3)
    assert seeds_note(4) == "" and seeds_note(6) == ""  # 2 / C(8, 4) = 0.029
    assert "0.1" in seeds_note(3, alpha=0.1) and seeds_note(3, alpha=0.11) == ""


def bad(args, capsys) -> str:
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_bad_input_is_one_line_before_training(study, tiny_model_dir, data_files, tmp_path, capsys):
    out, model, train, heldout = study
    fresh = tmp_path / "fresh"
    args = lambda **kw: tiny_study_args(model, train, heldout, fresh, **kw)  # noqa: E731
    assert "unknown reward 'vigour'" in bad(args(rewards=("vigour", "random")), capsys)
    assert "duplicate seeds" in bad(args(seeds=("1", "1")), capsys)
    assert "--baseline" in bad(tiny_study_args(model, train, heldout, fresh) + ["--baseline", "accuracy"], capsys)
    unknown = tiny_study_args(model, train, "no_such_benchmark", fresh)
    assert "no_such_benchmark" in bad(unknown, capsys)
    assert "--seeds" in bad(args(extra=("--seed", "3")), capsys)
    assert not fresh.exists()  # nothing was written, let alone trained
    other_data = tmp_path / "other.jsonl"
    other_data.write_text(open(train).read().replace("+", "-"))
    message = bad(tiny_study_args(model, str(other_data), heldout, out), capsys)
    assert "holds a different study" in message and "dataset" in message
    other_config = tiny_study_args(model, train, heldout, out) + ["--max-completion-length", "9"]
    assert "max_completion_length was 8, now 9" in bad(other_config, capsys)
    import shutil

    other_model = shutil.copytree(model, tmp_path / "other-model")
    message = bad(tiny_study_args(str(other_model), train, heldout, out), capsys)
    assert "holds a different study (model_name_or_path" in message


def test_output_dir_takes_trls_spelling_too():
    """--output_dir (TRL's habit) is the study folder, not a config field that leaves --output-dir missing."""
    from vigor.cli import build_parser

    args = build_parser().parse_args(["compare", "--output_dir", "runs/cmp", "--max_steps", "3"])
    assert args.output_dir == "runs/cmp" and args.field_options == ["--max_steps", "3"]


def test_settings_that_move_no_number_are_not_the_studys_identity(tmp_path):
    """A study recorded by an older vigor (dataloader_pin_memory true on a CPU) is the same study now."""
    from vigor.compare.study import identity
    from vigor.training import VigorGRPOConfig

    pinned, unpinned = (VigorGRPOConfig(output_dir=str(tmp_path), use_cpu=True) for _ in range(2))
    pinned.dataloader_pin_memory, unpinned.dataloader_pin_memory = True, False  # a CPU config resolves it to False
    assert identity(pinned) == identity(unpinned)
    assert identity(pinned) != identity(VigorGRPOConfig(output_dir=str(tmp_path), use_cpu=True, max_steps=3))
