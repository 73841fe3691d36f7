"""`vigor sandbox check` (is OS isolation available here?) and `vigor sandbox run FILE`."""

from __future__ import annotations

import sys


def register(subparsers) -> None:
    parser = subparsers.add_parser("sandbox", help="check or try the sandbox that runs model-written code")
    actions = parser.add_subparsers(dest="sandbox_command", metavar="ACTION")
    actions.required = True
    check = actions.add_parser("check", help="say whether OS isolation works on this machine (exit 1 if not)")
    check.set_defaults(func=check_command)
    run = actions.add_parser("run", help="run a Python file in the sandbox and print the result")
    run.add_argument("file", help="Python source file (treated as hostile)")
    run.add_argument("--timeout-s", type=float, default=10.0, help="wall-clock limit in seconds (default 10)")
    run.add_argument("--memory-mb", type=int, default=1024, help="address-space limit per process (default 1024)")
    run.add_argument("--allow-weak", action="store_true",
                     help="run even without OS isolation (unsafe: no network, file system or process protection)")
    run.set_defaults(func=run_command)


def check_command(args) -> int:
    from vigor.sandbox import isolation_gaps, isolation_problem

    problem = isolation_problem()
    if problem:
        print(f"sandbox: OS isolation unavailable: {problem}")
        return 1
    gaps = isolation_gaps()
    seccomp = "no seccomp filter" if any(g.startswith("no seccomp") for g in gaps) else "seccomp filter"
    print("sandbox: OS isolation available (PID, network, mount, IPC and UTS namespaces; "
          f"read-only private root; unprivileged user; resource limits; {seccomp})")
    for gap in gaps:
        print(f"sandbox: note: {gap}")
    return 0


def run_command(args) -> int:
    from vigor.errors import UsageError
    from vigor.sandbox import SandboxUnavailable, run_python

    try:
        with open(args.file, encoding="utf-8") as f:
            source = f.read()
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(f"cannot read {args.file}: {err}") from None
    try:
        result = run_python(source, timeout_s=args.timeout_s, memory_mb=args.memory_mb, allow_weak=args.allow_weak)
    except (SandboxUnavailable, ValueError) as err:
        raise UsageError(str(err)) from None
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    print(f"sandbox: {result.status} ({result.reason}) in {result.duration_s:.2f} s", file=sys.stderr)
    return 0 if result.passed else 1
