"""Agreement of vigor's code grader with the reference harness: a fixed set of completions per problem.

For every HumanEval and MBPP problem, built from its canonical solution (nothing random, nothing model-made):
  canonical       HumanEval: the canonical body after the prompt; MBPP: the reference code
  restated_entry  chat text, then a fenced block with the entry-point function alone (no helpers, no imports)
  restated_whole  chat text, then a fenced block with the whole solution (HumanEval: prompt + body)
  off_by_one      the whole solution, wrapped: a number result + 1, a str/list/tuple one element short
  wrong_container the whole solution, wrapped: list -> tuple, tuple/set -> list, float -> Fraction, dict -> items
  raises          the entry point raises ValueError
  infinite_loop   the entry point never returns
  returns_none    the entry point returns None
  prints_a_lot    120 KB printed at import, then the whole solution
Each is graded by `grade_code_many` and by `reference_harness.reference_verdicts` on the same program;
`agreement_table` counts (vigor, reference) verdict pairs per variant. `python -m vigor.evaluation.code_agreement` prints it.
"""

from __future__ import annotations

import ast

from vigor.data.records import PromptRecord
from vigor.evaluation.code import parse_quietly

VARIANTS = ("canonical", "restated_entry", "restated_whole", "off_by_one", "wrong_container", "raises",
            "infinite_loop", "returns_none", "prints_a_lot")

_WRAP = {
    "off_by_one": ("r + 1 if type(r) in (int, float) else r[:-1] if type(r) in (str, list, tuple) and r "
                   "else (not r) if type(r) is bool else r"),
    "wrong_container": ("tuple(r) if type(r) is list else list(r) if type(r) in (tuple, set) else "
                        "__import__('fractions').Fraction(r) if type(r) is float and r == r and abs(r) != "
                        "float('inf') else list(r.items()) if type(r) is dict else r"),
}
_BODY = {"raises": "    raise ValueError('no')\n", "infinite_loop": "    while True:\n        pass\n",
         "returns_none": "    return None\n"}


def entry_name(record: PromptRecord) -> str:
    """HumanEval: the entry point. MBPP: the first function the asserts call that the reference code defines."""
    if record.entry_point:
        return record.entry_point
    defined = {n.name for n in parse_quietly(record.meta["reference_code"]).body if isinstance(n, ast.FunctionDef)}
    calls = [n.func.id for n in ast.walk(parse_quietly(record.tests))
             if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in defined]
    if not calls:
        raise ValueError(f"{record.id}: the asserts call no function of the reference code")
    return min(calls, key=record.tests.index)


def whole_solution(record: PromptRecord) -> str:
    return record.prompt + record.meta["canonical_solution"] if record.entry_point else record.meta["reference_code"]


def entry_source(record: PromptRecord) -> str:
    """The entry-point function's own source lines (decorators excluded), as a chat model restates it."""
    whole, name = whole_solution(record), entry_name(record)
    node = next(n for n in parse_quietly(whole).body if isinstance(n, ast.FunctionDef) and n.name == name)
    return "\n".join(whole.splitlines()[node.lineno - 1:node.end_lineno]) + "\n"


def _fenced(code: str) -> str:
    return f"Here is the solution.\n\n```python\n{code.rstrip()}\n```\n\nThis passes the examples."


def completion(record: PromptRecord, variant: str) -> str:
    name, whole = entry_name(record), whole_solution(record)
    if variant == "canonical":
        return record.meta["canonical_solution"] if record.entry_point else whole
    if variant == "restated_entry":
        return _fenced(entry_source(record))
    if variant == "restated_whole":
        return _fenced(whole)
    if variant in _WRAP:
        return _fenced(f"{whole.rstrip()}\n\n\n_vigor_original = {name}\n\n\ndef {name}(*args, **kwargs):\n"
                       f"    r = _vigor_original(*args, **kwargs)\n    return {_WRAP[variant]}\n")
    if variant in _BODY:
        if record.entry_point:
            return _BODY[variant]
        return f"{whole.rstrip()}\n\n\ndef {name}(*args, **kwargs):\n{_BODY[variant]}"
    if variant == "prints_a_lot":
        return f"print('x' * 120_000)\n{whole}" if not record.entry_point else _fenced(
            f"print('x' * 120_000)\n{whole}")
    raise ValueError(f"unknown variant {variant!r}; known: {', '.join(VARIANTS)}")


