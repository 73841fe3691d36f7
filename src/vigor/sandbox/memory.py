"""A sample's memory bounded as a whole, and all samples running at once bounded by a share of the machine.

Per sample, one of (`memory_mode()` says which holds here; the preflight prints it):
- "cgroup-v1" / "cgroup-v2": a fresh memory cgroup per sandbox under this process's own (v1: the `memory`
  controller, memory.limit_in_bytes; v2: memory.max with swap off), limit memory_mb. The launcher joins it
  before it forks the program, so every process of the sample is charged to it together; past the limit the
  kernel's OOM killer acts inside that cgroup only, and the result is status "memory".
- "rlimit": no writable memory cgroup (not root, or no controller): per-process address space x process limit
  <= memory_mb, i.e. `rlimit_split`: at most memory_mb // MIN_PROCESS_MB processes, each memory_mb / that.
Across samples: `reserve(mb)` holds a share of MACHINE_SHARE of the machine's memory while a sandbox runs (a
proxy pair reserves both of its sandboxes at once), so no batch of hostile samples, in this process, can bring
in the machine's OOM killer: callers wait for room instead.
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import threading

MACHINE_SHARE = 0.5  # of MemTotal: the most that all sandboxes of this process may hold at once
MIN_PROCESS_MB = 256  # rlimit mode: the address space one Python process needs to start and do real work
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


@functools.lru_cache(maxsize=None)
def memory_mode() -> tuple[str, str | None, str]:
    """(mode, parent folder or None, one line for the preflight), probed once by making a real cgroup."""
    found = _own_cgroup()
    if found is not None:
        mode, parent = found
        try:
            probe = SampleCgroup(mode, parent, 64)
            probe.remove()
            return mode, parent, (f"memory is bounded per sample by a {mode} memory controller (all of a sample's "
                                  "processes together, memory_mb each sandbox; the OOM killer acts inside it)")
        except OSError as err:
            why = f"no writable memory cgroup ({mode} at {parent}: {err.strerror or err})"
    else:
        why = "no memory cgroup controller"
    return "rlimit", None, (f"{why}: memory is bounded per sample by address space per process x process limit "
                            f"<= memory_mb (at most memory_mb // {MIN_PROCESS_MB} processes)")


class SampleCgroup:
    """One sandbox's memory cgroup: made with its limit, joined by the launcher (cgroup.procs), read, removed."""

    def __init__(self, mode: str, parent: str, memory_mb: int):
        self.mode, self.folder = mode, os.path.join(parent, f"vigor-{secrets.token_hex(6)}")
        os.mkdir(self.folder)
        try:
            self._write(_LIMIT_FILE[mode], str(int(memory_mb) << 20))
            if mode == "cgroup-v2" and os.path.exists(os.path.join(self.folder, "memory.swap.max")):
                self._write("memory.swap.max", "0")
        except OSError:
            self.remove()
            raise

    @property
    def procs(self) -> str:
        return os.path.join(self.folder, "cgroup.procs")

    def _write(self, name: str, text: str) -> None:
        with open(os.path.join(self.folder, name), "w", encoding="ascii") as f:
            f.write(text)

    def hit_limit(self) -> bool:
        """Did the kernel kill a process of this sample for memory (or refuse it memory)?"""
        try:
            name = "memory.oom_control" if self.mode == "cgroup-v1" else "memory.events"
            with open(os.path.join(self.folder, name), encoding="ascii") as f:
                fields = dict(line.split() for line in f if line.strip())
            if int(fields.get("oom_kill", 0)) > 0:
                return True
            if self.mode == "cgroup-v1":
                with open(os.path.join(self.folder, "memory.failcnt"), encoding="ascii") as f:
                    return int(f.read().strip() or 0) > 0
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
                threading.Event().wait(0.02)


def machine_mb() -> int:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) // 1024
    except (OSError, ValueError):
        pass
    return 4096  # unknown: assume a small machine


class _Budget:
    def __init__(self, total_mb: int):
        self.total_mb, self.used_mb, self.cond = total_mb, 0, threading.Condition()

    def check_fits(self, mb: int) -> None:
        if mb > self.total_mb:
            raise ValueError(f"sandbox memory: {mb} MB for one sample is more than {MACHINE_SHARE:.0%} of this "
                             f"machine's memory ({self.total_mb} MB); lower memory_mb")

    @contextlib.contextmanager
    def reserve(self, mb: int):
        self.check_fits(mb)
        with self.cond:
            self.cond.wait_for(lambda: self.used_mb + mb <= self.total_mb)
            self.used_mb += mb
        try:
            yield
        finally:
            with self.cond:
                self.used_mb -= mb
                self.cond.notify_all()


BUDGET = _Budget(int(machine_mb() * MACHINE_SHARE))


def check_fits(mb: int) -> None:
    """ValueError when one sample alone would need more than the machine share."""
    BUDGET.check_fits(int(mb))


def reserve(mb: int):
    """Hold `mb` of the machine share while a sandbox (or a pair: pass both) runs; waits for room."""
    return BUDGET.reserve(int(mb))
