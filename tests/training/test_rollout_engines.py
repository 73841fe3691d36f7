"""Every rollout engine vigor offers produces plain `generate`'s greedy tokens (exactness):
a static KV cache, the static cache under torch.compile (`compile_generation`) and TRL's paged,
continuously batched `generate_batch` (`use_transformers_continuous_batching`, alias
`use_transformers_paged`). Each goes through VigorGRPOTrainer's real rollout path (`_generate`)
on a tiny random model on the CPU. Speed is a GPU question (scripts/gpu_check.sh); plain
`generate` stays the default until a GPU measurement says otherwise."""

import random

import pytest

from tests.training.training_helpers import tiny_run_options

ENGINES = {
    "static_cache": dict(cache_implementation="static"),
    "continuous_batching": dict(use_transformers_continuous_batching=True),
}


def greedy_completions(model_dir, data, out, prompts, **fields):
    from datasets import Dataset

    from vigor.models import load_model_and_tokenizer
    from vigor.training import VigorGRPOConfig
    from vigor.training.trainer import VigorGRPOTrainer

    options = tiny_run_options(model_dir, data, out, max_completion_length=16, per_device_train_batch_size=4,
                               num_generations=2, generation_kwargs={"do_sample": False}, bf16=False, **fields)
    config = VigorGRPOConfig(**options)
    model, tokenizer = load_model_and_tokenizer(model_dir)
    trainer = VigorGRPOTrainer(model.train(), args=config, train_dataset=Dataset.from_list([{"prompt": p} for p in prompts]),
                               processing_class=tokenizer)
    prompt_ids, completion_ids = trainer._generate(prompts)[:2]
    assert prompt_ids == [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    return completion_ids


@pytest.fixture(scope="module")
def peaked_model_dir(tmp_path_factory):
    """A tiny random model with a large initialisation: its next-token logits are far apart, so
    greedy decoding does not flip on float rounding (kernels differ in summation order)."""
    from vigor.tiny import save_tiny_model

    return save_tiny_model(tmp_path_factory.mktemp("peaked-model"), initializer_range=0.5)


@pytest.fixture(scope="module")
def prompts():
    seed = random.randrange(2**31)
    rng = random.Random(seed)
    texts = ["".join(rng.choice("0123456789+= abc") for _ in range(rng.randint(2, 12))) for _ in range(4)]
    return seed, texts


@pytest.fixture(scope="module")
def plain(peaked_model_dir, prompts_file, tmp_path_factory, prompts):
    return greedy_completions(peaked_model_dir, prompts_file, tmp_path_factory.mktemp("plain"), prompts[1])


@pytest.mark.slow  # continuous batching: 4 s on the quiet 2-core machine, 25-47 s when it was loaded
@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_engine_gives_plain_greedy_tokens(engine, plain, peaked_model_dir, prompts_file, tmp_path, prompts):
    got = greedy_completions(peaked_model_dir, prompts_file, tmp_path, prompts[1], **ENGINES[engine])
    assert got == plain, f"seed {prompts[0]}, prompts {prompts[1]!r}"
    assert any(len(c) > 1 for c in got)  # something was generated


@pytest.mark.slow  # torch.compile: 3 s with a warm inductor cache, 23-28 s cold
def test_compiled_generation_gives_plain_greedy_tokens(plain, peaked_model_dir, prompts_file, tmp_path, prompts):
    got = greedy_completions(peaked_model_dir, prompts_file, tmp_path, prompts[1], cache_implementation="static",
                             compile_generation=True)
    assert got == plain, f"seed {prompts[0]}, prompts {prompts[1]!r}"


def test_continuous_batching_refuses_a_float32_policy_under_bf16(prompts_file, tmp_path):
    from vigor.training import VigorGRPOConfig

    # TRL 1.16 casts the policy to bf16 in place before generate_batch and never casts it back
    with pytest.raises(ValueError, match="use_transformers_continuous_batching with bf16 casts the policy"):
        VigorGRPOConfig(**tiny_run_options("unused", prompts_file, tmp_path, bf16=True,
                                           use_transformers_continuous_batching=True))
    VigorGRPOConfig(**tiny_run_options("unused", prompts_file, tmp_path, bf16=True, model_dtype="bfloat16",
                                       use_transformers_continuous_batching=True))


def test_compile_generation_needs_a_static_cache(prompts_file, tmp_path):
    from vigor.training import VigorGRPOConfig

    with pytest.raises(ValueError, match="compile_generation compiles plain generate with a static cache"):
        VigorGRPOConfig(**tiny_run_options("unused", prompts_file, tmp_path, compile_generation=True))
