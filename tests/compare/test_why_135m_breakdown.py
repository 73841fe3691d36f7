"""scripts/why_135m_breakdown.py: the kinds of held-out answer and the split at the length cap, on hand-made rows
whose right answers are worked out here, and on a study folder laid out as `vigor compare` writes it."""
import importlib.util
import json
import random
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "why_135m_breakdown.py"
spec = importlib.util.spec_from_file_location("why_135m_breakdown", SCRIPT)
breakdown = importlib.util.module_from_spec(spec)
spec.loader.exec_module(breakdown)


def row(a, op, b, extracted, correct=False, operation=None):
    return {"prompt": f"<|im_start|>user\nCalculate {a} {op} {b}.<|im_end|>\n", "extracted": extracted,
            "correct": correct, "completion": "x",
            "categories": {"operation": operation or ("subtraction" if op == "-" else "addition")}}


@pytest.mark.parametrize("args, kind", [
    ((3, "-", 7, "-4", True), "right"),
    ((3, "-", 0, "3", True), "right, an operand"),
    ((8, "-", 4, "4", True), "right, an operand"),
    ((5, "+", 0, "5", True), "right, an operand"),
    ((5, "+", 1, "6", True), "right"),
    ((3, "-", 7, "3"), "operand"),
    ((3, "-", 7, "7"), "operand"),
    ((3, "-", 7, "4"), "b-a"),
    ((3, "-", 7, "10"), "a+b"),
    ((3, "+", 7, "10"), "other"),   # a wrong a + b on an addition is not "a+b": that kind is for subtractions
    ((3, "+", 7, "-4"), "other"),
    ((3, "-", 7, "9"), "other"),
    ((3, "-", 7, None), "no number"),
    ((3, "-", 7, "three"), "no number"),
    ((10, "-", 1, "-9"), "b-a"),
    ((5, "-", 5, "5"), "operand"),
])
def test_classify(args, kind):
    assert breakdown.classify(row(*args)) == kind


