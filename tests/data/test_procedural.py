"""reasoning-gym sets: seeded, answered correctly, and train/heldout never share a question."""

import reasoning_gym

from vigor.data import load_records, reasoning_gym_records


def test_seeded_and_prefix_stable():
    a = reasoning_gym_records("gsm_symbolic", size=30, seed=3)
    b = reasoning_gym_records("gsm_symbolic", size=30, seed=3)
    c = reasoning_gym_records("gsm_symbolic", size=10, seed=3)
    assert [(r.id, r.prompt, r.answer) for r in a] == [(r.id, r.prompt, r.answer) for r in b]
    assert [r.prompt for r in c] == [r.prompt for r in a[:10]]
    assert [r.prompt for r in reasoning_gym_records("gsm_symbolic", size=30, seed=4)] != [r.prompt for r in a]


def test_train_and_heldout_disjoint_and_deduplicated():
    for name in ("gsm_symbolic", "basic_arithmetic"):
        train = reasoning_gym_records(name, size=200, seed=0, split="train")
        heldout = reasoning_gym_records(name, size=60, seed=0, split="heldout")
        assert len(train) == 200 and len(heldout) == 60
        assert len({r.prompt for r in train}) == 200 and len({r.prompt for r in heldout}) == 60
        assert not {r.prompt for r in train} & {r.prompt for r in heldout}


def test_answers_are_what_reasoning_gym_scores_as_correct():
    records = reasoning_gym_records("gsm_symbolic", size=20, seed=1)
    dataset = reasoning_gym.create_dataset("gsm_symbolic", size=200, seed=1)
    by_question = {item["question"]: item for item in dataset}
    assert all(dataset.score_answer(r.answer, by_question[r.prompt]) == 1.0 for r in records)
    # arithmetic: the answer is the value of the expression in the question ("Calculate EXPR.")
    for r in load_records("reasoning-gym:basic_arithmetic", limit=20, seed=2):
        expression = r.prompt.removeprefix("Calculate ").rstrip(".")
        assert int(r.answer) == eval(expression, {"__builtins__": {}})  # trusted generator output, not model text


def test_single_digit_addition_alias():
    import pytest

    from vigor.data import DataError

    train = reasoning_gym_records("single_digit_addition", size=59, seed=0)
    heldout = load_records("reasoning-gym:single_digit_addition", limit=62, seed=0, split="heldout")
    assert not {r.prompt for r in train} & {r.prompt for r in heldout}
    for r in train + heldout:
        left, right = r.prompt.removeprefix("Calculate ").rstrip(".").split(" + ")
        assert 0 <= int(left) <= 10 and 0 <= int(right) <= 10 and int(r.answer) == int(left) + int(right)
    with pytest.raises(DataError, match="gave only 59 distinct train questions"):
        reasoning_gym_records("single_digit_addition", size=60, seed=0)


def test_single_digit_add_sub_alias_extends_the_addition_task():
    import re

    import pytest

    from vigor.data import DataError

    train = reasoning_gym_records("single_digit_add_sub", size=116, seed=0)
    heldout = load_records("reasoning-gym:single_digit_add_sub", limit=126, seed=0, split="heldout")
    assert not {r.prompt for r in train} & {r.prompt for r in heldout}
    assert len({r.prompt for r in train + heldout}) == 2 * 11 * 11  # every (a, op, b) exactly once
    for r in train + heldout:
        left, op, right = re.fullmatch(r"Calculate (\d+) ([+-]) (\d+)\.", r.prompt).groups()
        assert 0 <= int(left) <= 10 and 0 <= int(right) <= 10
        assert int(r.answer) == (int(left) + int(right) if op == "+" else int(left) - int(right))
    # the split goes by question text: the addition task's held-out questions are all held out here too
    additions = load_records("reasoning-gym:single_digit_addition", limit=62, seed=0, split="heldout")
    assert {r.prompt for r in additions} <= {r.prompt for r in heldout}
    with pytest.raises(DataError, match="gave only 126 distinct heldout questions"):
        load_records("reasoning-gym:single_digit_add_sub", limit=127, seed=0, split="heldout")
