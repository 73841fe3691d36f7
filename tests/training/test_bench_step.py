"""`vigor bench step` on the CPU with a tiny model: both runs complete, the phases add up to the
step, the table shows both rewards with their ratio; bad input is one line before any model loads."""

import json

import pytest

from tests.training.training_helpers import as_cli_args

TINY = dict(use_cpu=True, per_device_train_batch_size=4, num_generations=4, max_completion_length=8,
            system_prompt="", disable_tqdm=True, monitor_accuracy=False)


@pytest.mark.slow  # two training subprocesses: 11 s on the quiet 2-core machine, 48-75 s loaded
def test_bench_step_times_both_rewards_by_phase(tiny_model_dir, prompts_file, tmp_path, capsys):
    from vigor.cli import main
    from vigor.training.bench import PHASES, summarise

    out = tmp_path / "step.json"
    assert main(["bench", "step", "--model", tiny_model_dir, "--dataset", prompts_file, "--steps", "2",
                 "--warmup-steps", "1", "--json", str(out), *as_cli_args(TINY)]) == 0
    results = json.loads(out.read_text())
    assert results["measured"]["reward"] == "vigor" and results["baseline"]["reward"] == "random"
    for run in results.values():
        assert len(run["steps"]) == 2 and run["peak_memory_mib"] > 0
        for step in run["steps"]:
            assert all(step[p] >= 0 for p in PHASES), step
            assert sum(step[p] for p in PHASES) == pytest.approx(step["step"], rel=1e-9)
            assert step["generation"] > 0 and step["reward"] > 0 and step["policy update"] > 0
    table = capsys.readouterr().out
    m, b = summarise(results["measured"]["steps"]), summarise(results["baseline"]["steps"])
    assert f"{'reward':<16}" in table and f"{m['reward'] / b['reward']:.2f}" in table
    assert "vigor reward / policy update:" in table


@pytest.mark.parametrize("argv, message", [
    (["--steps", "0"], "--steps must be >= 1"),
    (["--no-such-field", "1"], "unknown option --no-such-field"),
    (["--reward", "nonsense"], "nonsense"),
])
def test_bench_step_bad_input_is_one_line(tiny_model_dir, prompts_file, capsys, argv, message):
    from vigor.cli import main

    assert main(["bench", "step", "--model", tiny_model_dir, "--dataset", prompts_file, *argv]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("vigor bench")]
    assert len(errors) == 1 and message in errors[0], errors


@pytest.mark.parametrize("recipe, dataset, max_samples", [
    ("", "gsm_symbolic", 256),                        # nothing given: 256 procedural problems
    ("max_samples: 10\n", "gsm_symbolic", 10),        # the recipe's count, of the default problems
    ("dataset: PROMPTS\n", "PROMPTS", None),          # the recipe's data, all of it
])
def test_bench_step_honours_the_recipe(prompts_file, tmp_path, recipe, dataset, max_samples):
    """The benchmarked runs' configs, as `vigor bench step` builds them (no model loads): a dataset or
    max_samples set in the --config recipe is not overridden by the command's defaults."""
    from vigor.cli import build_parser
    from vigor.training.bench import run_config, run_overrides
    from vigor.training.configure import given_fields

    path = tmp_path / "recipe.yaml"
    path.write_text(recipe.replace("PROMPTS", prompts_file) + "beta: 0.0\n")
    args = build_parser().parse_args(["bench", "step", "--config", str(path), "--use-cpu", "true"])
    config = run_config(args, run_overrides(args, given_fields(args), "vigor", str(tmp_path / "run")))
    assert (config.dataset, config.max_samples, config.beta) == (dataset.replace("PROMPTS", prompts_file),
                                                                 max_samples, 0.0)
