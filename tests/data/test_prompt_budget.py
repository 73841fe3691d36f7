"""`prompt_budget`, the one context-budget rule of training and analysis, against the rule written out."""

import random

import pytest

from vigor.data import DataError
from vigor.data.lengths import prompt_budget


def test_prompt_budget_is_the_tightest_limit():
    seed = random.SystemRandom().randrange(2**31)
    rng = random.Random(seed)
    for _ in range(200):
        context = rng.choice([None, rng.randint(2, 4096)])
        completion = rng.randint(0, (context or 4096) - 1)
        max_prompt_length = rng.choice([None, rng.randint(1, 4096)])
        limits = [context - completion] if context is not None else []
        limits += [max_prompt_length] if max_prompt_length else []
        budget, what = prompt_budget(context, completion, f"--max-new-tokens {completion}", max_prompt_length)
        where = f"seed {seed}: context {context}, completion {completion}, max_prompt_length {max_prompt_length}"
        assert budget == (min(limits) if limits else None), where
        if budget is None:
            assert what == "", where
        elif context is not None and budget == context - completion:
            assert what == f"the model's context of {context} tokens less --max-new-tokens {completion}", where
        else:
            assert what == f"max_prompt_length={max_prompt_length} tokens", where


def test_equal_limits_name_the_models_context():
    # seed 1362350810 of the test above drew this tie (3505 - 1195 == 2310) and found the message chosen by text
    assert prompt_budget(3505, 1195, "--max-new-tokens 1195", 2310) == (
        2310, "the model's context of 3505 tokens less --max-new-tokens 1195")


@pytest.mark.parametrize("completion", [512, 600])
def test_a_completion_filling_the_context_is_one_line(completion):
    with pytest.raises(DataError, match=f"^max_completion_length={completion} leaves no room for a prompt in the "
                                        "model's context of 512 tokens$"):
        prompt_budget(512, completion, f"max_completion_length={completion}", 100)
