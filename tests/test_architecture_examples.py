"""The worked examples of docs/architecture.md, each one file outside the package (docs/examples/), run end to
end through the registry it extends: a benchmark scored by `vigor eval`, a reward trained on by `vigor train`, a
gradient-norm rule used by the engine. The doc shows each file as it is (checked here), so the two cannot drift.
"""

import importlib.util
import json
import math
import re
from pathlib import Path

import pytest
import torch

from tests.gradnorm.test_engine import VOCAB, random_batch, rel_err
from tests.training.training_helpers import as_cli_args, read_jsonl, tiny_run_options
from vigor.cli import main

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"
EXAMPLES = ROOT / "docs" / "examples"
SHOWN = re.compile(r"^`(docs/examples/[\w.]+)`:\n\n```\w*\n(.*?)^```$", re.S | re.M)  # a file's name, then its text


def test_the_doc_shows_each_example_file_as_it_is():
    shown = dict(SHOWN.findall(DOC.read_text()))
    assert set(shown) == {"docs/examples/my_bench.py", "docs/examples/my_reward.py", "docs/examples/my_rule.py"}
    for path, text in shown.items():
        assert (ROOT / path).read_text() == text, f"{path} and its copy in {DOC.name} differ"
    for path in EXAMPLES.iterdir():  # the data files are pointed to by name
        assert f"docs/examples/{path.name}" in DOC.read_text(), path.name


def test_the_doc_links_resolve_and_the_readme_links_the_doc():
    for target in re.findall(r"\]\(([^)#:]+)\)", DOC.read_text()):
        assert (DOC.parent / target).exists(), target
    assert "docs/architecture.md" in (ROOT / "README.md").read_text()


# ---------------------------------------------------------------- a benchmark
@pytest.fixture
def benchmark_registry_restored():
    from vigor.data import benchmark_registry as registry

    before, loaded = dict(registry.REGISTRY), dict(registry._FROM_FILES)
    yield registry
    registry.REGISTRY.clear()
    registry.REGISTRY.update(before)
    registry._FROM_FILES.clear()
    registry._FROM_FILES.update(loaded)


def test_the_example_benchmark_scores_its_predictions(benchmark_registry_restored, tmp_path, monkeypatch):
    """`vigor eval --benchmark docs/examples/my_bench.py:MyBench --predictions ...`, as the doc writes it."""
    monkeypatch.chdir(ROOT)
    spec = "docs/examples/my_bench.py:MyBench"
    out = tmp_path / "out"
    assert main(["eval", "--benchmark", spec, "--predictions", "docs/examples/my_bench_predictions.jsonl",
                 "--output-dir", str(out)]) == 0
    # by hand: km boxed 3000 (right); h says 120 but unboxed (wrong: answer_style "boxed"); kg boxed 1500 (right);
    # ft boxed 12, not 24 (wrong); day boxed 86400 (right)
    by_hand = {"km": True, "h": False, "kg": True, "ft": False, "day": True}
    samples = [json.loads(line) for line in (out / "my_bench.samples.jsonl").read_text().splitlines()]
    assert {s["id"]: s["correct"] for s in samples} == by_hand
    assert [s["gold"] for s in samples] == ["3000", "120", "1500", "24", "86400"]  # read by the file's own reader
    assert samples[0]["prompt"] == "Convert 3 km to metres. Give the number alone."
    summary = json.loads((out / "summary.json").read_text())[spec]
    assert summary["n"] == 5 and summary["accuracy"] == pytest.approx(3 / 5)
    assert benchmark_registry_restored.REGISTRY["unit-conversions"].grader == "math"


# ---------------------------------------------------------------- a reward
@pytest.fixture
def reward_registry_restored():
    from vigor.rewards import REWARDS

    before = dict(REWARDS)
    yield REWARDS
    for name in set(REWARDS) - set(before):
        del REWARDS[name]


