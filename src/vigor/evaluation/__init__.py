"""Evaluation: answer extraction, math grading (math-verify, time-limited), code grading (sandbox), pass@k,
batched generation and the `vigor eval` driver."""

from vigor.evaluation.answers import extract_answer
from vigor.evaluation.evaluate import EvalSettings, evaluate, score_predictions
from vigor.evaluation.generation import generate_completions
from vigor.evaluation.grading import Verdict, grade_math, grade_math_many
from vigor.evaluation.passk import pass_at_k

__all__ = ["EvalSettings", "Verdict", "evaluate", "extract_answer", "generate_completions", "grade_math",
           "grade_math_many", "pass_at_k", "score_predictions"]
