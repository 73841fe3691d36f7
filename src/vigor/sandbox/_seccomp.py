"""A seccomp-BPF filter for sandboxed programs, built with ctypes and prctl (standard library only).

Installed by the sandbox launcher (`_launcher.py`, loaded by path: it runs with -I -S) after the
private root is built and before the program starts; every later process inherits it.

Denied with EPERM, whatever the arguments:
- mount, umount2, pivot_root and the new mount API (open_tree, move_mount, fsopen, fsconfig,
  fsmount, fspick, mount_setattr): no new file systems, e.g. a 12 GB tmpfs beyond disk_mb;
- unshare, setns, and clone with any CLONE_NEW* flag: no new user (or other) namespaces, which
  is where a nested mount would get its privileges;
- keyctl, add_key, request_key: kernel keys are per host uid and would outlive the sample;
- ptrace, bpf, perf_event_open, userfaultfd: kernel attack surface a test never needs;
- memfd_create, memfd_secret, shmget: memory that RLIMIT_AS does not count (memfd pages held
  by a descriptor, SysV segments detached after filling). No cgroup counts them here.
clone3 gets ENOSYS: its flags sit behind a pointer that BPF cannot read, and glibc then falls
back to clone, whose flags are checked. Foreign system-call ABIs (x86 int 0x80, x32) get EPERM,
since their numbers differ from the table below.
"""

import ctypes
import errno
import os
import struct

# Syscall numbers per architecture: (audit arch, {name: number}).
_X86_64 = (0xC000003E, {
    "mount": 165, "umount2": 166, "pivot_root": 155, "open_tree": 428, "move_mount": 429, "fsopen": 430,
    "fsconfig": 431, "fsmount": 432, "fspick": 433, "mount_setattr": 442, "unshare": 272, "setns": 308,
    "keyctl": 250, "add_key": 248, "request_key": 249, "ptrace": 101, "bpf": 321, "perf_event_open": 298,
    "userfaultfd": 323, "memfd_create": 319, "memfd_secret": 447, "shmget": 29, "clone": 56, "clone3": 435,
})
_AARCH64 = (0xC00000B7, {
    "mount": 40, "umount2": 39, "pivot_root": 41, "open_tree": 428, "move_mount": 429, "fsopen": 430,
    "fsconfig": 431, "fsmount": 432, "fspick": 433, "mount_setattr": 442, "unshare": 97, "setns": 268,
    "keyctl": 219, "add_key": 217, "request_key": 218, "ptrace": 117, "bpf": 280, "perf_event_open": 241,
    "userfaultfd": 282, "memfd_create": 279, "memfd_secret": 447, "shmget": 194, "clone": 220, "clone3": 435,
})
ARCHITECTURES = {"x86_64": _X86_64, "aarch64": _AARCH64}
DENIED = ("mount", "umount2", "pivot_root", "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick",
          "mount_setattr", "unshare", "setns", "keyctl", "add_key", "request_key", "ptrace", "bpf",
          "perf_event_open", "userfaultfd", "memfd_create", "memfd_secret", "shmget")
# CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET (CLONE_NEWTIME, 0x80, exists
# only for clone3 and unshare, both denied: in clone's flags that byte is the exit signal).
CLONE_NEW_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000

# BPF opcodes (linux/filter.h) and seccomp return values (linux/seccomp.h).
LD_W_ABS, JEQ_K, JGE_K, JSET_K, RET_K = 0x20, 0x15, 0x35, 0x45, 0x06
RET_ALLOW, RET_ERRNO = 0x7FFF0000, 0x00050000
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
X32_SYSCALL_BIT = 0x40000000
# struct seccomp_data: int nr; __u32 arch; __u64 ip; __u64 args[6] (little-endian: low word first)
OFFSET_NR, OFFSET_ARCH, OFFSET_ARG0_LOW = 0, 4, 16


def build_filter(machine: str) -> list[bytes]:
    """The filter program as a list of `struct sock_filter`s for this machine's architecture."""
    if machine not in ARCHITECTURES:
        raise OSError(errno.ENOSYS, f"no seccomp table for the {machine} architecture")
    arch, numbers = ARCHITECTURES[machine]
    # (opcode, jump-if-true label, jump-if-false label, k); labels name the "ret" lines below.
    code = [(LD_W_ABS, None, None, OFFSET_ARCH), (JEQ_K, None, "eperm", arch),
            (LD_W_ABS, None, None, OFFSET_NR)]
    if machine == "x86_64":
        code.append((JGE_K, "eperm", None, X32_SYSCALL_BIT))
    code += [(JEQ_K, "eperm", None, nr) for nr in sorted({numbers[name] for name in DENIED})]
    code += [(JEQ_K, "enosys", None, numbers["clone3"]), (JEQ_K, None, "allow", numbers["clone"]),
             (LD_W_ABS, None, None, OFFSET_ARG0_LOW), (JSET_K, "eperm", "allow", CLONE_NEW_FLAGS)]
    returns = {"allow": RET_ALLOW, "eperm": RET_ERRNO | errno.EPERM, "enosys": RET_ERRNO | errno.ENOSYS}
    position = {label: len(code) + i for i, label in enumerate(returns)}
    offset = lambda label, at: 0 if label is None else position[label] - at - 1  # noqa: E731 (forward only)
    program = [struct.pack("HBBI", op, offset(jt, i), offset(jf, i), k) for i, (op, jt, jf, k) in enumerate(code)]
    return program + [struct.pack("HBBI", RET_K, 0, 0, value) for value in returns.values()]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]


def install() -> None:
    """Set no_new_privs and install the filter on this process (inherited by children); OSError if impossible."""
    program = build_filter(os.uname().machine)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
    code = b"".join(program)
    fprog = _SockFprog(len(program), code)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, None, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_NO_NEW_PRIVS): {errno.errorcode.get(err, err)}")
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.cast(ctypes.pointer(fprog), ctypes.c_void_p), 0, 0):
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_SECCOMP): {errno.errorcode.get(err, err)}")
