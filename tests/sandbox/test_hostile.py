"""Hostile programs are contained, each is reported with a reason, and the next sample still runs."""

import os
import socket
import textwrap

import pytest

from vigor.sandbox import SandboxLimits, run_many, run_python

SANDBOX_UID_FLOOR = 1 << 24  # runner.py gives each sample (as root) a fresh uid at or above this
OK = "print('still evaluating')"


def leftover_sandbox_processes(uids: set[int]) -> list[int]:
    """Host pids still running under one of these per-sample sandbox uids (must be none after a run). Only the
    uids of this test's own samples: other jobs on the machine may be running sandboxes right now."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid in uids:
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
    for source, _, _ in hostile.values():  # each says its uid first; each is followed by a normal one
        sources += [f"import os as _os\nprint('uid', _os.getuid(), flush=True)\n{source}", OK]
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
        uids = {name: int(r.stdout.split()[1]) for name, r in zip(hostile, results[::2])}
        assert min(uids.values()) >= SANDBOX_UID_FLOOR and len(set(uids.values())) == len(uids), uids
        assert leftover_sandbox_processes(set(uids.values())) == []  # loop, escapee and fork bomb are all gone


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


def key_user_ids() -> set[int]:
    """uids that hold kernel keys on the host (/proc/key-users: 'uid: usage ...')."""
    with open("/proc/key-users") as f:
        return {int(line.split(":")[0]) for line in f if line.strip()}


def test_seccomp_denies_every_listed_call_with_eperm_and_threads_and_forks_still_work():
    from vigor.sandbox import _seccomp, isolation_gaps
    from vigor.sandbox.memory import memory_mode

    assert isolation_gaps() == [memory_mode()[2]]  # the filter installs on this machine: only the memory note
    _, numbers = _seccomp.ARCHITECTURES[os.uname().machine]
    probe = textwrap.dedent(f"""
        import ctypes, os, threading, subprocess
        libc = ctypes.CDLL(None, use_errno=True)
        for name, nr in {sorted((n, numbers[n]) for n in _seccomp.DENIED)!r}:
            ctypes.set_errno(0)
            rc = libc.syscall(nr, 0, 0, 0, 0, 0)
            print(name, rc, ctypes.get_errno())
        for flag in (0x10000000, 0x00020000, 0x40000000):  # clone(CLONE_NEWUSER / NEWNS / NEWNET | SIGCHLD)
            print("clone", hex(flag), libc.syscall({numbers["clone"]}, flag | 17, 0, 0, 0, 0), ctypes.get_errno())
        t = threading.Thread(target=print, args=("thread ran",)); t.start(); t.join()
        print(subprocess.run(["/bin/sh", "-c", "echo child ran"], capture_output=True, text=True).stdout.strip())""")
    result = run_python(probe, timeout_s=10)
    assert result.passed, result.reason
    lines = result.stdout.splitlines()
    denied = [line.split() for line in lines[:len(_seccomp.DENIED)]]
    assert sorted(name for name, _, _ in denied) == sorted(_seccomp.DENIED)
    assert all(rc == "-1" and err == "1" for _, rc, err in denied), denied  # EPERM
    assert [line.split()[2:] for line in lines[len(_seccomp.DENIED):-2]] == [["-1", "1"]] * 3
    assert lines[-2:] == ["thread ran", "child ran"]


def test_namespace_memfd_and_key_attacks_fail_and_leave_nothing():
    keys_before = key_user_ids()
    attacks = {
        # A nested user + mount namespace would let it mount a fresh tmpfs far beyond disk_mb.
        "nested namespace tmpfs (ctypes)": (textwrap.dedent("""
            import ctypes, os
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.unshare(0x10000000 | 0x00020000) != 0:  # CLONE_NEWUSER | CLONE_NEWNS
                raise SystemExit(f"unshare refused: {os.strerror(ctypes.get_errno())}")
            os.makedirs("/tmp/big", exist_ok=True)
            assert libc.mount(b"tmpfs", b"/tmp/big", b"tmpfs", 0, b"size=12g") == 0, "mount refused"
            open("/tmp/big/fill", "wb").write(b"x" * (200 << 20))"""),
            "unshare refused: Operation not permitted"),
        "nested namespace tmpfs (unshare tool)": (textwrap.dedent("""
            import subprocess
            r = subprocess.run(["unshare", "-Urm", "sh", "-c",
                                "mount -t tmpfs -o size=12g none /tmp && head -c 209715200 /dev/zero > /tmp/f"],
                               capture_output=True, text=True)
            raise SystemExit(r.stderr.strip() or f"exit {r.returncode}")"""), "Operation not permitted"),
        "memfd beyond memory_mb": (textwrap.dedent("""
            import os
            fd = os.memfd_create("hoard")
            for _ in range(40):
                os.write(fd, b"x" * (16 << 20))  # 640 MB with memory_mb=256"""), "PermissionError"),
        "add_key leftovers": (textwrap.dedent("""
            import ctypes, os
            libc = ctypes.CDLL(None, use_errno=True)
            KEY_SPEC_USER_KEYRING = -4
            serial = libc.syscall(248, b"user", b"vigor-probe", b"payload", 7, KEY_SPEC_USER_KEYRING)
            raise SystemExit(f"add_key {serial} {os.strerror(ctypes.get_errno())}")"""),
            "add_key -1 Operation not permitted"),
    }
    results = run_many([source for source, _ in attacks.values()], workers=2, timeout_s=10, memory_mb=256,
                       disk_mb=32)
    for (name, (_, expected)), result in zip(attacks.items(), results):
        assert result.status == "failed" and expected in result.reason, (name, result.status, result.reason)
    if os.path.exists("/proc/key-users"):
        assert not {uid for uid in key_user_ids() - keys_before if uid >= SANDBOX_UID_FLOOR}


