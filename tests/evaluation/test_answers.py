"""Final-answer extraction."""

import pytest

from vigor.evaluation import extract_answer
from vigor.evaluation.answers import normalise_gold


@pytest.mark.parametrize("text, style, want", [
    ("so the answer is \\boxed{42}.", "auto", "42"),
    ("first \\boxed{1} then \\boxed{\\frac{3}{4}}", "boxed", "\\frac{3}{4}"),
    ("nested \\boxed{\\frac{\\sqrt{2}}{2}} end", "auto", "\\frac{\\sqrt{2}}{2}"),
    ("\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}", "auto", "\\left( 3, \\frac{\\pi}{2} \\right)"),
    ("answer: $\\boxed 7$", "auto", "7"),
    ("\\fbox{x+1}", "auto", "x+1"),
    ("unbalanced \\boxed{12", "boxed", None),
    ("no box here, 12", "boxed", None),
    ("She pays 3 + 4 = 7 dollars.\n#### 1,234", "gsm8k", "1234"),
    ("Total is 5 then 18 eggs, so $1,000.", "gsm8k", "1000"),
    ("it is 3.5 meters", "auto", "3.5"),
    ("-12 degrees", "auto", "-12"),
    ("#### 72", "auto", "72"),
    ("\\boxed{5} but #### 6", "gsm8k", "6"),
    ("nothing numeric", "auto", None),
    ("", "auto", None),
])
def test_extract(text, style, want):
    assert extract_answer(text, style) == want


def test_unknown_style():
    with pytest.raises(ValueError, match="unknown style 'latex'"):
        extract_answer("1", "latex")


@pytest.mark.parametrize("value, want", [
    (27.0, "27"), (2.5, "2.5"), (7, "7"), ("1,000", "1000"), ("12.00", "12"), ("#### 9", "9"),
    ("so \\boxed{\\frac12}", "\\frac12"), ("\\frac{1}{2}", "\\frac{1}{2}"), ("(2, 5]", "(2, 5]"), (None, None),
])
def test_normalise_gold(value, want):
    assert normalise_gold(value) == want
