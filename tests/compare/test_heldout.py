"""Held-out evaluation during training: --save-best keeps the right model for constructed accuracies,
`vigor train --eval-benchmark` parses and checks its input, `vigor eval --checkpoints`."""

import json
import os

import pytest
import torch

from tests.compare.conftest import tiny_study_args  # noqa: F401  (the fixtures' module)
from vigor.cli import main


def tiny_options(model_dir, train, out, **overrides):
    options = dict(model_name_or_path=model_dir, dataset=train, output_dir=str(out), use_cpu=True,
                   per_device_train_batch_size=4, num_generations=4, max_completion_length=8, max_steps=1,
                   save_strategy="no", report_to="none", system_prompt="", learning_rate=1e-2, warmup_steps=0,
                   gradient_checkpointing=False, disable_tqdm=True, monitor_accuracy=False)
    options.update(overrides)
    return options


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def weights(folder):
    from safetensors.torch import load_file

    return load_file(os.path.join(folder, "model.safetensors"))


@pytest.mark.parametrize("accuracies, best_step", [([0.2, 0.5, 0.4, 0.5], 1), ([0.6, 0.1, 0.2, 0.3], 0),
                                                   ([0.0, 0.1, 0.2, 0.3], 3)])
def test_save_best_keeps_the_best_model(accuracies, best_step, tiny_model_dir, data_files, tmp_path):
    from vigor.training import VigorGRPOConfig, train
    from vigor.training.heldout import HeldoutEvalCallback

    train_file, heldout = data_files
    seen = []

    def constructed(model, tokenizer, config, folder):
        step = int(folder.rsplit("step-", 1)[1])
        seen.append(step)
        return {"eval/x/accuracy": accuracies[step], "eval/mean_accuracy": accuracies[step]}

    out = tmp_path / "run"
    config = VigorGRPOConfig(**tiny_options(tiny_model_dir, train_file, out, max_steps=3, eval_benchmark=[heldout],
                                            eval_steps=1, save_best=True, save_strategy="steps", save_steps=1,
                                            report_to="tensorboard"))
    train(config, callbacks=[HeldoutEvalCallback(config, evaluate_fn=constructed)])
    assert seen == [0, 1, 2, 3]
    logged = {r["step"]: r["eval/x/accuracy"] for r in read_jsonl(out / "metrics.jsonl") if "eval/x/accuracy" in r}
    assert logged == dict(enumerate(accuracies))
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(next(out.rglob("events.out.tfevents*")).parent)).Reload()
    assert {e.step: e.value for e in events.Scalars("eval/x/accuracy")} == pytest.approx(dict(enumerate(accuracies)))
    best = json.loads((out / "best" / "best.json").read_text())
    assert best["step"] == best_step and best["eval/mean_accuracy"] == accuracies[best_step]
    kept = weights(out / "best")
    reference = weights(tiny_model_dir if best_step == 0 else out / f"checkpoint-{best_step}")
    assert kept.keys() == reference.keys()
    assert all(torch.equal(kept[k], reference[k]) for k in kept), f"best/ is not the step-{best_step} model"


def test_a_run_stopped_early_is_evaluated_where_it_stopped(tiny_model_dir, data_files, tmp_path):
    from vigor.training import TrainingStopped, VigorGRPOConfig, train
    from vigor.training.heldout import HeldoutEvalCallback

    train_file, heldout = data_files

    def constructed(model, tokenizer, config, folder):
        step = int(folder.rsplit("step-", 1)[1])
        return {"eval/x/accuracy": step / 10, "eval/mean_accuracy": step / 10}

    out = tmp_path / "run"
    config = VigorGRPOConfig(**tiny_options(tiny_model_dir, train_file, out, max_steps=3, eval_benchmark=[heldout],
                                            eval_steps=2, collapse_max_length=0.5, collapse_stop=True))
    with pytest.raises(TrainingStopped, match="at step 1"):
        train(config, callbacks=[HeldoutEvalCallback(config, evaluate_fn=constructed)])
    logged = {r["step"]: r["eval/x/accuracy"] for r in read_jsonl(out / "metrics.jsonl") if "eval/x/accuracy" in r}
    assert logged == {0: 0.0, 1: 0.1}


def test_train_cli_parses_and_checks_the_eval_options(tiny_model_dir, data_files, tmp_path, capsys):
    import argparse

    from vigor.training.cli import build_config
    from vigor.training.run import ConfigError, check_before_loading

    train_file, heldout = data_files
    fields = ["--eval-benchmark", heldout, "gsm8k", "--eval-steps", "5", "--eval-max-samples", "3",
              "--eval-samples", "2", "--save-best", "true"]
    args = argparse.Namespace(model=tiny_model_dir, dataset=train_file, reward="vigor", output_dir=str(tmp_path),
                              max_steps=None, num_generations=None, resume=None, config=None, field_options=fields)
    config = build_config(args)
    assert (config.eval_benchmark, config.eval_steps, config.eval_max_samples, config.eval_samples,
            config.save_best) == ([heldout, "gsm8k"], 5, 3, 2, True)
    config.eval_benchmark = [heldout, "no_such_set"]
    with pytest.raises(ConfigError, match="no_such_set"):
        check_before_loading(config)
    code = main(["train", "--model", tiny_model_dir, "--dataset", train_file, "--output-dir", str(tmp_path / "o"),
                 "--save-best", "true"])
    assert code == 2 and "save_best needs eval_benchmark" in capsys.readouterr().err


def test_eval_checkpoints_table_and_plot(tiny_model_dir, data_files, tmp_path, capsys):
    from vigor.evaluation.evaluate import EvalSettings, evaluate
    from vigor.training import VigorGRPOConfig, train

    train_file, heldout = data_files
    run = tmp_path / "run"
    train(VigorGRPOConfig(**tiny_options(tiny_model_dir, train_file, run, max_steps=2, save_strategy="steps",
                                         save_steps=1)))
    out = tmp_path / "ckpt-eval"
    assert main(["eval", "--checkpoints", str(run), "--benchmark", heldout, "--max-new-tokens", "4",
                 "--output-dir", str(out)]) == 0
    results = json.loads((out / "checkpoints.json").read_text())
    assert sorted(results) == ["1", "2"]  # the final model is checkpoint-2's weights: not evaluated twice
    for step in (1, 2):
        direct = evaluate(str(run / f"checkpoint-{step}"), [heldout], EvalSettings(max_new_tokens=4, progress=False))
        assert results[str(step)][heldout]["accuracy"] == pytest.approx(direct[heldout]["accuracy"])
        assert f"| {step} | checkpoint-{step} |" in (out / "checkpoints.md").read_text()
    assert (out / "accuracy_by_step.png").stat().st_size > 0
    capsys.readouterr()
    assert main(["eval", "--checkpoints", str(tmp_path), "--benchmark", heldout, "--output-dir", str(out)]) == 2
    assert "no checkpoint-N folder" in capsys.readouterr().err
