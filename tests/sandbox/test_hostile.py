"""Hostile programs are contained, each is reported with a reason, and the next sample still runs."""

import os
import socket
import textwrap

import pytest

from vigor.sandbox import SandboxLimits, run_many, run_python

SANDBOX_UID_FLOOR = 1 << 24  # runner.py gives each sample (as root) a fresh uid at or above this
OK = "print('still evaluating')"


def leftover_sandbox_processes() -> list[int]:
    """Host pids still running under a per-sample sandbox uid (must be none after a run)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid >= SANDBOX_UID_FLOOR:
                    pids.append(int(entry))
            except FileNotFoundError:
                pass
    return pids


def test_hostile_programs_are_contained_and_evaluation_continues(tmp_path, monkeypatch):
    secret = "vigor-test-secret-7f3a9c"
    monkeypatch.setenv("VIGOR_TEST_SECRET", secret)
    sentinel = tmp_path / "sentinel.txt"
    sentinel.write_text("original")
    repo_file = os.path.join(os.path.dirname(__file__), "written-by-sandbox.txt")
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    hostile = {
        "infinite loop (and a setsid escapee)": (
            "import os\nif os.fork() == 0:\n    os.setsid()\nwhile True:\n    pass", "timeout",
            "timeout after 3.0 s (wall clock)"),
        "fork bomb": ("import os\nwhile True:\n    os.fork()", "failed", "BlockingIOError"),
        "memory hog": ("x = bytearray(2 * 1024**3)", "memory", "memory limit of 256 MB exceeded (MemoryError)"),
        "write /etc": ("open('/etc/vigor-sandbox-probe', 'w').write('x')", "failed", "FileNotFoundError"),
        "write the repo": (f"open({repo_file!r}, 'w').write('x')", "failed", "FileNotFoundError"),
        # It may recreate the path inside its own /tmp: the host file must stay untouched.
        "overwrite a host file": (textwrap.dedent(f"""
            import os
            os.makedirs({str(tmp_path)!r}, exist_ok=True)
            open({str(sentinel)!r}, 'w').write('pwned')
            open({str(tmp_path / 'new.txt')!r}, 'w').write('pwned')
            raise SystemExit('wrote my copies')"""), "failed", "wrote my copies"),
        "huge file": ("open('big', 'wb').write(b'x' * (40 << 20))", "failed", "File too large"),
        "fill the disk": ("for i in range(100):\n    open(f'f{i}', 'wb').write(b'x' * (4 << 20))", "failed",
                          "No space left on device"),
        "open a socket": (f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)", "failed",
                          "Network is unreachable"),
        # As root the program runs under another uid (EPERM); in a user namespace it shares PID 1's
        # uid, and PID 1 of a namespace ignores signals sent from inside it.
        "kill its parent": ("import os, time\nos.kill(os.getppid(), 9)\ntime.sleep(0.3)\n"
                            "raise SystemExit('parent lives')",
                            "failed", "PermissionError" if os.geteuid() == 0 else "parent lives"),
        "kill the test process": (f"import os\nos.kill({os.getpid()}, 9)", "failed", "ProcessLookupError"),
        "kill everything": ("import os\nos.kill(-1, 9)", "failed", "ProcessLookupError"),
        "become root": ("import os\nos.setuid(0)", "failed", "PermissionError"),
        "remount /usr writable": ("import ctypes\nMS_REMOUNT, MS_BIND = 32, 4096\n"
                                  "assert ctypes.CDLL(None).mount(b'none', b'/usr', None, MS_REMOUNT | MS_BIND, None)"
                                  " == 0, 'remount refused'", "failed", "remount refused"),
        "read the parent's environment": (textwrap.dedent(f"""
            import os
            print(sorted(os.environ.items()))
            print({secret!r} in str(os.environ))
            open(f'/proc/{{os.getppid()}}/environ').read()"""), "failed", "FileNotFoundError"),
    }
    sources = []
    for source, _, _ in hostile.values():
        sources += [source, OK]  # each hostile program is followed by a normal one
    results = run_many(sources, workers=2, timeout_s=3.0, memory_mb=256, max_processes=16, file_size_mb=16,
                       disk_mb=32)
    listener.settimeout(0.2)
    with pytest.raises(TimeoutError):
        listener.accept()  # nothing ever reached the host's loopback
    listener.close()
    for (name, (_, status, reason)), result, after in zip(hostile.items(), results[::2], results[1::2]):
        assert result.status == status and reason in result.reason, (name, result.status, result.reason)
        assert not result.passed and result.isolated, name
        assert after.passed and after.stdout == "still evaluating\n", (name, after.reason)
    assert sentinel.read_text() == "original" and sorted(os.listdir(tmp_path)) == ["sentinel.txt"]
    assert not os.path.exists(repo_file) and not os.path.exists("/etc/vigor-sandbox-probe")
    environment_dump = results[2 * list(hostile).index("read the parent's environment")].stdout
    assert secret not in environment_dump and "False" in environment_dump
    assert "VIGOR_TEST_SECRET" not in environment_dump
    if os.geteuid() == 0:
        assert leftover_sandbox_processes() == []  # loop, escapee and fork bomb are all gone


def test_limits_are_applied_inside_the_sandbox():
    limits = SandboxLimits(timeout_s=4.5, memory_mb=300, max_processes=7, file_size_mb=3)
    probe = textwrap.dedent("""
        import os, resource
        for name in ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_NPROC", "RLIMIT_FSIZE", "RLIMIT_NOFILE", "RLIMIT_CORE"):
            print(name, *resource.getrlimit(getattr(resource, name)))
        print("uid", os.getuid(), "cwd", os.getcwd(), "files", os.listdir("."), "root", sorted(os.listdir("/")))
        open("left-behind.txt", "w").write("x")""")
    first, second = run_many([probe, probe], workers=1, timeout_s=4.5, memory_mb=300, max_processes=7,
                             file_size_mb=3)
    assert first.passed and second.passed, (first.reason, second.reason)
    lines = dict(line.split(" ", 1) for line in first.stdout.splitlines())
    expected = {"RLIMIT_AS": (300 << 20,) * 2, "RLIMIT_CPU": (6, 7), "RLIMIT_NPROC": (7, 7),
                "RLIMIT_FSIZE": (3 << 20,) * 2, "RLIMIT_NOFILE": (256, 256), "RLIMIT_CORE": (0, 0)}
    assert limits.rlimits() == expected
    for name, (soft, hard) in expected.items():
        assert lines[name] == f"{soft} {hard}", name
    info, info_again = first.stdout.splitlines()[-1], second.stdout.splitlines()[-1]
    assert info.split(" cwd ")[1] == info_again.split(" cwd ")[1]  # a fresh folder each time
    assert "cwd /tmp files ['main.py']" in info and "'etc'" not in info and "'proc'" not in info
    if os.geteuid() == 0:
        assert int(info.split()[1]) >= SANDBOX_UID_FLOOR


def test_cpu_limit_signal_and_output_cap_are_reported():
    cpu = run_python("import os, signal\nos.kill(os.getpid(), signal.SIGXCPU)", timeout_s=2.0)
    assert cpu.status == "timeout" and cpu.reason == "CPU time limit of 3 s exceeded" and cpu.returncode == -24
    flood = run_python("import sys\nsys.stdout.write('y' * 1_000_000)\nsys.stderr.write('e' * 5000)", output_kb=2)
    assert flood.passed and flood.stdout.startswith("y" * 2048)
    assert flood.stdout[2048:] == f"\n[... {1_000_000 - 2048} more bytes cut]"
    assert flood.stderr == "e" * 2048 + f"\n[... {5000 - 2048} more bytes cut]"
