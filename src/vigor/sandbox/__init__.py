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
- Limits (setrlimit): CPU seconds, address space, processes (fork bombs), file size,
  open files, no core dumps; wall-clock timeout after which the whole process group, and with
  it the PID namespace, is killed. stdout/stderr are cut to a cap while being drained.
- Environment: only PATH, LANG, HOME and TMPDIR. The caller's own interpreter (its base
  installation, not the virtual environment: same Python version, always present) runs with
  -I (isolated: no PYTHON* variables, no user site), -S (standard library only: no
  site-packages on sys.path) and -B (no .pyc writes).
- System calls (seccomp, `_seccomp.py`): mount, unshare, setns, new namespaces, kernel keys,
  ptrace, bpf, perf events, memfd_create and SysV shmget are denied with EPERM.
- Output: stdout/stderr keep their first output_kb and the reason comes from the end of
  stderr, so a flood never hides the cause.
Memory (`memory.py`): a sample's processes together are bounded by memory_mb (a memory cgroup per
sandbox where one is writable, else processes x address space <= memory_mb), and all sandboxes of
all of this user's vigor processes at once by half of the machine's memory (a reservation shared
through a file; with a cgroup, also the kernel: every sample's cgroup is a child of one limited
parent). Known gap: the Python installation's files are readable (read-only). `isolation_gaps()`
states which memory bound holds and what is not enforced.

Grading (`proxy.run_tests_with_proxy`): the model-written code and the tests run in two
separate sandboxes; the tests call the solution through proxies that return exact builtin
plain data only, and only the test process can signal that the tests ended. docs/sandbox.md.

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
    isolation_gaps,
    isolation_problem,
    run_many,
    run_python,
)
from vigor.sandbox.proxy import ProxyResult, free_names, run_tests_with_proxy

__all__ = [
    "FORCE_WEAK_ENV",
    "SandboxLimits",
    "SandboxResult",
    "SandboxUnavailable",
    "ProxyResult",
    "free_names",
    "isolation_available",
    "isolation_gaps",
    "isolation_problem",
    "run_many",
    "run_python",
    "run_tests_with_proxy",
]
