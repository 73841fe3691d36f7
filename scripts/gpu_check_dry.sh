#!/usr/bin/env bash
# The CPU dry run of scripts/gpu_check.sh, installed the device way: proves that the carried
# wheels plus what the device image holds are all the script imports, without a GPU.
#   1. a bare virtualenv holding only packages the device image has (its package list, as the
#      device tool documents it): torch (here the 2.13.0 CPU build), transformers 5.17.0, accelerate 1.15.0,
#      huggingface_hub 1.33.0, tokenizers 0.23.2, peft and the image's other packages that vigor's
#      code path imports (found by listing sys.modules in every process of a .venv dry run);
#   2. fetch_device_wheels.sh for this Python, installed with `pip install --target` as on the device;
#   3. GPU_CHECK_DRY=1 bash scripts/gpu_check.sh with PYTHONPATH=src:<target>, nothing from the .venv.
# Needs network (PyPI) for steps 1 and 2 and a few minutes. Usage, from the repository root:
#   bash scripts/gpu_check_dry.sh          (DRY_DIR, default /tmp/vigor-gpu-check-dry, holds everything)
set -euo pipefail

DIR="${DRY_DIR:-/tmp/vigor-gpu-check-dry}"
PY_BIN="${DRY_PYTHON:-python3}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"  # this project's machines take the CPU build from a file on disk
PY_VERSION=$("$PY_BIN" -c "import sys; print('.'.join(map(str, sys.version_info[:2])))")
IMAGE_PACKAGES=(transformers==5.17.0 accelerate==1.15.0 huggingface_hub==1.33.0 tokenizers==0.23.2 safetensors==0.8.0
                peft jinja2 markupsafe pyyaml anyio certifi charset-normalizer cloudpickle cycler filelock fonttools
                fsspec h11 httpcore httpx idna kiwisolver matplotlib mpmath networkx opt-einsum packaging pandas
                pillow protobuf psutil pyarrow pyparsing python-dateutil regex requests rich scipy setuptools six
                sympy tabulate tqdm typing-extensions urllib3 xxhash typer click)

rm -rf "$DIR" && mkdir -p "$DIR"
"$PY_BIN" -m venv "$DIR/venv"
"$DIR/venv/bin/python" -m pip install -q "$TORCH_SPEC"
"$DIR/venv/bin/python" -m pip install -q "${IMAGE_PACKAGES[@]}"
WHEEL_DIR="$DIR/wheels" PY_VERSION="$PY_VERSION" BUILD_PYTHON="$PY_BIN" bash scripts/fetch_device_wheels.sh
"$DIR/venv/bin/python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$DIR/site" "$DIR"/wheels/*.whl
GPU_CHECK_DRY=1 PYTHON="$DIR/venv/bin/python" PYTHONPATH="$PWD/src:$DIR/site" TOKENIZER_DIR="$DIR/wheels/smollm2-tokenizer" \
    OUT="$DIR/out" WORK="$DIR/work" bash scripts/gpu_check.sh