def test_after_an_output_flood_the_reason_is_still_the_cause():
    flood = "import sys\nsys.stderr.write('e' * 300_000)\nsys.stdout.write('o' * 300_000)\n"
    cases = {
        "exception": (flood + "raise ValueError('the real cause')", "failed", "ValueError: the real cause"),
        "memory": (flood + "x = bytearray(1 << 30)", "memory", "memory limit of 256 MB exceeded (MemoryError)"),
        "signal": (flood + "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)", "failed",
                   "killed by signal SIGSEGV"),
        "timeout": (flood + "while True:\n    pass", "timeout", "timeout after 2.0 s (wall clock)"),
        "lines after the traceback are not the cause": (
            flood + "import sys\nsys.stderr.write('x' * 100_000 + '\\n')\nraise KeyError('k')", "failed",
            "KeyError: 'k'"),
    }
    results = run_many([source for source, _, _ in cases.values()], workers=2, timeout_s=2.0, memory_mb=256,
                       output_kb=64)
    for (name, (_, status, reason)), result in zip(cases.items(), results):
        assert (result.status, result.reason) == (status, reason), name
        assert result.stderr.endswith("more bytes cut]") or status == "timeout", name


def run_bpf(program: list[bytes], nr: int, arch: int, arg0: int) -> int:
    """Reference: a direct interpreter of the classic-BPF subset the filter uses, on seccomp_data."""
    import struct

    data = struct.pack("<iIQ6Q", nr, arch, 0, arg0, 0, 0, 0, 0, 0)
    acc, pc = 0, 0
    while True:
        code, jt, jf, k = struct.unpack("HBBI", program[pc])
        if code == 0x20:  # ld [k]
            acc = struct.unpack_from("<I", data, k)[0]
            pc += 1
        elif code in (0x15, 0x35, 0x45):  # jeq, jge, jset
            taken = {0x15: acc == k, 0x35: acc >= k, 0x45: bool(acc & k)}[code]
            pc += 1 + (jt if taken else jf)
        elif code == 0x06:  # ret
            return k
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")


def test_the_seccomp_program_matches_its_policy_on_random_calls():
    import random

    from vigor.sandbox import _seccomp

    seed = random.randrange(2**32)
    rng = random.Random(seed)
    allow, eperm, enosys = 0x7FFF0000, 0x00050000 | 1, 0x00050000 | 38
    for machine, (arch, numbers) in _seccomp.ARCHITECTURES.items():
        program = _seccomp.build_filter(machine)
        denied = {numbers[name] for name in _seccomp.DENIED}
        calls = list(numbers.values()) + [rng.randrange(0, 600) for _ in range(300)]
        for nr in calls:
            arg0 = rng.choice([17, 0x10000000 | 17, 0x00020000, 0x40000000 | 17, rng.getrandbits(64)])
            if nr in denied:
                expected = eperm
            elif nr == numbers["clone3"]:
                expected = enosys
            elif nr == numbers["clone"]:
                expected = eperm if arg0 & 0xFFFFFFFF & _seccomp.CLONE_NEW_FLAGS else allow
            else:
                expected = allow
            assert run_bpf(program, nr, arch, arg0) == expected, (seed, machine, nr, hex(arg0))
        assert run_bpf(program, 1, 0x40000003, 0) == eperm  # a foreign ABI (i386 int 0x80)
        if machine == "x86_64":
            assert run_bpf(program, 0x40000000 | 1, arch, 0) == eperm  # x32
