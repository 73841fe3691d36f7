"""A sample's memory bounded as a whole, and all samples on the machine at once bounded by a share of it.

Per sample, one of (`memory_mode()` says which holds here; the preflight prints it):
- "cgroup-v1" / "cgroup-v2": a fresh memory cgroup per sandbox (v1: the `memory` controller,
  memory.limit_in_bytes; v2: memory.max with swap off), limit memory_mb. The launcher joins it before it forks
  the program, so every process of the sample is charged to it together; past the limit the kernel's OOM killer
  acts inside that cgroup only, and the result is status "memory".
- "rlimit": no writable memory cgroup (not root, or no controller): per-process address space x process limit
  <= memory_mb, i.e. `rlimit_split`: at most memory_mb // MIN_PROCESS_MB processes, each memory_mb / that.
Across samples, and across processes (the two-process grading runs several workers):
- cgroup modes: every sample's cgroup is a child of one shared parent, SHARED_CGROUP under this process's own
  cgroup (made by whichever vigor process comes first), whose limit is MACHINE_SHARE of the machine, so the
  kernel bounds the sum of all sandboxes of all vigor processes in that cgroup (v1 with use_hierarchy=1).
- both modes: `reserve(mb)` takes mb from a budget of MACHINE_SHARE of the machine kept in one file,
  BUDGET_FILE (a line per running sandbox: pid, process start time, token, MB), read and rewritten under an
  exclusive flock; lines of dead processes are dropped. Callers wait for room, so the kernel limit above is
  only a backstop, and a sample is not killed because of another's memory. The file is per user id (others
  cannot write it): all root callers share one; non-root users each have their own half.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import secrets
import tempfile
import time

MACHINE_SHARE = 0.5  # of the machine's memory: the most that all sandboxes on it may hold at once
MIN_PROCESS_MB = 256  # rlimit mode: the address space one Python process needs to start and do real work
SHARED_CGROUP = "vigor-sandboxes"  # the parent of every sample's cgroup, under the caller's own cgroup
_ROOTS = {"cgroup-v1": "/sys/fs/cgroup/memory", "cgroup-v2": "/sys/fs/cgroup"}
_LIMIT_FILE = {"cgroup-v1": "memory.limit_in_bytes", "cgroup-v2": "memory.max"}


def rlimit_split(memory_mb: int, max_processes: int) -> tuple[int, int]:
    """(processes, MB per process) with processes x MB <= memory_mb, for the mode without a cgroup."""
    processes = max(1, min(int(max_processes), int(memory_mb) // MIN_PROCESS_MB))
    return processes, int(memory_mb) // processes


def _own_cgroup() -> tuple[str, str] | None:
    """(mode, this process's cgroup folder) for the memory controller, v1 first; None when there is none."""
    try:
        with open("/proc/self/cgroup", encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            return "cgroup-v1", _ROOTS["cgroup-v1"] + path
    for line in lines:
        if line.startswith("0::"):
            folder = _ROOTS["cgroup-v2"] + line[3:]
            return ("cgroup-v2", folder) if os.path.exists(os.path.join(folder, "memory.max")) or \
                os.path.exists(os.path.join(folder, "cgroup.subtree_control")) else None
    return None


def _read(path: str) -> str:
    with open(path, encoding="ascii") as f:
        return f.read().strip()


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="ascii") as f:
        f.write(text)


def shared_parent(mode: str, own: str) -> str:
    """SHARED_CGROUP under `own`, made if missing, its limit MACHINE_SHARE of the machine (raises OSError when
    that cannot hold: then the caller falls back to the rlimit mode)."""
    folder = os.path.join(own, SHARED_CGROUP)
    if mode == "cgroup-v2":  # the memory controller must be on for our children and theirs
        _write(os.path.join(own, "cgroup.subtree_control"), "+memory")
    with contextlib.suppress(FileExistsError):
        os.mkdir(folder)
    if mode == "cgroup-v1" and _read(os.path.join(folder, "memory.use_hierarchy")) != "1":
        _write(os.path.join(folder, "memory.use_hierarchy"), "1")  # else the limit would not cover children
    if mode == "cgroup-v2":
        _write(os.path.join(folder, "cgroup.subtree_control"), "+memory")
    limit = share_mb() << 20
    try:
        _write(os.path.join(folder, _LIMIT_FILE[mode]), str(limit))
    except OSError:  # EBUSY: samples of other processes hold more than that now; a lower limit already set is fine
        current = _read(os.path.join(folder, _LIMIT_FILE[mode]))
        if current == "max" or int(current) > limit:
            raise
    return folder


@functools.lru_cache(maxsize=None)
def memory_mode() -> tuple[str, str | None, str]:
    """(mode, parent folder of the samples' cgroups or None, one line for the preflight), probed once by making
    the shared parent and a real sample cgroup in it."""
    found = _own_cgroup()
    across = (f"all sandboxes of this user's vigor processes wait for room in {share_mb()} MB "
              f"({MACHINE_SHARE:.0%} of the machine; {budget_file()})")
    if found is not None:
        mode, own = found
        try:
            parent = shared_parent(mode, own)
            SampleCgroup(mode, parent, 64).remove()
            return mode, parent, (f"memory is bounded per sample by a {mode} memory controller (all of a sample's "
                                  "processes together, memory_mb each sandbox; the OOM killer acts inside it); "
                                  f"{across}, and the kernel bounds their sum by the limit of {parent}")
        except (OSError, ValueError) as err:
            why = f"no writable memory cgroup ({mode} at {own}: {getattr(err, 'strerror', None) or err})"
    else:
        why = "no memory cgroup controller"
    return "rlimit", None, (f"{why}: memory is bounded per sample by address space per process x process limit "
                            f"<= memory_mb (at most memory_mb // {MIN_PROCESS_MB} processes); {across}")


class SampleCgroup:
    """One sandbox's memory cgroup: made with its limit, joined by the launcher (cgroup.procs), read, removed."""

    def __init__(self, mode: str, parent: str, memory_mb: int):
        self.mode, self.folder = mode, os.path.join(parent, f"vigor-{secrets.token_hex(6)}")
        os.mkdir(self.folder)
        try:
            _write(os.path.join(self.folder, _LIMIT_FILE[mode]), str(int(memory_mb) << 20))
            if mode == "cgroup-v2" and os.path.exists(os.path.join(self.folder, "memory.swap.max")):
                _write(os.path.join(self.folder, "memory.swap.max"), "0")
        except OSError:
            self.remove()
            raise

    @property
    def procs(self) -> str:
        return os.path.join(self.folder, "cgroup.procs")

    def hit_limit(self) -> bool:
        """Did the kernel kill a process of this sample for memory (or refuse it memory)?"""
        try:
            name = "memory.oom_control" if self.mode == "cgroup-v1" else "memory.events"
            with open(os.path.join(self.folder, name), encoding="ascii") as f:
                fields = dict(line.split() for line in f if line.strip())
            if int(fields.get("oom_kill", 0)) > 0:
                return True
            if self.mode == "cgroup-v1":
                return int(_read(os.path.join(self.folder, "memory.failcnt")) or 0) > 0
            return int(fields.get("max", 0)) > 0
        except (OSError, ValueError):
            return False

    def remove(self) -> None:
        # The sample's processes are gone (its PID namespace died with the launcher); an empty cgroup goes.
        for _ in range(50):
            try:
                os.rmdir(self.folder)
                return
            except FileNotFoundError:
                return
            except OSError:  # EBUSY: the last process is still being reaped
                time.sleep(0.02)


def machine_mb() -> int:
    """MemTotal, or the own memory cgroup's limit when that is lower (a container's memory)."""
    total = 4096  # unknown: assume a small machine
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            total = next(int(line.split()[1]) // 1024 for line in f if line.startswith("MemTotal:"))
    except (OSError, ValueError, StopIteration):
        pass
    found = _own_cgroup()
    if found is not None:
        with contextlib.suppress(OSError, ValueError):
            total = min(total, int(_read(os.path.join(found[1], _LIMIT_FILE[found[0]]))) >> 20)
    return total


def share_mb() -> int:
    return int(machine_mb() * MACHINE_SHARE)


def budget_file() -> str:
    folder = "/dev/shm" if os.access("/dev/shm", os.W_OK) else tempfile.gettempdir()
    return os.path.join(folder, f"vigor-sandbox-memory-{os.geteuid()}")


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks (field 22 of /proc/PID/stat): a pid reused later differs."""
    try:
        return _read(f"/proc/{pid}/stat").rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


class _Budget:
    """total_mb shared by every process that opens the same file: one line "pid start token MB" per holder."""

    def __init__(self, total_mb: int, path: str):
        self.total_mb, self.path = int(total_mb), path

    def check_fits(self, mb: int) -> None:
        if mb > self.total_mb:
            raise ValueError(f"sandbox memory: {mb} MB for one sample is more than {MACHINE_SHARE:.0%} of this "
                             f"machine's memory ({self.total_mb} MB); lower memory_mb")

    def _update(self, change) -> bool:
        """Under the file's lock: the live holders' lines -> change(lines) -> (done, new lines), written back."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "r+", encoding="ascii") as f:
            fcntl.flock(f, fcntl.LOCK_EX)  # released when the file closes, or when the holder dies
            lines = [ln.split() for ln in f.read().splitlines() if ln.strip()]
            live = [ln for ln in lines if len(ln) == 4 and _start_time(int(ln[0])) == ln[1]]
            done, new = change(live)
            f.seek(0)
            f.truncate()
            f.write("".join(" ".join(ln) + "\n" for ln in new))
        return done

    @property
    def used_mb(self) -> int:
        return sum(int(ln[3]) for ln in self._read_live())

    def _read_live(self) -> list:
        held = []
        self._update(lambda live: (held.extend(live), live))
        return held

    @contextlib.contextmanager
    def reserve(self, mb: int):
        mb = int(mb)
        self.check_fits(mb)
        pid = os.getpid()
        line = [str(pid), str(_start_time(pid)), secrets.token_hex(8), str(mb)]

        def add(live):
            fits = sum(int(ln[3]) for ln in live) + mb <= self.total_mb
            return fits, live + [line] if fits else live

        delay = 0.005
        while not self._update(add):  # wait for room: holders finish, or die and their lines are dropped
            time.sleep(delay)
            delay = min(0.1, delay * 2)
        try:
            yield
        finally:
            self._update(lambda live: (True, [ln for ln in live if ln[2] != line[2]]))


@functools.lru_cache(maxsize=None)
def _machine_budget() -> _Budget:
    return _Budget(share_mb(), budget_file())


def check_fits(mb: int) -> None:
    """ValueError when one sample alone would need more than the machine share."""
    _machine_budget().check_fits(int(mb))


def reserve(mb: int):
    """Hold `mb` of the machine share while a sandbox (or a pair: pass both) runs; waits for room, across
    every vigor process of this user on the machine."""
    return _machine_budget().reserve(int(mb))
