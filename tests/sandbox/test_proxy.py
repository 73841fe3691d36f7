"""The test/candidate proxy: exact plain-data codec, and hostile candidates that must not pass."""

import math
import random
import textwrap

import pytest

from vigor.sandbox import _proxy_runtime as wire
from vigor.sandbox import free_names, run_tests_with_proxy


def random_plain(rng: random.Random, depth: int = 0):
    """A random value of the plain-data types, nested up to 4 levels."""
    scalars = [
        lambda: None, lambda: rng.random() < 0.5, lambda: rng.randint(-10**40, 10**40), lambda: rng.randint(-3, 3),
        lambda: rng.choice([0.0, -0.0, math.inf, -math.inf, math.nan, 5e-324, rng.uniform(-1e9, 1e9)]),
        lambda: complex(rng.uniform(-5, 5), rng.choice([-0.0, math.nan, 2.5])),
        lambda: "".join(chr(rng.choice([rng.randint(32, 126), rng.randint(0xA0, 0x2FFF), 0xD800]))
                        for _ in range(rng.randint(0, 6))),
        lambda: bytes(rng.randint(0, 255) for _ in range(rng.randint(0, 5))),
    ]
    hashable = lambda: rng.choice(scalars[:4] + scalars[6:])()  # noqa: E731 (no nan: keys must find themselves)
    if depth >= 4 or rng.random() < 0.4:
        return rng.choice(scalars)()
    n = rng.randint(0, 4)
    kind = rng.choice(["list", "tuple", "dict", "set", "frozenset"])
    if kind == "list":
        return [random_plain(rng, depth + 1) for _ in range(n)]
    if kind == "tuple":
        return tuple(random_plain(rng, depth + 1) for _ in range(n))
    if kind == "dict":
        return {hashable(): random_plain(rng, depth + 1) for _ in range(n)}
    return (set if kind == "set" else frozenset)(hashable() for _ in range(n))


