"""`vigor train` rejects bad input with one line, before any model loads; recipes are valid configs."""

import pathlib
import subprocess
import sys

import pytest
import yaml

from vigor.cli import main

RECIPES = pathlib.Path(__file__).resolve().parents[2] / "recipes"


@pytest.fixture
def base(tiny_model_dir, prompts_file, tmp_path):
    return ["train", "--model", tiny_model_dir, "--dataset", prompts_file, "--output-dir", str(tmp_path / "out"),
            "--use-cpu", "true", "--max-completion-length", "8"]


def error_of(argv, capsys, monkeypatch):
    import transformers

    def no_loading(*args, **kwargs):
        raise AssertionError("the model was loaded before the input was checked")
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", no_loading)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("vigor train: error: ") and "\n" not in err, err
    return err


@pytest.mark.parametrize("extra, message", [
    (["--no-such-field", "1"], "unknown option --no-such-field: not a field of VigorGRPOConfig"),
    (["--num-generations", "1"], "num_generations must be >= 2"),
    (["--num-generations", "3", "--per-device-train-batch-size", "4"],
     "generation_batch_size (4) must be divisible by num_generations (3)"),
    (["--prompt-column", "question"], "no 'question' field"),
    (["--reward", "vigor,verifier"], "unknown reward 'verifier'"),
    (["--reward", "vigor,missing_rewards.py:fmt:0.5"], "no such file 'missing_rewards.py'"),
    (["--reward", "vigor,no_such_package_xyz.rewards:fmt"], "cannot import module 'no_such_package_xyz.rewards'"),
    (["--log-completions", "-1"], "log_completions_every must be >= 0"),
    (["--beta", "much"], "--beta: invalid float value: 'much'"),
    (["--shaping", "softmax"], "shaping must be one of"),
    (["--resume"], "--resume: no checkpoint-N folder in"),
    (["--resume-from-checkpoint", "true"], "--resume: no checkpoint-N folder in"),
    (["--resume_from_checkpoint", "no-such-run/checkpoint-2"],
     "--resume-from-checkpoint no-such-run/checkpoint-2: not a checkpoint folder"),
    (["--fp16", "true"], "fp16: float16 mixed precision needs a GPU"),
    (["--dataset_name", "x.jsonl"], "unknown option --dataset_name: not a field of VigorGRPOConfig "
                                    "(TRL's dataset_name is dataset here)"),
    (["--no-progress"], "unknown option --no-progress: not a field of VigorGRPOConfig (vigor demo, analyze and "
                        "eval's option; here TRL's --disable-tqdm true)"),
    (["--learning-rat", "1e-5"], "unknown option --learning-rat: not a field of VigorGRPOConfig "
                                 "(did you mean learning_rate?)"),
    (["--reward_weights", "1.0"], "--reward-weights: vigor takes the weights in --reward"),
    (["--eval_strategy", "steps", "--eval_steps", "5"], "--eval-strategy steps: vigor evaluates held-out benchmarks"),
    (["--report-to", "tensorbord"], "--report-to tensorbord: unknown, expected none, all or one of"),
])
def test_bad_options(base, extra, message, capsys, monkeypatch):
    assert message in error_of(base + extra, capsys, monkeypatch)


def test_bad_model_and_data(base, tmp_path, capsys, monkeypatch):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with_dataset = lambda d: [*base[:3], "--dataset", d, *base[5:]]  # noqa: E731
    assert "no prompts" in error_of(with_dataset(str(empty)), capsys, monkeypatch)
    assert "no such file" in error_of(with_dataset(str(tmp_path / "missing.jsonl")), capsys, monkeypatch)
    no_model = [base[0], "--model", str(tmp_path / "no-model"), *base[3:]]
    assert "no such folder" in error_of(no_model, capsys, monkeypatch)
    not_a_model = tmp_path / "not-a-model"
    not_a_model.mkdir()
    assert "no config.json" in error_of([base[0], "--model", str(not_a_model), *base[3:]], capsys, monkeypatch)
    recipe = tmp_path / "r.yaml"
    recipe.write_text("reward: vigor\nnum_generatons: 4\ndtype: bfloat16\nzzz: 1\n")
    assert "unknown config field(s): dtype (use model_dtype), num_generatons (did you mean num_generations?), zzz" \
        in error_of(base + ["--config", str(recipe)], capsys, monkeypatch)
    assert "--output-dir is required" in error_of(base[:5], capsys, monkeypatch)


def test_bad_reward_functions(base, tmp_path, capsys, monkeypatch):
    path = tmp_path / "my_rewards.py"
    path.write_text("def fmt(completions):\n    return [0.0] * len(completions)\n")
    assert "wrong signature (completions)" in error_of(base + ["--reward", f"vigor,{path}:fmt"], capsys, monkeypatch)
    assert "has no function 'other'" in error_of(base + ["--reward", f"vigor,{path}:other"], capsys, monkeypatch)


def test_help_is_fast_and_lists_the_main_options():
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "vigor.cli", "train", "--help"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    for option in ("--model", "--dataset", "--reward", "--output-dir", "--config", "--max-steps",
                   "--num-generations", "--resume", "--log-completions"):
        assert option in out.stdout
    assert "trl" not in {line.split("|")[-1].strip().split(".")[0] for line in out.stderr.splitlines()}


