"""Run model-written Python code safely: `run_python(source)` / `run_many(sources)`.

Threat model: the code is hostile and the caller often runs as root. It may loop forever,
fork-bomb, allocate all memory, fill the disk, print gigabytes, write or read anywhere, open
network connections, signal or kill its parent, read the parent's secrets from its
environment or /proc, or try to outlive its time limit. None of that may harm the caller,
the machine, or the next sample.

Layers (isolated mode, Linux; util-linux `unshare` + `setpriv`, nothing to install):
- Child process only: the code never runs in the caller's interpreter.
- Namespaces (`unshare`): new PID namespace (it sees only its own processes, cannot signal
  the caller), new network namespace (no interfaces up: no internet, not even the host's
  127.0.0.1), new mount, IPC and UTS namespaces. As a non-root caller a user namespace is
  added, so this needs no privileges.
- File system: a private root built from read-only, nosuid, nodev bind mounts of /usr, /lib...
  and the Python installation only (no /etc, /home, /root, /proc, /sys or repository); a fresh
  size-capped tmpfs /tmp is its working folder and home, and disappears with the namespace.
- Privileges: as root, the program runs under a fresh unprivileged uid (one per sample); as a
  non-root caller, with every capability dropped. Always with no_new_privs.
- Limits (setrlimit): CPU seconds, address space (memory), processes (fork bombs), file size,
  open files, no core dumps; wall-clock timeout after which the whole process group, and with
  it the PID namespace, is killed. stdout/stderr are cut to a cap while being drained.
- Environment: only PATH, LANG, HOME and TMPDIR. The caller's own interpreter (its base
  installation, not the virtual environment: same Python version, always present) runs with
  -I (isolated: no PYTHON* variables, no user site), -S (standard library only: no
  site-packages on sys.path) and -B (no .pyc writes).
Known gaps: memory is capped per process (a fork bomb can hold up to max_processes x
memory_mb of address space), there is no seccomp filter on system calls (it may create
nested namespaces, which give it no power over the host), and the Python installation's
files are readable (read-only).

Where isolation cannot be set up (another OS, a locked-down container, or
VIGOR_SANDBOX_FORCE_WEAK=1), `run_python` raises SandboxUnavailable unless the caller passes
allow_weak=True; the weak mode then warns, naming exactly what is not protected.
"""

from vigor.sandbox.runner import (
    FORCE_WEAK_ENV,
    SandboxLimits,
    SandboxResult,
    SandboxUnavailable,
    isolation_available,
    isolation_problem,
    run_many,
    run_python,
)

__all__ = [
    "FORCE_WEAK_ENV",
    "SandboxLimits",
    "SandboxResult",
    "SandboxUnavailable",
    "isolation_available",
    "isolation_problem",
    "run_many",
    "run_python",
]
