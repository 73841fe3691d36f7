"""The compare report's tables by category, on run folders built by hand (as a finished study leaves them,
per-sample files without categories, as before they carried any), against by-hand loops."""

import json

import numpy as np
import pytest

from tests.compare.test_report_stats import loop_bootstrap
from vigor.analysis.reference import permutation_p_reference
from vigor.analysis.stats import mcnemar_exact_p
from vigor.compare.report import summarise, write_report
from vigor.evaluation.evaluate import benchmark_records, file_key

ADD_SUB = "reasoning-gym:single_digit_add_sub"
REWARDS, SEEDS, SAMPLES, STEP = ["vigor", "self_certainty"], [0, 1, 2], 2, 4
IDENTITY = {"eval_max_samples": 30, "eval_seed": 7, "eval_steps": STEP, "max_steps": STEP}


def write_samples(folder, key, outcomes: dict, prompts: dict):
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{key}.samples.jsonl", "w") as f:
        for problem, row in outcomes.items():
            for k, correct in enumerate(row):
                f.write(json.dumps({"id": problem, "sample": k, "prompt": f"<|user|>{prompts[problem]}<|end|>",
                                    "correct": bool(correct)}) + "\n")


def build_study(out, rng, gone_file):
    """A study of two rewards x three seeds on the add/sub held-out set, gsm8k (no categories) and a file that
    has since been deleted; returns {benchmark key: {row: {seed: {problem id: [correct per sample]}}}}."""
    benchmarks = [{"name": ADD_SUB, "kind": "math"}, {"name": "gsm8k", "kind": "math"},
                  {"name": str(gone_file), "kind": "math"}]
    gone_file.write_text("".join(json.dumps({"question": f"{i}?", "answer": str(i)}) + "\n" for i in range(4)))
    outcomes = {}
    for b in benchmarks:
        b["key"] = file_key(b["name"])
        records = benchmark_records(b["name"], limit=IDENTITY["eval_max_samples"], subset_seed=IDENTITY["eval_seed"])[0]
        ids, prompts = [r.id for r in records], {r.id: r.prompt for r in records}
        # each row and seed has its own skill, so the rows differ and the categories differ
        outcomes[b["key"]] = {row: {seed: {i: list(rng.uniform(size=SAMPLES) < rng.uniform(0.2, 0.8)) for i in ids}
                                    for seed in (SEEDS if row != "base model" else [None])}
                              for row in [*REWARDS, "base model"]}
        write_samples(out / "base", b["key"], outcomes[b["key"]]["base model"][None], prompts)
        for reward in REWARDS:
            for seed in SEEDS:
                write_samples(out / reward / f"seed{seed}" / "eval" / f"step-{STEP}", b["key"],
                              outcomes[b["key"]][reward][seed], prompts)
    for reward in REWARDS:
        for seed in SEEDS:
            records = [{"step": step, "eval/mean_accuracy": 0.5, **{f"eval/{b['key']}/accuracy": 0.5 for b in benchmarks}}
                       for step in (0, STEP)]
            (out / reward / f"seed{seed}" / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    gone_file.unlink()
    manifest = {"benchmarks": benchmarks, "baseline": "self_certainty", "identity": IDENTITY, "data_seed": 0}
    return manifest, outcomes


def test_report_by_category_matches_a_count_by_hand(tmp_path, fresh_seed):
    rng = np.random.default_rng(fresh_seed)
    out = tmp_path / "study"
    manifest, outcomes = build_study(out, rng, tmp_path / "gone.jsonl")
    result = summarise(out, manifest, REWARDS, SEEDS)
    key = file_key(ADD_SUB)
    assert set(result["by_category"]) == {key}  # gsm8k has no categories; the deleted file cannot be read
    assert "could not be loaded again" in result["by_category_notes"][file_key(str(tmp_path / "gone.jsonl"))]
    operation = {r.id: ("addition" if "+" in r.prompt else "subtraction")
                 for r in benchmark_records(ADD_SUB, limit=30)[0]}
    by_operation = result["by_category"][key]["operation"]
    assert list(by_operation) == ["addition", "subtraction"]
    runs = outcomes[key]
    for name, got in by_operation.items():
        ids = sorted(i for i, op in operation.items() if op == name)
        assert got["problems"] == len(ids)
        for row in [*REWARDS, "base model"]:
            seeds = SEEDS if row != "base model" else [None]
            flat = [c for s in seeds for i in ids for c in runs[row][s][i]]
            per_problem = [np.mean([c for s in seeds for c in runs[row][s][i]]) for i in ids]
            cell = got["table"][row]
            assert cell["accuracy"] == pytest.approx(sum(flat) / len(flat)), (name, row)
            assert cell["ci95"] == pytest.approx(loop_bootstrap(lambda p: per_problem[p], len(ids))), (name, row)
        v, b = runs["vigor"], runs["self_certainty"]
        diffs = [np.mean([c for s in SEEDS for c in v[s][i]]) - np.mean([c for s in SEEDS for c in b[s][i]])
                 for i in ids]
        paired = got["versus"]["vigor"]
        assert list(got["versus"]) == ["vigor"]
        assert paired["difference"] == pytest.approx(np.mean(diffs))
        assert paired["ci95"] == pytest.approx(loop_bootstrap(lambda p: diffs[p], len(ids)))
        gained = sum(1 for s in SEEDS for i in ids for k in range(SAMPLES) if v[s][i][k] and not b[s][i][k])
        lost = sum(1 for s in SEEDS for i in ids for k in range(SAMPLES) if b[s][i][k] and not v[s][i][k])
        assert (paired["gained"], paired["lost"]) == (gained, lost)
        assert paired["mcnemar_p"] == mcnemar_exact_p(gained, lost)
        per_seed_v = [np.mean([c for i in ids for c in v[s][i]]) for s in SEEDS]
        per_seed_b = [np.mean([c for i in ids for c in b[s][i]]) for s in SEEDS]
        assert paired["seed_accuracies"] == pytest.approx(per_seed_v)
        assert paired["baseline_seed_accuracies"] == pytest.approx(per_seed_b)
        assert paired["seed_p"] == pytest.approx(permutation_p_reference(per_seed_v, per_seed_b), abs=1e-12)


def test_a_set_that_changed_since_the_runs_gets_no_breakdown(tmp_path, fresh_seed):
    out = tmp_path / "study"
    manifest, _ = build_study(out, np.random.default_rng(fresh_seed), tmp_path / "gone.jsonl")
    key = file_key(ADD_SUB)
    base = out / "base" / f"{key}.samples.jsonl"
    rows = [json.loads(line) for line in base.read_text().splitlines()]
    for row in rows:  # as if reasoning-gym had drawn other questions for the same ids
        row["prompt"] = row["prompt"].replace("Calculate", "Compute")
    base.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = summarise(out, manifest, REWARDS, SEEDS)
    assert key not in result["by_category"]
    assert "not the problem its runs were evaluated on" in result["by_category_notes"][key]


def test_report_markdown_has_the_category_tables(tmp_path, fresh_seed):
    out = tmp_path / "study"
    manifest, _ = build_study(out, np.random.default_rng(fresh_seed), tmp_path / "gone.jsonl")
    result = write_report(out, manifest, rewards=REWARDS, seeds=SEEDS)
    text = (out / "report.md").read_text()
    key = file_key(ADD_SUB)
    by_operation = result["by_category"][key]["operation"]
    n_add, n_sub = by_operation["addition"]["problems"], by_operation["subtraction"]["problems"]
    assert f"### {key}, by operation: final held-out accuracy" in text
    assert f"| reward | addition ({n_add}) | subtraction ({n_sub}) |" in text
    sub = by_operation["subtraction"]["table"]["vigor"]
    add = by_operation["addition"]["table"]["vigor"]
    assert (f"| vigor | {100 * add['accuracy']:.1f} [{100 * add['ci95'][0]:.1f}, {100 * add['ci95'][1]:.1f}] | "
            f"{100 * sub['accuracy']:.1f} [{100 * sub['ci95'][0]:.1f}, {100 * sub['ci95'][1]:.1f}] |") in text
    d = by_operation["subtraction"]["versus"]["vigor"]
    assert f"| vigor | subtraction | {100 * d['difference']:+.1f} | {100 * d['ci95'][0]:+.1f} to" in text
    assert "no breakdown by category (its problems could not be loaded again" in text
    saved = json.loads((out / "report.json").read_text())
    assert saved["by_category"][key]["operation"]["addition"]["problems"] == n_add