def agreement(records: list[PromptRecord], variants=VARIANTS, *, timeout_s: float = 3.0, workers: int = 2,
              loop_workers: int = 5, on_variant=None):
    """Rows (record id, variant, vigor passed, vigor reason, reference passed, reference result).
    on_variant(variant, rows, seconds): called after each variant (progress, partial results)."""
    import time

    from vigor.evaluation.code import grade_code_many
    from vigor.evaluation.reference_harness import reference_verdicts

    rows = []
    for variant in variants:
        start = time.monotonic()
        texts = [completion(r, variant) for r in records]
        if variant == "infinite_loop":
            # It only ever times out, and mostly waits: 1 s is enough, more at once (vigor: loop_workers pairs,
            # 5 x 2 x 1024 MB fits half of a 24 GB machine; the reference: 8 programs at once per sandbox).
            limit = min(timeout_s, 1.0)
            ours = grade_code_many(records, texts, timeout_s=limit, workers=max(workers, loop_workers))
            theirs = reference_verdicts(records, texts, timeout_s=limit, workers=workers, threads=8)
        else:
            ours = grade_code_many(records, texts, timeout_s=timeout_s, workers=workers)
            theirs = reference_verdicts(records, texts, timeout_s=timeout_s, workers=workers)
        part = [(r.id, variant, o.correct, o.reason, t[0], t[1]) for r, o, t in zip(records, ours, theirs)]
        rows += part
        if on_variant is not None:
            on_variant(variant, part, time.monotonic() - start)
    return rows


def agreement_table(rows) -> str:
    """A markdown table: per variant, how many problems, both pass, both fail, and each kind of disagreement."""
    lines = ["| completion | problems | both pass | both fail | vigor fails, reference passes | "
             "vigor passes, reference fails | agreement |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for variant in dict.fromkeys(v for _, v, *_ in rows):
        mine = [(o, t) for _, v, o, _, t, _ in rows if v == variant]
        counts = [sum(1 for o, t in mine if (o, t) == pair) for pair in ((True, True), (False, False),
                                                                          (False, True), (True, False))]
        lines.append(f"| {variant} | {len(mine)} | " + " | ".join(map(str, counts))
                     + f" | {100 * (counts[0] + counts[1]) / len(mine):.1f} % |")
    return "\n".join(lines)


def verdict_letter(passed: bool, reason: str) -> str:
    """P passed, T timed out (either harness: vigor "timeout: ...", the reference "timed out"), F failed."""
    return "P" if passed else "T" if reason.startswith(("timeout", "timed out")) else "F"


def verdict_lines(rows) -> list[dict]:
    """Per (benchmark, problem): one letter per variant in VARIANTS order, for vigor and for the reference, as in
    docs/code_agreement.jsonl (rows: (benchmark, id, variant, vigor passed, reason, reference passed, result))."""
    table: dict = {}
    for benchmark, rid, variant, ours, reason, theirs, result in rows:
        entry = table.setdefault((benchmark, rid), {"vigor": {}, "reference": {}})
        entry["vigor"][variant], entry["reference"][variant] = verdict_letter(ours, reason), verdict_letter(
            theirs, result)
    return [{"benchmark": b, "id": rid, **{who: "".join(v[who].get(n, "-") for n in VARIANTS)
                                           for who in ("vigor", "reference")}} for (b, rid), v in table.items()]


def main(argv=None) -> int:
    """`python -m vigor.evaluation.code_agreement [--limit N] [--rows FILE] ...`: the table for docs/sandbox.md."""
    import argparse
    import json
    import time

    from vigor.data import load_records

    parser = argparse.ArgumentParser(prog="python -m vigor.evaluation.code_agreement",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--benchmarks", nargs="+", choices=("humaneval", "mbpp"), default=["humaneval", "mbpp"])
    parser.add_argument("--limit", type=int, default=None, help="first N problems of each benchmark (default all)")
    parser.add_argument("--timeout-s", type=float, default=3.0, help="per program, both harnesses (default 3)")
    parser.add_argument("--workers", type=int, default=2, help="programs graded at once (default 2)")
    parser.add_argument("--loop-workers", type=int, default=5, help="at once for the infinite loop (default 5)")
    parser.add_argument("--verdicts", default=None, help="also write the per-problem letters (verdict_lines) here")
    parser.add_argument("--rows", default=None, help="also write every row as JSON lines to this file, "
                        "variant by variant")
    args = parser.parse_args(argv)
    start = time.monotonic()
    rows = []
    if args.rows:
        open(args.rows, "w", encoding="utf-8").close()
    for benchmark in args.benchmarks:
        def done(variant, part, seconds, benchmark=benchmark):
            print(f"{benchmark} {variant}: {len(part)} programs in {seconds:.0f} s", flush=True)
            if args.rows:
                with open(args.rows, "a", encoding="utf-8") as f:
                    f.writelines(json.dumps([benchmark, *row]) + "\n" for row in part)

        part = agreement(load_records(benchmark, limit=args.limit), timeout_s=args.timeout_s, workers=args.workers,
                         loop_workers=args.loop_workers, on_variant=done)
        print(f"## {benchmark}\n\n{agreement_table(part)}\n", flush=True)
        rows += [(benchmark, *row) for row in part]
    if args.verdicts:
        with open(args.verdicts, "w", encoding="utf-8") as f:
            f.writelines(json.dumps(line) + "\n" for line in verdict_lines(rows))
    print("disagreements:")
    for benchmark, rid, variant, ours, reason, theirs, result in rows:
        if ours != theirs:
            print(f"  {benchmark} {rid} {variant}: vigor {'pass' if ours else 'fail'} ({reason[:160]}); "
                  f"reference {'pass' if theirs else 'fail'} ({result[:120]})")
    print(f"{len(rows)} programs in {time.monotonic() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
