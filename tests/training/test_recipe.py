"""Departures from the reference recipe: the reference's own settings give none, and each setting changed alone
gives exactly one line naming it (checked for every entry, with fresh random values), in the run's config
fields as `study.json` records them and as a VigorGRPOConfig holds them."""

import random

import pytest

from vigor.training.recipe import departures, departures_markdown

REFERENCE_RUN = dict(model_name_or_path="Qwen/Qwen2.5-7B", dataset="DigitalLearningGmbH/MATH-lighteval",
                     learning_rate=2e-6, lr_scheduler_type="cosine", warmup_steps=0.1, max_steps=156, beta=0.01,
                     per_device_train_batch_size=8, gradient_accumulation_steps=112, num_generations=8,
                     max_completion_length=3072, temperature=0.9, epsilon=0.2, num_iterations=3)

CHANGES = {  # what the line names -> a change of that setting alone, drawn fresh
    "model": lambda r: {"model_name_or_path": random.choice([None, "HuggingFaceTB/SmolLM2-135M"])},
    "data": lambda r: {"dataset": random.choice(["gsm8k", "reasoning-gym:single_digit_add_sub"])},
    "learning rate": lambda r: {"learning_rate": random.choice([1e-5, 1e-6, 3e-6])},
    "warm-up": lambda r: {"warmup_steps": random.choice([0.0, 0.05, 3])},
    "beta (KL)": lambda r: {"beta": random.choice([0.0, 0.04])},
    "prompts per step": lambda r: {"gradient_accumulation_steps": random.choice([1, 2, 100])},
    "G": lambda r: {"num_generations": 4, "per_device_train_batch_size": 4},  # the same prompts per step
    "length cap": lambda r: {"max_completion_length": random.choice([32, 256, 2048])},
    "temperature": lambda r: {"temperature": random.choice([0.7, 1.0])},
    "PPO clip": lambda r: {"epsilon": random.choice([0.1, 0.28])},
    "updates per round": lambda r: {"num_iterations": 2},
}


def test_the_reference_recipe_departs_from_nothing():
    assert departures(REFERENCE_RUN) == []
    assert departures({**REFERENCE_RUN, "model_name_or_path": "Qwen/Qwen2.5-3B", "max_completion_length": 1024,
                       "gradient_accumulation_steps": 48, "num_iterations": 1,
                       "dataset": "/data/math_hendrycks/train.jsonl"}) == []  # the 3B run, a local MATH copy


@pytest.mark.parametrize("what", sorted(CHANGES))
def test_each_setting_changed_alone_is_one_line_naming_it(what):
    run = {**REFERENCE_RUN, **CHANGES[what](REFERENCE_RUN)}
    lines = departures(run)
    assert [line.split(":")[0] for line in lines] == [what], lines


def test_a_real_config_and_the_markdown():
    from vigor.training import VigorGRPOConfig

    config = VigorGRPOConfig(output_dir="unused", use_cpu=True, dataset="gsm8k", max_completion_length=1024)
    named = {line.split(":")[0] for line in departures(config.to_dict())}
    assert named == {"model", "data", "prompts per step"}  # vigor's defaults are the recipe's otherwise
    text = "\n".join(departures_markdown(config.to_dict(), per_arm={"vigor+learning_rate=1e-5": {"learning_rate": 1e-5}}))
    assert "## Departures from the reference recipe" in text and "arm `vigor+learning_rate=1e-5`: departs further: " \
        "learning rate" in text