def test_heldout_and_error_tables_count_a_study_folder(tmp_path):
    seed = random.randrange(2 ** 31)
    print("seed", seed)
    rng = random.Random(seed)
    study = tmp_path / "study"
    (study).mkdir()
    json.dump({"arms": {"vigor": {"folder": "vigor"}, "other": {"folder": "other"}}}, open(study / "study.json", "w"))
    expected = {}
    for s in range(2):
        rows = []
        for i in range(30):
            a, b = rng.randrange(10), rng.randrange(10)
            length = rng.choice([5, 30, 31, 32])  # the fake tokenizer reads the length off the text
            correct = rng.random() < 0.5
            r = row(a, "-", b, str(a - b) if correct else str(b - a) if a != b else "99", correct)
            r["completion"] = "t" * length
            rows.append(r)
        folder = study / "vigor" / f"seed{s}" / "eval" / "step-4"
        folder.mkdir(parents=True)
        (study / "vigor" / f"seed{s}" / "run.json").write_text("{}")
        with open(folder / "bench.samples.jsonl", "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
        capped = [len(r["completion"]) >= 31 for r in rows]
        expected[s] = (sum(r["correct"] for r in rows) / 30, sum(capped) / 30)
    (study / "vigor" / "seed2").mkdir()  # an unfinished run (no run.json) is left out
    runs = {arm: seeds for arm, seeds in breakdown.arm_runs(str(study)).items() if seeds}
    assert list(runs) == ["vigor"] and len(runs["vigor"]) == 2
    table = breakdown.heldout_table(str(study), runs, len, cap=32)
    assert len(table) == 3
    acc = [expected[s][0] for s in range(2)]
    cap = [expected[s][1] for s in range(2)]
    assert table[2].startswith(f"| vigor | 4 | 2 | {breakdown.mean_sd(acc)} | {breakdown.mean_sd(cap)} |")

    errors = breakdown.error_table(runs, 4, "subtraction", base=str(study / "vigor" / "seed0" / "eval" / "step-4"))
    assert errors[3].startswith("| base model | 1 | 30 |")
    pooled = [json.loads(line) for s in range(2)
              for line in open(study / "vigor" / f"seed{s}" / "eval" / "step-4" / "bench.samples.jsonl")]
    operands = [tuple(int(x) for x in r["prompt"].split("Calculate ")[1].split(".")[0].split(" - ")) for r in pooled]
    right = sum(r["correct"] and (a - b) not in (a, b) for r, (a, b) in zip(pooled, operands))
    # b - a equal to an operand (a = 0, or b = 2a) counts as "operand", which classify checks first
    reversed_ = sum(not r["correct"] and r["extracted"] != "99" and int(r["extracted"]) not in ab
                    for r, ab in zip(pooled, operands))
    cells = errors[2].strip("|").split("|")
    assert cells[1].strip() == "2" and cells[2].strip() == "60"
    assert cells[3].strip() == f"{100 * right / 60:.0f} %"
    assert cells[6].strip() == f"{100 * reversed_ / 60:.0f} %"


def test_mean_sd():
    assert breakdown.mean_sd([]) == "-"
    assert breakdown.mean_sd([None, 0.5]) == "0.50"
    assert breakdown.mean_sd([0.2, 0.4]) == "0.30 ± 0.14"


def test_reinforced_table_reads_what_the_advantage_favoured(tmp_path):
    """Groups built so that the advantage favours finished completions in every all-wrong group (AUROC 1) and
    right answers in every mixed group but one, where it favours wrong ones (so 3 of 4 groups at 1, one at 0)."""
    seed = random.randrange(2 ** 31)
    print("seed", seed)
    rng = random.Random(seed)
    run = tmp_path / "arm" / "seed0"
    run.mkdir(parents=True)
    rows = []
    for step in range(8):
        a, b = rng.randrange(10), rng.randrange(10)
        mixed = step % 2 == 1
        for i in range(8):
            finished = i < 3
            correct = mixed and i % 2 == 0
            if mixed:  # right over wrong, except in step 7's group
                advantage = (1.0 if correct else -1.0) * (-1 if step == 7 else 1) + rng.random() * 0.1
            else:
                advantage = (1.0 if finished else -1.0) + rng.random() * 0.1
            rows.append({"step": step, "group": 0, "prompt": f"Calculate {a} - {b}.", "advantage": advantage,
                         "completion": "t" * (5 if finished else 32), "correct": correct, "rewards": {}, "rank": 1})
    with open(run / "completions.jsonl", "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    table = breakdown.reinforced_table({"arm": [str(run)]}, len, cap=32)
    wrong = next(line for line in table if "all wrong" in line).strip("|").split("|")
    assert [c.strip() for c in wrong[:6]] == ["arm", "subtraction", "8", "all wrong", "4", "0.62"]
    assert wrong[6].strip().startswith("1.000")
    mixed = next(line for line in table if "| mixed |" in line).strip("|").split("|")
    assert mixed[7].strip().startswith("0.750 [")
    assert breakdown.completion_groups([str(tmp_path / "none")]) == []


def test_pairs_table_counts_against_an_arm_and_the_base_model(tmp_path):
    """Random outcomes for 2 arms x 3 seeds and a base evaluation, written in shuffled row order; the table's
    difference and discordant counts equal the ones counted here problem by problem."""
    seed = random.randrange(2 ** 31)
    print("seed", seed)
    rng = random.Random(seed)
    study = tmp_path / "study"
    problems, samples = 20, 2

    def write(folder, correct):
        folder.mkdir(parents=True)
        rows = [{"id": f"p{i:02d}", "sample": k, "correct": correct[i][k]} for i in range(problems)
                for k in range(samples)]
        rng.shuffle(rows)
        with open(folder / "bench.samples.jsonl", "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)

    draw = lambda: [[rng.random() < 0.5 for _ in range(samples)] for _ in range(problems)]  # noqa: E731
    base = draw()
    write(study / "base", base)
    arms = {"a": [draw() for _ in range(3)], "b": [draw() for _ in range(3)]}
    for arm, per_seed in arms.items():
        for s, correct in enumerate(per_seed):
            write(study / arm / f"seed{s}" / "eval" / "step-8", correct)
    runs = {arm: [str(study / arm / f"seed{s}") for s in range(3)] for arm in arms}
    table = breakdown.pairs_table(str(study), runs, 8, [("a", "b"), ("a", "base")])
    assert len(table) == 4
    for line, other in zip(table[2:], [arms["b"], [base] * 3]):
        cells = [c.strip() for c in line.strip("|").split("|")]
        gained = sum(arms["a"][s][i][k] and not other[s][i][k] for s in range(3) for i in range(problems)
                     for k in range(samples))
        lost = sum(other[s][i][k] and not arms["a"][s][i][k] for s in range(3) for i in range(problems)
                   for k in range(samples))
        assert (int(cells[5]), int(cells[6])) == (gained, lost)
        assert float(cells[3]) == pytest.approx(100 * (gained - lost) / (3 * problems * samples), abs=0.051)
