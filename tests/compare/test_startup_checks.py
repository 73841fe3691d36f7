"""`vigor compare`'s checks before any run: every reward of the study is checked (not only the first), and each
held-out benchmark is loaded once."""

from tests.compare.conftest import tiny_study_args
from vigor.cli import main


def one_error(capsys) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


def test_a_later_reward_needing_gradients_is_checked(data_files, tmp_path, monkeypatch, capsys):
    """random needs no gradients, vigor does: under FSDP1 the study is refused before anything is written."""
    train, heldout = data_files
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")  # what `accelerate launch` sets
    monkeypatch.setenv("FSDP_VERSION", "1")
    out = tmp_path / "study"
    args = tiny_study_args(str(tmp_path / "no-model-here"), train, heldout, out, rewards=("random", "vigor"))
    assert main(args) == 2
    assert "FSDP1 is not supported by the vigor reward" in one_error(capsys)
    assert not out.exists()


def test_each_benchmark_loads_once(tiny_model_dir, data_files, tmp_path, monkeypatch, capsys):
    import importlib

    evaluate = importlib.import_module("vigor.evaluation.evaluate")  # the module (the package exports a function)
    train, heldout = data_files
    loaded = []
    real = evaluate.benchmark_records

    def counting(name, **kwargs):  # the real loader, counted
        loaded.append(name)
        return real(name, **kwargs)

    monkeypatch.setattr(evaluate, "benchmark_records", counting)
    out = tmp_path / "study"
    out.mkdir()
    (out / "other.txt").write_text("not a study")  # stops the study after its checks, before any model loads
    assert main(tiny_study_args(tiny_model_dir, train, heldout, out)) == 2
    assert "is not empty" in one_error(capsys)
    assert loaded == [heldout]
