"""`vigor demo`: settings, fail-fast errors, and shortened runs end to end (the real default model
in CI; a tiny model for the LoRA + other-reward path)."""

import json

import pytest
import torch
from safetensors import safe_open

from vigor.cli import main as vigor_main
from vigor.demo import PRESETS, preset_settings
from vigor.models import default_model_dir


def test_presets_are_valid_and_overrides_apply():
    for name in PRESETS:
        preset_settings(name).check()
    s = preset_settings("ci", steps=5, reward="random", lora=None)
    assert (s.steps, s.reward, s.lora, s.num_generations) == (5, "random", False, 4)
    with pytest.raises(ValueError, match="--preset"):
        preset_settings("huge")
    with pytest.raises(ValueError, match="--num-generations must be >= 2"):
        preset_settings("ci", num_generations=1).check()
    with pytest.raises(ValueError, match="--train-size 1 is smaller"):
        preset_settings("ci", train_size=1, prompts_per_step=2).check()


@pytest.mark.parametrize("extra, message", [
    (["--steps", "0"], "--steps must be >= 1"),
    (["-G", "1"], "--num-generations must be >= 2"),
    (["--reward", "vigor,nonsense"], "unknown reward 'nonsense'"),
    (["--model", "./no/such/model"], "no such folder"),
    (["--learning-rate", "-1"], "--learning-rate must be > 0"),
])
def test_bad_input_fails_fast_with_one_line(extra, message, tmp_path, capsys):
    assert vigor_main(["demo", "--preset", "ci", "--output-dir", str(tmp_path / "run")] + extra) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert not (tmp_path / "run").exists()


def test_refuses_to_overwrite_a_run(tmp_path, capsys):
    (tmp_path / "report.md").write_text("an earlier run")
    assert vigor_main(["demo", "--preset", "ci", "--output-dir", str(tmp_path)]) == 2
    assert "--overwrite" in capsys.readouterr().err


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def check_run_folder(run, *, steps, eval_size):
    for name in ("report.md", "demo.json", "metrics.jsonl", "rewards.jsonl", "model/config.json",
                 "data/train.jsonl", "data/heldout.jsonl", "reward.png", "entropy.png", "completion_length.png",
                 "gold_accuracy.png", "grad_norm.png", "gradnorm_vs_correct.png"):
        assert (run / name).is_file(), name
    assert list((run / "tensorboard").rglob("events.out.tfevents*")), "no TensorBoard events"
    result = json.loads((run / "demo.json").read_text())
    steps_logged = sorted({r["step"] for r in read_jsonl(run / "metrics.jsonl") if "entropy" in r})
    assert steps_logged == list(range(1, steps + 1))
    # the before/after numbers are those of the per-problem verdict files
    for key, folder in (("before", "eval_before"), ("after", "eval_after")):
        rows = read_jsonl(next((run / folder).glob("*.samples.jsonl")))
        assert len(rows) == eval_size
        assert result[key]["n"] == eval_size and result[key]["correct"] == sum(r["correct"] for r in rows)
    heldout = {r["problem"] for r in read_jsonl(run / "data" / "heldout.jsonl")}
    assert not heldout & {r["problem"] for r in read_jsonl(run / "data" / "train.jsonl")}
    report = (run / "report.md").read_text()
    assert "| before training |" in report and "| after training |" in report and "McNemar" in report
    return result