@pytest.mark.parametrize("name", ["cpu-smollm2.yaml", "qwen2.5-3b-math.yaml", "qwen2.5-7b-math.yaml"])
def test_recipes_are_config_fields(name):
    import dataclasses

    from vigor.training import VigorGRPOConfig

    values = yaml.safe_load((RECIPES / name).read_text())
    fields = {f.name for f in dataclasses.fields(VigorGRPOConfig)}
    assert set(values) <= fields, set(values) - fields
    if name.startswith("qwen"):  # the reference runs
        assert values["num_generations"] == 8 and values["max_prompt_length"] == 512
        prompts_per_round = values["per_device_train_batch_size"] * values["gradient_accumulation_steps"] * \
            {"qwen2.5-3b-math.yaml": 3, "qwen2.5-7b-math.yaml": 7}[name] // 8
        assert (prompts_per_round, values["max_completion_length"], values["num_iterations"]) == \
            {"qwen2.5-3b-math.yaml": (48, 1024, 1), "qwen2.5-7b-math.yaml": (112, 3072, 3)}[name]
        assert values["use_vllm"] and values["vllm_mode"] == "server"
    else:
        config = VigorGRPOConfig(output_dir="/tmp/unused", **values)
        assert config.use_cpu and config.reward.startswith("vigor")


def test_defaults_are_the_reference_recipe():
    from vigor.training import VigorGRPOConfig

    c = VigorGRPOConfig(output_dir="/tmp/unused", use_cpu=True)
    assert (c.beta, c.loss_type, c.epsilon, c.temperature, c.top_k, c.top_p, c.num_generations) == \
        (0.01, "bnpo", 0.2, 0.9, 50, 1.0, 8)
    assert c.use_bias_correction_kl is False  # plain k3, as the reference (test_reference_semantics checks the loss)
    assert (c.learning_rate, c.lr_scheduler_type, c.warmup_steps, c.weight_decay, c.max_grad_norm, c.seed) == \
        (2e-6, "cosine", 0.1, 0.0, 1.0, 7)
    assert (c.reward, c.shaping, c.truncated, c.length_correction, c.reward_temperature) == \
        ("vigor", "rank", "keep", True, 1.0)
    assert c.report_to == ["tensorboard"] and c.scale_rewards == "group"


def test_model_without_value_means_the_default_and_precedence(tmp_path):
    from vigor.cli import build_parser
    from vigor.training.cli import build_config

    recipe = tmp_path / "r.yaml"
    recipe.write_text("reward: self_certainty\nbeta: 0.5\nnum_generations: 4\nuse_cpu: true\n")
    args = build_parser().parse_args(["train", "--model", "--dataset", "d.jsonl", "--output-dir", str(tmp_path),
                                      "--config", str(recipe), "--beta", "0.25", "--per-device-train-batch-size", "4",
                                      "--log-completions", "5"])
    config = build_config(args)
    assert config.log_completions_every == 5
    assert config.model_name_or_path == "default"
    assert (config.reward, config.beta, config.num_generations) == ("self_certainty", 0.25, 4)


def test_resume_from_checkpoint_continues_from_that_checkpoint(tiny_model_dir, prompts_file, tmp_path):
    """TRL's `--resume-from-checkpoint DIR` (a TrainingArguments field) is honoured, not silently ignored:
    a run in a new folder resumed from checkpoint-1 of another run trains only step 2."""
    from tests.training.training_helpers import as_cli_args, read_jsonl, tiny_run_options

    first = tiny_run_options(tiny_model_dir, prompts_file, tmp_path / "first", max_steps=2, save_strategy="steps",
                             save_steps=1)
    assert main(["train", *as_cli_args(first)]) == 0
    second = dict(first, output_dir=str(tmp_path / "second"))
    assert main(["train", *as_cli_args(second), "--resume_from_checkpoint", str(tmp_path / "first" / "checkpoint-1")]) == 0
    assert [r["step"] for r in read_jsonl(tmp_path / "first" / "metrics.jsonl")] == [1, 2]
    assert [r["step"] for r in read_jsonl(tmp_path / "second" / "metrics.jsonl")] == [2]


def test_a_reporter_that_is_not_installed_is_an_error_before_the_model_loads(base, capsys, monkeypatch):
    """transformers raises only when it builds the callback, after the model has loaded."""
    from transformers.integrations import get_available_reporting_integrations

    missing = next(name for name in ("wandb", "mlflow", "comet_ml", "clearml", "swanlab")
                   if name not in get_available_reporting_integrations())
    message = error_of(base + ["--report_to", missing], capsys, monkeypatch)
    assert f"--report-to {missing}: the {missing} package is not installed here" in message


def test_help_fields_lists_every_field_with_vigors_defaults(capsys):
    import dataclasses

    from vigor.training import VigorGRPOConfig

    with pytest.raises(SystemExit) as exit_:
        main(["train", "--help-fields"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for f in dataclasses.fields(VigorGRPOConfig):
        if f.init:
            assert f"--{f.name.replace('_', '-')}" in out, f.name
    assert "--collapse-entropy-fraction (default 0.3) Warn when entropy falls below" in out
    assert "--learning-rate (default 2e-06)" in out and "--beta (default 0.01)" in out


def test_trls_gradient_checkpointing_deprecations_are_not_printed(tiny_model_dir, prompts_file, tmp_path):
    import warnings

    from tests.training.training_helpers import as_cli_args, tiny_run_options
    from vigor.cli import main

    options = tiny_run_options(tiny_model_dir, prompts_file, tmp_path / "out", gradient_checkpointing=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["train", *as_cli_args(options)]) == 0
    assert not [str(w.message) for w in caught if "gradient_checkpointing" in str(w.message)]