def same(a, b) -> bool:
    """Reference: identical exact types all the way down and identical values (floats bit for bit)."""
    if type(a) is not type(b):
        return False
    if type(a) is float:
        return a.hex() == b.hex() if a == a else b != b
    if type(a) is complex:
        return same(a.real, b.real) and same(a.imag, b.imag)
    if type(a) in (list, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if type(a) is dict:
        return len(a) == len(b) and all(k in b and same(v, b[k]) for k, v in a.items())
    if type(a) in (set, frozenset):  # elements are hashable scalars or tuples: equality is exact enough
        return a == b and all(type(x) is type(next(y for y in b if y == x)) for x in a)
    return a == b


def test_codec_round_trips_plain_data_exactly():
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    for i in range(400):
        value = random_plain(rng)
        back = wire.decode(wire.encode(value))
        assert same(value, back), f"seed {seed} value {i}: {value!r} -> {back!r}"


def test_codec_refuses_anything_that_is_not_exact_plain_data():
    class Yes:
        def __eq__(self, other):
            return True

    class SneakyInt(int):
        def __eq__(self, other):
            return True

    import collections

    for value in (Yes(), SneakyInt(3), [1, SneakyInt(2)], collections.Counter(a=1), {1: Yes()}, range(3),
                  bytearray(b"x"), (x for x in ()), wire.Remote("f")):
        with pytest.raises(wire.PlainDataError, match="is not plain data"):
            wire.encode(value)
    nested = []
    for _ in range(wire.MAX_DEPTH + 5):
        nested = [nested]
    with pytest.raises(wire.PlainDataError, match="nested deeper"):
        wire.encode(nested)
    u32 = lambda n: n.to_bytes(4, "big")  # noqa: E731
    for data, message in [(b"x", "unknown value tag"), (b"i" + u32(2) + b"zz", "malformed 'i'"),
                          (b"u" + u32(5) + b"ab", "impossible length"), (b"NN", "bytes after the value"),
                          (b"r" + u32(1) + b"f", "unknown value tag"),  # no references towards the tests
                          (b"l" + u32(10**6), "impossible length"), (b"s" + u32(1) + b"l" + u32(0), "malformed 's'"),
                          (b"d" + u32(1) + b"l" + u32(0) + b"N", "malformed 'd'"),
                          (b"u" + u32(1) + b"\xff", "malformed 'u'"), (b"f" + b"\0" * 7, "truncated")]:
        with pytest.raises(wire.PlainDataError, match=message):
            wire.decode(data)  # the tests' side: no references, no other types
    assert type(wire.decode(wire.encode(True))) is bool and type(wire.decode(b"t" + u32(0))) is tuple


def test_free_names_are_what_the_tests_take_from_the_solution():
    tests = "import math\nx = 3\nassert f(x) == g(root2)\nassert math.isclose(h(1), 1)\nassert sum(f(1)) == 2"
    assert free_names(tests) == ["f", "g", "h", "root2"]
    assert free_names(tests, builtin_overrides=("sum",)) == ["f", "g", "h", "root2", "sum"]


DOUBLE = "def double(x):\n    return 2 * x\n"
TESTS = "assert double(3) == 6\nassert double([1]) == [1, 1]\nassert double(0.5) == 1.0\n"
HOSTILE = {
    # The attacks on the old single-process grader, each inside the candidate.
    "__eq__ always True": "class Yes:\n    def __eq__(self, other):\n        return True\n"
                          "def double(x):\n    return Yes()\n",
    "int subclass": "class Int(int):\n    def __eq__(self, other):\n        return True\n"
                    "    __hash__ = int.__hash__\ndef double(x):\n    return Int(0)\n",
    "frame walk, print every constant, os._exit(0)": textwrap.dedent("""
        import os, sys
        def double(x):
            frame = sys._getframe()
            while frame is not None:
                for const in frame.f_code.co_consts:
                    if isinstance(const, (str, bytes)):
                        print(const)
                frame = frame.f_back
            sys.stdout.flush()
            os._exit(0)"""),
    "print its own source and exit 0": textwrap.dedent("""
        import os, sys
        def double(x):
            print(open(sys.argv[0]).read(), flush=True)
            os._exit(0)"""),
    "sys.excepthook prints and exits 0": textwrap.dedent("""
        import os, sys
        def hook(*args):
            print("vigor-tests-done", flush=True)
            os._exit(0)
        sys.excepthook = hook
        def double(x):
            raise RuntimeError("let the hook speak")"""),
    "atexit prints": textwrap.dedent("""
        import atexit
        atexit.register(print, "vigor-tests-done")
        def double(x):
            raise SystemExit(0)"""),
    "writes to every descriptor": textwrap.dedent("""
        import os
        def double(x):
            for fd in range(3, 64):
                try:
                    os.write(fd, b"vigor-tests-done\\n")
                except OSError:
                    pass
            return 1"""),
    "forged reply": textwrap.dedent("""
        import os, struct
        def double(x):
            body = b'{"value": {"__class__": "Yes"}}'
            os.write(3, struct.pack(">I", len(body)) + body)
            os._exit(0)"""),
}


def test_hostile_candidates_fail_with_a_reason_and_honest_ones_pass():
    honest = {
        "honest": DOUBLE,
        "prints 120 KB before answering": "def double(x):\n    print('y' * 120_000)\n    return 2 * x\n",
        "mutates its argument (the tests see it)": "def double(x):\n    if type(x) is list:\n        x.append(9)\n"
                                                    "        x.pop()\n    return 2 * x\n",
    }
    from concurrent.futures import ThreadPoolExecutor

    cases = {**honest, **HOSTILE}
    with ThreadPoolExecutor(2) as pool:
        results = dict(zip(cases, pool.map(lambda src: run_tests_with_proxy(src, TESTS, timeout_s=10), cases.values())))
    for name in honest:
        assert results[name].passed, (name, results[name].reason)
    expected = {
        "__eq__ always True": "PlainDataError: double(): a __main__.Yes object is not plain data",
        "int subclass": "a __main__.Int object is not plain data",
        "frame walk, print every constant, os._exit(0)": "the candidate exited (code 0) before the tests finished",
        "print its own source and exit 0": "the candidate exited (code 0) before the tests finished",
        "sys.excepthook prints and exits 0": "RuntimeError: let the hook speak",
        "atexit prints": "the candidate exited (code 0) before the tests finished",
        "writes to every descriptor": "PlainDataError: a message of",  # its garbage reached the channel
        "forged reply": "PlainDataError: unknown value tag b'{'",
    }
    for name, reason in expected.items():
        result = results[name]
        assert not result.passed and result.status == "failed" and reason in result.reason, (name, result.reason)


def test_stateful_exceptions_keywords_references_and_fetched_values():
    solution = textwrap.dedent("""
        class Node:
            def __init__(self, value, left=None):
                self.value, self.left = value, left
        def depth(node):
            return 0 if node is None else 1 + depth(node.left)
        def push(stack, item, *, times=1):
            stack.extend([item] * times)
            return len(stack)
        def check_positive(x):
            if x <= 0:
                raise ValueError(f"{x} is not positive")
            return x
        predicted = {"y": (1, 2.5, b"z")}""")
    setup = "tree = Node(1, Node(2, Node(3)))\n"  # trusted, but uses the solution's class: candidate side
    tests = textwrap.dedent("""
        stack = [1]
        assert push(stack, 7, times=2) == 3 and stack == [1, 7, 7], stack
        assert depth(tree) == 3 and depth(None) == 0
        try:
            check_positive(-1)
            raise AssertionError("no ValueError")
        except ValueError as err:
            assert str(err) == "-1 is not positive"
        assert answer == {"y": (1, 2.5, b"z")} and type(answer["y"][2]) is bytes""")
    result = run_tests_with_proxy(solution, tests, setup_source=setup, fetched_names={"answer": "predicted"},
                                  remote_names={n: n for n in ("push", "depth", "tree", "check_positive")})
    assert result.passed, (result.reason, result.tests.stderr[-2000:])
    # A function named like a module is the solution's; a module used as module.attr is imported.
    modules = run_tests_with_proxy("def random(n):\n    return n + 1\n",
                                   "assert random(1) == 2 and math.isclose(math.pi, 3.14159, rel_tol=1e-5)\n")
    assert modules.passed, modules.reason
    bad_tests = run_tests_with_proxy(DOUBLE, "assert double(1) ==\n")
    assert (bad_tests.status, bad_tests.reason) == ("error", "the tests do not parse: invalid syntax (<unknown>, line 1)")
    missing = run_tests_with_proxy("x = 1\n", "assert f(1) == 1\n")
    assert missing.reason == "PlainDataError: f(): CandidateError: the solution defines no 'f'"
    broken = run_tests_with_proxy("def f(:\n", "assert f(1) == 1\n")
    assert broken.reason.startswith("CandidateError: the solution did not load: SyntaxError")
    slow = run_tests_with_proxy("def f(x):\n    while True:\n        pass\n", "assert f(1)\n", timeout_s=1.5)
    assert (slow.status, slow.reason) == ("timeout", "timeout after 1.5 s (wall clock)")
    hog = run_tests_with_proxy("def f(x):\n    return bytearray(1 << 30)\n", "assert f(1)\n", memory_mb=256)
    assert (hog.status, hog.reason) == ("memory", "memory limit of 256 MB exceeded (MemoryError)")
    killed = run_tests_with_proxy("import os\ndef f(x):\n    os.kill(os.getpid(), 9)\n", "assert f(1)\n")
    assert (killed.status, killed.reason) == ("failed", "candidate: killed by signal SIGKILL")


def test_weak_mode_keeps_the_two_processes_apart(monkeypatch):
    from vigor.sandbox import FORCE_WEAK_ENV, SandboxUnavailable

    monkeypatch.setenv(FORCE_WEAK_ENV, "1")
    with pytest.raises(SandboxUnavailable):
        run_tests_with_proxy(DOUBLE, TESTS)
    with pytest.warns(RuntimeWarning, match="weak mode"):
        ok = run_tests_with_proxy(DOUBLE, TESTS, allow_weak=True)
        rigged = run_tests_with_proxy(HOSTILE["__eq__ always True"], TESTS, allow_weak=True)
    assert ok.passed and not ok.tests.isolated
    assert not rigged.passed and "not plain data" in rigged.reason


def test_a_machine_without_seccomp_is_reported(monkeypatch, capsys):
    import vigor.sandbox.runner as runner
    from vigor.cli import main
    from vigor.sandbox import isolation_gaps, run_python

    monkeypatch.setattr(runner, "_probe_isolation", lambda: (None, "OSError: no seccomp table for the mips"))
    assert isolation_gaps() == ["no seccomp filter (OSError: no seccomp table for the mips): the program may mount, "
                                "create namespaces, kernel keys (which outlive it) and memfds (which RLIMIT_AS does "
                                "not count)"]
    assert main(["sandbox", "check"]) == 0
    assert "; no seccomp filter)\nsandbox: note: no seccomp filter (OSError" in capsys.readouterr().out
    with pytest.warns(RuntimeWarning, match="no seccomp filter"):
        assert run_python("print(1)").passed
