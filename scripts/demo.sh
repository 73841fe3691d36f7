#!/usr/bin/env bash
# Set up .venv (if needed) and run the main job: `vigor demo` on the embedded model, offline.
# Each run gets its own folder under runs/; extra arguments go to `vigor demo`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/bootstrap.sh"
cd "$root"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
exec .venv/bin/vigor demo --output-dir "runs/demo-$(date +%Y%m%d-%H%M%S)" "$@"
