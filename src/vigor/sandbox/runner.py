"""Run one untrusted Python program per call, isolated by Linux namespaces; see __init__."""

from __future__ import annotations

import functools
import ast
import math
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields

from vigor.sandbox import memory

FORCE_WEAK_ENV = "VIGOR_SANDBOX_FORCE_WEAK"  # "1": behave as if OS isolation were unavailable
LAUNCHER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_launcher.py")
# Mounted read-only inside the sandbox (symlinks are copied as symlinks), plus the Python
# installation. Nothing else of the host file system is visible.
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32")
PROGRAM_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/tmp", "TMPDIR": "/tmp"}
WEAK_MODE_GAPS = (
    "NOT protected: the network (the code can open connections, including to local services), "
    "the file system (it can read and write everything your user can, outside its folder too), "
    "other processes (it can signal or kill the caller and read /proc, including other processes' "
    "environment), fork bombs (there is no process cap: RLIMIT_NPROC would count all of your user's "
    "processes), and processes that leave their process group can outlive the timeout. "
    "Only the wall-clock timeout, the CPU, memory and file-size limits, a temporary working folder "
    "and a minimal environment apply."
)


class SandboxUnavailable(RuntimeError):
    """OS isolation cannot be set up here and the caller did not opt in to the weak mode."""


@dataclass
class SandboxResult:
    passed: bool  # exit code 0 within every limit
    status: str  # "passed", "failed", "timeout", "memory" or "error" (the sandbox itself failed)
    reason: str  # one human-readable line
    returncode: int | None  # -N when killed by signal N; None when it never ran
    stdout: str
    stderr: str
    duration_s: float
    isolated: bool = True  # False when it ran in the weak (unprotected) mode


@dataclass(frozen=True)
class SandboxLimits:
    timeout_s: float = 10.0  # wall clock, start-up included; CPU time is capped at ceil(this)+1 s
    memory_mb: int = 1024  # the whole sample: a memory cgroup, else address space x processes (sandbox.memory)
    max_processes: int = 64  # processes and threads of the sandbox user (RLIMIT_NPROC)
    file_size_mb: int = 16  # largest file it may write (RLIMIT_FSIZE)
    disk_mb: int = 64  # total size of its working folder /tmp (a tmpfs)
    output_kb: int = 64  # stdout and stderr are each cut to this

    def __post_init__(self):
        minimum = {"timeout_s": 0.05, "memory_mb": 32, "max_processes": 1, "file_size_mb": 1,
                   "disk_mb": 1, "output_kb": 1}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or value < minimum[f.name]:
                raise ValueError(f"sandbox limit {f.name}={value!r}: must be a number >= {minimum[f.name]}")
            if f.name != "timeout_s" and value != int(value):
                raise ValueError(f"sandbox limit {f.name}={value!r}: must be a whole number")

    def rlimits(self, cgroup: bool = True) -> dict[str, tuple[int, int]]:
        """(soft, hard) per resource. CPU: SIGXCPU at the soft limit, SIGKILL one second later. Without a memory
        cgroup (cgroup=False) the address space and process limits split memory_mb: processes x AS <= memory_mb."""
        cpu_s = math.ceil(self.timeout_s) + 1
        one = lambda value: (value, value)  # noqa: E731
        processes, per_process_mb = ((int(self.max_processes), int(self.memory_mb)) if cgroup
                                     else memory.rlimit_split(self.memory_mb, self.max_processes))
        return {
            "RLIMIT_AS": one(per_process_mb << 20),
            "RLIMIT_CPU": (cpu_s, cpu_s + 1),
            "RLIMIT_NPROC": one(processes),
            "RLIMIT_FSIZE": one(int(self.file_size_mb) << 20),
            "RLIMIT_NOFILE": one(256),
            "RLIMIT_CORE": one(0),
        }


def isolation_problem() -> str | None:
    """Why OS isolation is unavailable here, or None when it works (checked once, by a real run)."""
    if os.environ.get(FORCE_WEAK_ENV, "") not in ("", "0"):
        return f"isolation disabled by the environment variable {FORCE_WEAK_ENV}"
    return _probe_isolation()[0]


def isolation_available() -> bool:
    return isolation_problem() is None




def isolation_gaps() -> list[str]:
    """What the isolated mode does not enforce on this machine, one line each (for the preflight)."""
    if isolation_problem() is not None:
        return []
    seccomp_problem = _probe_isolation()[1]
    if seccomp_problem:
        return [f"no seccomp filter ({seccomp_problem}): the program may mount, create namespaces, kernel keys "
                "(which outlive it) and memfds (which RLIMIT_AS does not count)"]
    return [memory.memory_mode()[2]]


