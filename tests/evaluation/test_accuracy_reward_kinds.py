"""Every grader kind is a training reward: the `accuracy` reward grades math, code, CRUXEval and IFEval rows through
the grader registry, on golds that went through the training dataset's columns, with the verdicts `vigor eval`
gives (`evaluate.score`, the reference here) on the same completions."""

import random

import pytest

from vigor.data import load_records
from vigor.data.gold import Gold, gold_columns
from vigor.evaluation.cruxeval import ungraded_golds
from vigor.evaluation.evaluate import benchmark_records, score
from vigor.rewards import build_rollouts, make_reward
from tests.evaluation.test_ifeval import FOLLOWED


def right_answer(name, record) -> str:
    """A completion that is right for `record` (by its benchmark's own gold)."""
    if name == "gsm8k":
        return f"So the answer is\n#### {record.answer}"
    if name == "humaneval":
        return record.meta["canonical_solution"]
    if name.startswith("cruxeval"):  # the full assertion, as the CRUXEval prompts ask
        return f"[ANSWER]\nassert f({record.meta['input']}) == {record.meta['output']}\n[/ANSWER]"
    return FOLLOWED[record.id]


def picked(name, n):
    if name == "ifeval":
        by_key = {r.id: r for r in load_records("ifeval")}
        keys = random.sample(sorted(FOLLOWED), n)
        return [by_key[k] for k in keys]
    records, _ = benchmark_records(name)
    if name.startswith("cruxeval"):  # 6 gold inputs of cruxeval-i are not values, so their own answer is ungraded
        ungraded = set(ungraded_golds(records))  # (named in test_cruxeval.py)
        records = [r for r in records if r.id not in ungraded]
    return random.sample(records, n)


@pytest.mark.parametrize("name, kind", [("gsm8k", "math"), ("humaneval", "code"), ("cruxeval-o", "cruxeval"),
                                        ("cruxeval-i", "cruxeval"), ("ifeval", "ifeval")])
def test_the_accuracy_reward_grades_every_kind_as_vigor_eval_does(name, kind):
    records = picked(name, 4)  # fresh random problems (the test's seed)
    right = [right_answer(name, r) for r in records]
    shifted = right[1:] + right[:1]  # each record gets another record's right answer
    # through the training dataset's flat columns and back, as the trainer rebuilds them
    columns = gold_columns([Gold.from_record(r) for r in records])
    golds = [Gold.from_row(row) for row in columns]
    assert all(g.kind == kind for g in golds)
    texts = right + shifted
    rollouts = build_rollouts([[5]] * 8, [[6, 2]] * 8, eos_token_ids=2, pad_token_id=0, completions=texts,
                              golds=golds + golds)
    raw = make_reward("accuracy").score(rollouts)
    reference = score(records + records, [[t] for t in texts], kind)  # vigor eval's grading (style "auto")
    assert raw.tolist() == [float(v[0].correct) for v in reference]
    assert raw[:4].tolist() == [1.0] * 4, [v[0].reason for v in reference[:4]]
    assert raw[4:].sum() < 4  # another problem's answer is seldom right (and never all four)


def test_a_shipped_record_keeps_its_kind_only_through_the_registry():
    """A file row without a registered source stays math or code by its columns (nothing else changes)."""
    crux = load_records("cruxeval-o", limit=1)[0]
    assert Gold.from_record(crux).kind == "cruxeval"
    crux.source = "file:/somewhere.jsonl"
    assert Gold.from_record(crux) == Gold(answer=crux.answer)
    assert Gold.from_record(load_records("gsm8k", limit=1)[0]).grader is None