@pytest.mark.slow
def test_ci_demo_on_the_default_model(tmp_path, capsys):
    run = tmp_path / "run"
    assert vigor_main(["demo", "--preset", "ci", "--output-dir", str(run), "--no-progress"]) == 0
    result = check_run_folder(run, steps=2, eval_size=4)
    assert result["settings"]["reward"] == "vigor" and not result["settings"]["lora"]
    assert "Held-out accuracy" in capsys.readouterr().out
    # training really changed the weights (all of them are trained: check one attention matrix)
    key = "model.layers.0.self_attn.q_proj.weight"
    with safe_open(str(run / "model" / "model.safetensors"), "pt") as f, \
            safe_open(str(default_model_dir() / "model.safetensors"), "pt") as g:
        assert not torch.equal(f.get_tensor(key), g.get_tensor(key))


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    from vigor.tiny import char_tokenizer, tiny_causal_lm

    tok = char_tokenizer()
    model = tiny_causal_lm("llama", vocab_size=len(tok), max_positions=4096, seed=1)
    folder = tmp_path_factory.mktemp("tiny_model")
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def test_lora_demo_with_another_reward_on_a_tiny_model(tiny_model_dir, tmp_path):
    run = tmp_path / "run"
    argv = ["demo", "--preset", "ci", "--model", str(tiny_model_dir), "--lora", "--reward", "self_certainty",
            "--learning-rate", "1e-3", "--output-dir", str(run), "--no-progress"]
    assert vigor_main(argv) == 0
    result = check_run_folder(run, steps=2, eval_size=4)
    assert result["settings"]["reward"] == "self_certainty" and result["settings"]["lora"]
    assert result["settings"]["lora_learning_rate"] == 1e-3
    # the adapters are merged: model/ is a plain model folder, the adapters are kept beside it
    assert not (run / "model" / "adapter_config.json").exists()
    assert (run / "lora_adapters" / "adapter_config.json").exists()
    metrics = read_jsonl(run / "metrics.jsonl")
    assert any("rewards/self_certainty/mean" in r for r in metrics)
    assert any("rewards/vigor/grad_norm_corrected_mean" in r for r in metrics)  # the weight-0 monitor


def test_unknown_task_fails_before_any_model_work(tmp_path, capsys):
    assert vigor_main(["demo", "--preset", "ci", "--task", "no_such_task", "--output-dir", str(tmp_path)]) == 2
    assert "no_such_task" in capsys.readouterr().err
    assert not (tmp_path / "eval_before").exists()


def test_slow_steps_are_reported_once_with_a_cause(tiny_model_dir, tmp_path, capsys):
    from vigor.demo.run import run_demo

    lines = []
    settings = preset_settings("ci", model=str(tiny_model_dir), step_budget_s=1e-6)
    result = run_demo(settings, tmp_path / "run", progress=False, log=lines.append)
    slow = [line for line in lines if line.startswith("warning: step")]
    assert len(slow) == 1 and "over 3x this preset's budget" in slow[0] and "likely cause: " in slow[0], lines
    # the run banner once (the trainer's and the evaluations' repeats are not shown), then one short line per step
    printed = capsys.readouterr()
    banner = [line for line in lines + (printed.out + printed.err).splitlines() if line.startswith("vigor: device")]
    assert len(banner) == 1 and "weights float32, autocast none, torch CPU capability" in banner[0], banner
    steps = [line for line in lines if line.startswith("step ")]
    assert [line.split(":")[0] for line in steps] == ["step 1/2", "step 2/2"], lines
    assert "reward vigor " in steps[0] and "gold accuracy " in steps[0] and len(steps[0]) < 120, steps
    assert "{'loss'" not in printed.out + printed.err  # transformers' whole log records are not printed
    # the weight-0 monitors of every intrinsic reward were scored, so the report can compare them
    assert set(result["premise"]) == {"vigor", "vigor_uncorrected", "self_certainty", "neg_entropy", "logprob"}


def test_no_progress_hides_the_training_bar_too(tiny_model_dir, tmp_path):
    """--no-progress reaches the trainer (its tqdm bar), not only the evaluation's bars."""
    from vigor.demo.run import training_config

    settings = preset_settings("ci", model=str(tiny_model_dir))
    args = (settings, str(tiny_model_dir), tmp_path / "train.jsonl", tmp_path)
    assert training_config(*args, progress=False).disable_tqdm
    assert not training_config(*args).disable_tqdm


def test_a_folder_that_is_not_a_demo_run_is_refused(tmp_path, capsys):
    """A vigor train run in --output-dir would lose its metrics.jsonl to the demo's: refused, even with --overwrite."""
    run = tmp_path / "train-run"
    (run / "checkpoint-2").mkdir(parents=True)
    (run / "metrics.jsonl").write_text('{"step": 2}\n')
    for extra in ([], ["--overwrite"]):
        assert vigor_main(["demo", "--preset", "ci", "--output-dir", str(run), *extra]) == 2
        assert "holds checkpoint-2, which a demo run does not write" in capsys.readouterr().err
    assert sorted(p.name for p in run.iterdir()) == ["checkpoint-2", "metrics.jsonl"]