@functools.lru_cache(maxsize=None)
def _probe_isolation() -> tuple[str | None, str | None]:
    """(why isolation is unavailable, why the seccomp filter is): None when it works."""
    if not sys.platform.startswith("linux"):
        return f"Linux namespaces are not available on {sys.platform}", None
    missing = [tool for tool in ("unshare", "setpriv") if shutil.which(tool) is None]
    if missing:
        return f"{' and '.join(missing)} (util-linux) not found on PATH", None
    try:
        result, report = _run_isolated("print(6 * 7)", SandboxLimits(timeout_s=20.0), with_report=True)
    except OSError as err:
        return f"cannot start unshare: {err}", None
    if result.status != "passed" or result.stdout.strip() != "42":
        detail = result.reason if result.status != "passed" else f"unexpected output {result.stdout!r}"
        return f"the namespace sandbox failed its self-test ({detail})", None
    return None, report.get("seccomp_error")


def _require_isolation(allow_weak: bool) -> bool:
    """True: run isolated. False: weak mode (warned). Raises SandboxUnavailable otherwise."""
    problem = isolation_problem()
    if problem is None:
        if _probe_isolation()[1]:
            warnings.warn(f"vigor.sandbox: {isolation_gaps()[0]}", RuntimeWarning, stacklevel=3)
        return True
    if not allow_weak:
        raise SandboxUnavailable(
            f"cannot isolate model-written code: {problem}. Needs Linux with util-linux `unshare` and "
            "`setpriv` and permission to create namespaces (root, or unprivileged user namespaces). "
            "To run it anyway with weaker protection, pass allow_weak=True."
        )
    warnings.warn(f"vigor.sandbox weak mode ({problem}): {WEAK_MODE_GAPS}", RuntimeWarning, stacklevel=3)
    return False


def run_python(source: str, *, timeout_s: float = 10.0, memory_mb: int = 1024, allow_weak: bool = False,
               **limits) -> SandboxResult:
    """Run `source` as a Python program in a fresh sandbox; never raises for anything the program does.

    Extra keyword limits: max_processes, file_size_mb, disk_mb, output_kb (see SandboxLimits).
    """
    if not isinstance(source, str):
        raise TypeError(f"run_python: source must be a str, got {type(source).__name__}")
    settings = SandboxLimits(timeout_s=timeout_s, memory_mb=memory_mb, **limits)
    isolated = _require_isolation(allow_weak)
    with memory.reserve(settings.memory_mb):
        return _run_guarded(source, settings, isolated)


def run_many(sources: list[str], *, workers: int = 2, allow_weak: bool = False, **limits) -> list[SandboxResult]:
    """Run each source in its own sandbox, `workers` at a time; results keep the input order."""
    bad = [i for i, s in enumerate(sources) if not isinstance(s, str)]
    if bad:
        raise TypeError(f"run_many: sources[{bad[0]}] is a {type(sources[bad[0]]).__name__}, not a str")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"run_many: workers={workers!r} must be an integer >= 1")
    settings = SandboxLimits(**limits)
    isolated = _require_isolation(allow_weak)
    memory.check_fits(settings.memory_mb)  # before any sample runs

    def one(source):
        with memory.reserve(settings.memory_mb):
            return _run_guarded(source, settings, isolated)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, sources))


def _run_guarded(source: str, settings: SandboxLimits, isolated: bool, *, program_fds=(), started=None
                 ) -> SandboxResult:
    run = _run_isolated if isolated else _run_weak
    try:
        return run(source, settings, program_fds=program_fds, started=started)
    except OSError as err:  # the machine refused a process (e.g. EAGAIN): this sample fails, the rest go on
        return SandboxResult(False, "error", f"could not start the sandbox: {err}", None, "", "", 0.0, isolated)


