"""Init process of one sandbox: builds the private file system, then runs the program.

Started by `vigor.sandbox.runner` as `unshare --mount --pid --net --ipc --uts --fork
[--map-root-user] python -I -S -B _launcher.py CONFIG`, so it is PID 1 of a fresh
PID namespace, alone in a fresh mount and network namespace, and (root) privileged there.
It imports only the standard library (it runs with -S, before any site-packages).

Steps:
1. Build a new root on a tiny tmpfs: read-only, nosuid, nodev bind mounts of the system
   directories and of the Python installation only; /dev/{null,zero,random,urandom};
   a size-capped tmpfs at /tmp that holds the program and is its working folder. No /proc,
   no /sys, no /home, /root, /etc or repository. The tmpfs vanishes with the namespace.
2. Move the new root over `/` and chroot into it.
3. Install the seccomp filter of `_seccomp.py` (no mount, unshare, setns, keys, ptrace, bpf,
   perf events or memfd, for this process and all its descendants).
4. Fork. The child moves the descriptors it is given for the program (a proxy channel) to
   3, 4, ..., sets the resource limits, then execs `setpriv`, which drops to an unprivileged
   uid (as root) or drops every capability (in a user namespace), sets no_new_privs, and execs
   `python -I -B /tmp/main.py`.
5. As PID 1 it waits for the child and writes one dict literal to the status fd: exit code or
   signal, CPU seconds, peak RSS, and why seccomp is off if it is. When PID 1 exits the kernel
   kills every process left in the namespace (fork-bomb children, daemons), so nothing
   outlives the sample.
"""

import ctypes
import fcntl
import os
import resource
import sys

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_MOVE, MS_REC, MS_PRIVATE = 32, 4096, 8192, 16384, 1 << 18
# Per-mount flags that an unprivileged (user-namespace) remount must repeat (statvfs f_flag
# uses the same bit values as the MS_* constants for these).
KEEP_FLAGS = MS_NOEXEC | 1024 | 2048 | 4096  # | noatime | nodiratime | relatime

libc = ctypes.CDLL(None, use_errno=True)


def mount(source, target, fstype, flags, data=None):
    enc = lambda s: None if s is None else s.encode()  # noqa: E731
    if libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {source} on {target}: {os.strerror(err)}")


def bind_read_only(host_path, root):
    """Bind `host_path` at the same path under `root`, then make that view read-only."""
    target = root + host_path
    if os.path.isdir(host_path):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        open(target, "a").close()
    mount(host_path, target, None, MS_BIND)
    kept = os.statvfs(target).f_flag & KEEP_FLAGS
    mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | kept)


def build_root(cfg):
    root = cfg["root"]
    with open(cfg["program"], "rb") as f:
        program = f.read()
    mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing we mount leaks back to the host
    mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=755")
    for path in cfg["system_paths"]:
        if os.path.islink(path):  # merged-/usr systems: /bin -> usr/bin
            os.makedirs(os.path.dirname(root + path), exist_ok=True)
            os.symlink(os.readlink(path), root + path)
        elif os.path.exists(path):
            bind_read_only(path, root)
    for path in cfg["read_only_paths"]:
        bind_read_only(path, root)
    for name in ("null", "zero", "random", "urandom"):
        target = f"{root}/dev/{name}"
        os.makedirs(os.path.dirname(target), exist_ok=True)
        open(target, "a").close()
        mount(f"/dev/{name}", target, None, MS_BIND)
    uid, gid = cfg["uid"], cfg["gid"]
    os.makedirs(root + "/tmp")
    options = f"size={cfg['disk_mb']}m,nr_inodes=4096,mode=700,uid={uid},gid={gid}"
    mount("tmpfs", root + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, options)
    with open(root + "/tmp/main.py", "wb") as f:
        f.write(program)
    os.chown(root + "/tmp/main.py", uid, gid)
    mount(None, root, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    os.chdir(root)
    mount(root, "/", None, MS_MOVE)
    os.chroot(".")
    os.chdir("/tmp")


def load_seccomp():
    """The namespace of _seccomp.py, run by path (-I leaves this folder off sys.path) before the chroot hides it."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_seccomp.py")
    with open(path, encoding="utf-8") as f:
        namespace = {"__name__": "vigor_sandbox_seccomp"}
        exec(compile(f.read(), path, "exec"), namespace)
    return namespace


def install_seccomp(seccomp):
    """None, or why the filter could not be installed (reported: the preflight then says so)."""
    try:
        seccomp["install"]()
    except Exception as err:
        return f"{type(err).__name__}: {err}"
    return None


def give_program_fds(fds):
    """Move the program's descriptors to 3, 4, ... (via high numbers, so none overwrites another)."""
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in fds]
    for target, fd in enumerate(high, start=3):
        os.dup2(fd, target)  # inheritable
        os.close(fd)


def exec_program(cfg):
    """In the forked child: descriptors, limits, then setpriv drops privileges and runs the program."""
    give_program_fds(cfg.get("program_fds", []))
    for name, (soft, hard) in cfg["rlimits"].items():
        resource.setrlimit(getattr(resource, name), (soft, hard))
    drop = ["--no-new-privs", "--inh-caps=-all", "--bounding-set=-all"]
    if cfg["switch_user"]:
        drop += [f"--reuid={cfg['uid']}", f"--regid={cfg['gid']}", "--clear-groups"]
    argv = [cfg["setpriv"], *drop, "--", cfg["python"], "-I", "-S", "-B", "/tmp/main.py"]
    os.execve(cfg["setpriv"], argv, cfg["env"])


def main():
    # A Python literal that runner.py builds (nothing in it comes from the program); eval of a
    # literal without builtins, because importing json (and with it re) costs more than the rest.
    cfg = eval(sys.argv[1], {"__builtins__": {}})
    status = os.fdopen(cfg["status_fd"], "w")
    os.set_inheritable(cfg["status_fd"], False)  # the program never sees the status pipe
    try:
        if cfg.get("cgroup_procs"):  # join the sample's memory cgroup first: all the program's processes follow
            with open(cfg["cgroup_procs"], "w") as f:
                f.write(str(os.getpid()))  # read in our own PID namespace: this process
        seccomp = load_seccomp()
        build_root(cfg)
    except Exception as err:  # reported as status "error" by the caller
        status.write(repr({"setup_error": f"{type(err).__name__}: {err}"}))
        return
    seccomp_error = install_seccomp(seccomp)
    pid = os.fork()
    if pid == 0:
        try:
            exec_program(cfg)
        except BaseException as err:  # exec failed: say why on the program's stderr
            os.write(2, f"vigor sandbox: cannot start the program: {err}\n".encode())
        os._exit(127)
    for fd in cfg.get("program_fds", []):  # the peer sees EOF as soon as the program is gone
        os.close(fd)
    _, wait_status, usage = os.wait4(pid, 0)
    report = {"cpu_s": usage.ru_utime + usage.ru_stime, "maxrss_kb": usage.ru_maxrss, "seccomp_error": seccomp_error}
    if os.WIFSIGNALED(wait_status):
        report["signal"] = os.WTERMSIG(wait_status)
    else:
        report["exitcode"] = os.WEXITSTATUS(wait_status)
    status.write(repr(report))
    status.flush()


if __name__ == "__main__":
    main()