def test_the_example_reward_trains_and_logs_what_it_computes(reward_registry_restored, tmp_path, monkeypatch):
    """`vigor train --reward docs/examples/my_reward.py:MyReward+scale=2` for two steps on the tiny model: each
    logged completion's value is the class's score of that completion, and metrics.jsonl's mean is their mean."""
    from vigor.rewards import build_rollouts
    from vigor.tiny import char_tokenizer, save_tiny_model

    data = tmp_path / "sums.jsonl"
    data.write_text("".join(json.dumps({"problem": f"{i}+{i}=", "answer": str(2 * i)}) + "\n" for i in range(8)))
    model = save_tiny_model(tmp_path / "tiny")
    out = tmp_path / "run"
    monkeypatch.chdir(ROOT)
    options = tiny_run_options(model, str(data), out, max_steps=2, max_completion_length=12)
    assert main(["train", *as_cli_args(options), "--reward", "docs/examples/my_reward.py:MyReward+scale=2",
                 "--log-completions", "1"]) == 0

    reward = reward_registry_restored["digit_share"](scale="2")  # registered by loading the file
    assert reward.scale == 2.0
    rows = read_jsonl(out / "completions.jsonl")
    metrics = read_jsonl(out / "metrics.jsonl")
    assert [m["step"] for m in metrics] == [1, 2] and sorted({r["step"] for r in rows}) == [0, 1]
    tokenizer = char_tokenizer()
    seen = []
    for record in metrics:
        step_rows = [r for r in rows if r["step"] == record["step"] - 1]  # sampled before that optimizer step
        texts = [r["completion"] for r in step_rows]
        ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
        rollouts = build_rollouts([[1]] * len(ids), ids, eos_token_ids=tokenizer.eos_token_id,
                                  pad_token_id=tokenizer.pad_token_id, completions=texts)
        expected = reward.score(rollouts)
        by_hand = torch.tensor([2 * sum(c.isdigit() for c in t) / max(len(t), 1) for t in texts], dtype=torch.float64)
        assert torch.equal(expected, by_hand)
        logged = torch.tensor([r["rewards"]["digit_share"] for r in step_rows], dtype=torch.float64)
        assert len(logged) == 4 and torch.allclose(logged, expected, rtol=0, atol=1e-12)
        assert record["rewards/digit_share/mean"] == pytest.approx(expected.mean().item(), abs=1e-9)
        assert math.isfinite(record["rewards/digit_share/std"])
        seen += logged.tolist()
    assert max(seen) > 0  # the check above compared real values (the run is seeded: config seed 7)


# ---------------------------------------------------------------- a gradient-norm rule
@pytest.fixture
def example_rule():
    """docs/examples/my_rule.py imported from its path (which registers its rule); unregistered afterwards."""
    from vigor.gradnorm import unregister_rule

    spec = importlib.util.spec_from_file_location("vigor_example_my_rule", EXAMPLES / "my_rule.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    unregister_rule(module.ScaledLinear)


def model_with_scaled_linears(module, scale: float):
    """A tiny float64 Llama whose MLP down-projections are the example's ScaledLinear (with a bias)."""
    from vigor.tiny import tiny_causal_lm

    model = tiny_causal_lm("llama", vocab_size=VOCAB, dtype=torch.float64, seed=int(torch.randint(0, 1000, (1,))))
    for layer in model.model.layers:
        down = layer.mlp.down_proj
        scaled = module.ScaledLinear(down.in_features, down.out_features, scale).double()
        with torch.no_grad():
            scaled.bias.normal_(0, 0.1)
        layer.mlp.down_proj = scaled
    return model


@pytest.mark.parametrize("params", [None, "down_proj"])
def test_the_example_rule_is_used_by_the_engine_and_matches_the_reference(example_rule, params):
    """Against the per-sample reference loop on fresh random inputs, float64, relative 1e-9: over every parameter,
    and over the ScaledLinear parameters alone (where a wrong c^2 could not hide behind the other layers)."""
    from vigor.gradnorm import (
        EngineProfile, GradNormEngine, per_sample_grad_norms, reference_grad_norms, select_parameters)

    scale = float(torch.empty(()).uniform_(0.2, 3.0))
    model = model_with_scaled_linears(example_rule, scale)
    names = select_parameters(model, params) if params else None
    engine = GradNormEngine(model, names)
    scaled_sites = [s for s in engine.sites if isinstance(s.module, example_rule.ScaledLinear)]
    assert len(scaled_sites) == len(model.model.layers)
    assert all(isinstance(s.rule, example_rule.ScaledLinearRule) for s in scaled_sites)

    ids, attention, loss = random_batch(int(torch.randint(0, 2**31 - 1, (1,))))
    profile = EngineProfile()
    fast = engine.compute(ids, attention, loss, profile=profile).norms
    assert profile.rule_modules["scaled_linear"] == len(model.model.layers)
    slow = reference_grad_norms(model, ids, attention, loss, params=names)
    assert bool((slow > 0).all()) and rel_err(fast, slow) <= 1e-9
    assert torch.equal(per_sample_grad_norms(model, ids, attention, loss, params=names), fast)


def test_the_example_rule_refuses_a_learned_scale_and_the_generic_rule_covers_it(example_rule):
    from vigor.gradnorm import GradNormEngine, per_sample_grad_norms, reference_grad_norms
    from vigor.gradnorm.rules import GENERIC

    model = model_with_scaled_linears(example_rule, 1.0)
    learned = model.model.layers[0].mlp.down_proj
    learned.scale = torch.nn.Parameter(torch.tensor(1.7, dtype=torch.float64))
    site = next(s for s in GradNormEngine(model).sites if s.module is learned)
    assert site.rule is GENERIC  # refused by check, covered by the generic rule
    ids, attention, loss = random_batch(int(torch.randint(0, 2**31 - 1, (1,))))
    fast = per_sample_grad_norms(model, ids, attention, loss)
    assert rel_err(fast, reference_grad_norms(model, ids, attention, loss)) <= 1e-9