def _run_isolated(source: str, settings: SandboxLimits, *, program_fds=(), started=None, with_report=False):
    """One sandboxed run. program_fds: host descriptors the program gets as 3, 4, ...; started(proc):
    called with the Popen once it runs (to stop it early). with_report: also return the launcher's report."""
    mode, parent, _ = memory.memory_mode()
    cgroup = memory.SampleCgroup(mode, parent, settings.memory_mb) if parent else None  # the sample's memory
    staging = tempfile.mkdtemp(prefix="vigor-sandbox-")  # mode 700; holds main.py and the root mount point
    status_read, status_write = os.pipe()
    try:
        with open(os.path.join(staging, "main.py"), "w", encoding="utf-8") as f:
            f.write(source)
        os.mkdir(os.path.join(staging, "root"))
        as_root = os.geteuid() == 0
        # A fresh uid per sample keeps RLIMIT_NPROC (counted per uid) from coupling concurrent samples.
        uid = (1 << 24) + secrets.randbelow(1 << 24) if as_root else 0
        python = os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)
        setpriv = os.path.realpath(shutil.which("setpriv"))
        config = {
            "root": os.path.join(staging, "root"), "program": os.path.join(staging, "main.py"),
            "system_paths": SYSTEM_PATHS, "read_only_paths": _extra_read_only_paths(python, setpriv),
            "uid": uid, "gid": uid, "switch_user": as_root, "disk_mb": int(settings.disk_mb),
            "rlimits": settings.rlimits(cgroup=cgroup is not None), "setpriv": setpriv, "python": python,
            "env": PROGRAM_ENV,
            "status_fd": status_write, "program_fds": list(program_fds),
            "cgroup_procs": cgroup.procs if cgroup else None,
        }
        namespaces = ["--mount", "--pid", "--net", "--ipc", "--uts", "--fork", "--kill-child"]
        if not as_root:
            namespaces.append("--map-root-user")
        argv = [shutil.which("unshare"), *namespaces, sys.executable, "-I", "-S", "-B", LAUNCHER, repr(config)]
        run = _execute(argv, settings, pass_fds=(status_write, *program_fds), started=started)
        os.close(status_write)  # the launcher has exited: its report is in the pipe, read to EOF
        status_write = None
        report = _parse_report(_read_all(status_read))
        out_of_memory = cgroup is not None and cgroup.hit_limit()
    finally:
        if cgroup is not None:
            cgroup.remove()
        os.close(status_read)
        if status_write is not None:
            os.close(status_write)
        shutil.rmtree(staging, ignore_errors=True)
    result = _isolated_result(report, run, settings)
    if out_of_memory and not result.passed and result.status != "error":
        result = _result("memory", f"memory limit of {settings.memory_mb} MB for the sample exceeded "
                         f"({mode}: a process was killed or refused memory)", result.returncode, run, isolated=True)
    return (result, report) if with_report else result


def _isolated_result(report: dict, run: dict, settings: SandboxLimits) -> SandboxResult:
    if "setup_error" in report:
        return _result("error", f"sandbox setup failed: {report['setup_error']}", None, run, isolated=True)
    if run["timed_out"]:
        return _result("timeout", f"timeout after {float(settings.timeout_s)} s (wall clock)", None, run, isolated=True)
    if not report:
        return _result("error", f"sandbox exited early (unshare returned {run['returncode']})", run["returncode"],
                       run, isolated=True)
    code = -report["signal"] if "signal" in report else report["exitcode"]
    return _classify(code, settings, run, isolated=True, cpu_s=report["cpu_s"])


def _parse_report(text: str) -> dict:
    """The launcher's one dict literal; {} when it died before writing it (killed on timeout)."""
    try:
        report = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return {}
    return report if isinstance(report, dict) else {}


def _extra_read_only_paths(python: str, setpriv: str) -> list[str]:
    """The Python installation (and setpriv) when they live outside the system directories."""
    wanted = [os.path.realpath(sys.base_prefix), os.path.dirname(python), os.path.dirname(setpriv)]
    covered = lambda p, roots: any(p == r or p.startswith(r.rstrip("/") + "/") for r in roots)  # noqa: E731
    system = [os.path.realpath(p) for p in SYSTEM_PATHS if os.path.isdir(p) and not os.path.islink(p)]
    extra: list[str] = []
    for path in wanted:
        if not covered(path, system + extra):
            extra.append(path)
    return extra


def _run_weak(source: str, settings: SandboxLimits, *, program_fds=(), started=None) -> SandboxResult:
    workdir = tempfile.mkdtemp(prefix="vigor-sandbox-weak-")
    try:
        with open(os.path.join(workdir, "main.py"), "w", encoding="utf-8") as f:
            f.write(source)
        env = {**PROGRAM_ENV, "HOME": workdir, "TMPDIR": workdir, "PATH": os.defpath}
        run = _execute([sys.executable, "-I", "-S", "-B", "main.py"], settings, cwd=workdir, env=env,
                       preexec_fn=_rlimit_setter(settings), pass_fds=program_fds, started=started)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if run["timed_out"]:
        reason = f"timeout after {float(settings.timeout_s)} s (wall clock)"
        return _result("timeout", reason, None, run, isolated=False)
    return _classify(run["returncode"], settings, run, isolated=False)


def _rlimit_setter(settings: SandboxLimits):
    try:
        import resource
    except ImportError:  # not POSIX: no limits beyond the wall clock
        return None

    # The whole memory_mb per process, not rlimits(cgroup=False)'s split (memory_mb // processes each): the
    # split bounds the sample only together with RLIMIT_NPROC, which this mode cannot apply, so here it would
    # bound nothing and only shrink each process (to 256 MB of the default 1024).
    def apply():
        for name, soft_hard in settings.rlimits().items():
            if name != "RLIMIT_NPROC":  # counted per real uid: would count all of the caller's processes
                resource.setrlimit(getattr(resource, name), soft_hard)

    return apply


def last_error_line(stderr_tail: str) -> str:
    """The line that names the error: the last one of stderr (as written, not as kept: after a flood the
    cause is still at the end) that is not a traceback's header or frame. Processes sharing stderr (a fork
    bomb's children) can leave a dangling "Traceback (most recent call last):" after the real error."""
    lines = [line for line in stderr_tail.splitlines() if line.strip()]
    for line in reversed(lines):
        if not line[0].isspace() and line.strip() != "Traceback (most recent call last):":
            return line.strip()
    return lines[-1].strip() if lines else ""


def _classify(code: int, settings: SandboxLimits, run: dict, *, isolated: bool, cpu_s: float | None = None
              ) -> SandboxResult:
    """Status and one-line reason from the exit code (-N: killed by signal N), CPU seconds and stderr."""
    cpu_limit_s = settings.rlimits()["RLIMIT_CPU"][0]
    last_line = last_error_line(run["stderr_tail"])
    if code == 0:
        return _result("passed", "passed", code, run, isolated)
    if code == -signal.SIGXCPU or (code == -signal.SIGKILL and cpu_s is not None and cpu_s >= cpu_limit_s):
        return _result("timeout", f"CPU time limit of {cpu_limit_s} s exceeded", code, run, isolated)
    if code == -signal.SIGXFSZ:
        return _result("failed", f"file size limit of {settings.file_size_mb} MB exceeded", code, run, isolated)
    if last_line.startswith("MemoryError") or "Cannot allocate memory" in last_line:
        return _result("memory", f"memory limit of {settings.memory_mb} MB exceeded ({last_line})", code, run,
                       isolated)
    if code < 0:
        return _result("failed", f"killed by signal {signal.Signals(-code).name}", code, run, isolated)
    return _result("failed", last_line or f"exit code {code}", code, run, isolated)


def _result(status: str, reason: str, code: int | None, run: dict, isolated: bool) -> SandboxResult:
    return SandboxResult(status == "passed", status, reason, code, run["stdout"], run["stderr"],
                         run["duration_s"], isolated)


def _execute(argv, settings: SandboxLimits, *, pass_fds=(), cwd=None, env=None, preexec_fn=None,
             started=None) -> dict:
    """Start argv in a new session, enforce the wall clock, kill the whole group on timeout."""
    cap = int(settings.output_kb) * 1024
    start = time.monotonic()
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd,
        env=env if env is not None else {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        pass_fds=pass_fds, start_new_session=True, preexec_fn=preexec_fn,
    )
    readers = [_CappedReader(proc.stdout, cap), _CappedReader(proc.stderr, cap)]
    if started is not None:
        started(proc)
    timed_out = False
    try:
        proc.wait(timeout=settings.timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:  # also on KeyboardInterrupt: nothing may outlive the call
        if timed_out or proc.returncode is None:
            _kill_group(proc)
    duration = time.monotonic() - start
    for reader in readers:
        reader.join(timeout=2.0)  # isolated: EOF once the namespace is gone; weak: escapees may hold the pipe
    return {"returncode": proc.returncode, "timed_out": timed_out, "duration_s": duration,
            "stdout": readers[0].text(), "stderr": readers[1].text(), "stderr_tail": readers[1].tail_text()}


def _kill_group(proc: subprocess.Popen) -> None:
    # unshare leads the session; killing it (--kill-child) kills the namespace's PID 1, and the
    # kernel then kills every process in the namespace, including any that called setsid().
    try:
        if hasattr(os, "killpg"):
            os.killpg(proc.pid, signal.SIGKILL)
        else:  # not POSIX (weak mode only): no process groups
            proc.kill()
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _read_bytes(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _read_all(fd: int) -> str:
    return _read_bytes(fd).decode("utf-8", errors="replace")


class _CappedReader(threading.Thread):
    """Drains a pipe so the child never blocks on it, keeping the first `cap` bytes and the last
    TAIL_BYTES (where the traceback that ended a flooding program is)."""

    TAIL_BYTES = 4096

    def __init__(self, pipe, cap: int):
        super().__init__(daemon=True)
        self.pipe, self.cap, self.kept, self.dropped, self.tail = pipe, cap, bytearray(), 0, bytearray()
        self.start()

    def run(self):
        with self.pipe:
            while chunk := self.pipe.read1(65536):
                room = self.cap - len(self.kept)
                self.kept += chunk[:room]
                self.dropped += max(0, len(chunk) - room)
                self.tail = (self.tail + chunk)[-self.TAIL_BYTES:]

    def tail_text(self) -> str:
        return self.tail.decode("utf-8", errors="replace")

    def text(self) -> str:
        out = self.kept.decode("utf-8", errors="replace")
        return out + (f"\n[... {self.dropped} more bytes cut]" if self.dropped else "")
