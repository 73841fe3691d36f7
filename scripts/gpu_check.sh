#!/usr/bin/env bash
# The GPU measurements issue 10 left unmeasured, in one run on a machine with one CUDA GPU
# (no network needed). Writes everything under $OUT (default ./gpu_check_out):
#   env.txt                      GPU, driver, torch / transformers / trl versions
#   gradnorm-<shape>.json/.txt   vigor bench gradnorm at Qwen2.5-1.5B and 7B shapes (bf16)
#   step-<engine>.json/.txt      vigor bench step, VIGOR vs random reward, for each rollout engine:
#                                plain generate, static cache, static cache + torch.compile,
#                                continuous batching (paged) -- the issue's shape: a random-weight
#                                SmolLM2-1.7B-shaped Llama in bf16, 4 prompts x G=8, 256 new tokens
#   fsdp2-train.txt              a 2-step `vigor train` under the FSDP2 accelerate recipe (1 process)
#   summary.txt                  the tables, one after another
# Usage: OUT=/some/dir bash scripts/gpu_check.sh        (run from the repository root, .venv built)
# STEPS / WARMUP change the number of timed / untimed steps (default 3 / 2).
set -uo pipefail

OUT="${OUT:-gpu_check_out}"
PY="${PYTHON:-.venv/bin/python}"
STEPS="${STEPS:-3}"
WARMUP="${WARMUP:-2}"
mkdir -p "$OUT"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false

if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "gpu_check.sh: error: no CUDA GPU visible to torch ($PY); this script measures GPU speed" >&2
    exit 2
fi

{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    "$PY" -c "import torch, transformers, trl; print('torch', torch.__version__, 'cuda', torch.version.cuda); print('transformers', transformers.__version__, 'trl', trl.__version__)"
    date -u
} > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

status=0
run() {  # run NAME CMD...: output to $OUT/NAME.txt, appended to summary; a failure is recorded, not fatal
    local name="$1"; shift
    echo "== $name: $*" | tee -a "$OUT/summary.txt"
    local start=$SECONDS
    if "$@" > "$OUT/$name.txt" 2>&1; then
        grep -v -e "Warning" -e "warn" -e "^{" -e "it/s]" "$OUT/$name.txt" | tail -15 | tee -a "$OUT/summary.txt"
    else
        echo "FAILED (exit $?), see $name.txt" | tee -a "$OUT/summary.txt"
        tail -5 "$OUT/$name.txt"
        status=1
    fi
    echo "   ($((SECONDS - start)) s)" | tee -a "$OUT/summary.txt"
}

# 1. The gradient-norm engine at the recipes' scales.
for shape in qwen2.5-1.5b qwen2.5-7b; do
    run "gradnorm-$shape" "$PY" -m vigor.cli bench gradnorm --shape "$shape" --device cuda --repeats 3 \
        --methods bc --json "$OUT/gradnorm-$shape.json"
done

# 2. A random-weight SmolLM2-1.7B-shaped Llama with the real SmolLM2 tokenizer (the embedded model's).
MODEL="$OUT/smollm2-1.7b-random"
"$PY" - "$MODEL" <<'EOF' || { echo "gpu_check.sh: error: could not build the benchmark model" >&2; exit 1; }
import sys, torch
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
from vigor.models import load_model_and_tokenizer
_, tokenizer = load_model_and_tokenizer(None)  # the embedded SmolLM2 tokenizer (pad distinct from EOS)
config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=2048, intermediate_size=8192, num_hidden_layers=24,
                     num_attention_heads=32, num_key_value_heads=32, max_position_embeddings=8192,
                     rope_theta=130000, tie_word_embeddings=True, pad_token_id=tokenizer.pad_token_id,
                     bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
torch.manual_seed(0)
model = LlamaForCausalLM(config).to(torch.bfloat16)
model.generation_config.pad_token_id = tokenizer.pad_token_id
model.save_pretrained(sys.argv[1])
tokenizer.save_pretrained(sys.argv[1])
EOF

# 3. GRPO step by phase for each rollout engine (the issue's shape). min_new_tokens is not set: a
#    random model stops at EOS by chance, so compare tokens/s as well as seconds.
SHAPE=(--model "$MODEL" --max-samples 64 --per-device-train-batch-size 32 --num-generations 8
       --max-completion-length 256 --bf16 true --model-dtype bfloat16 --gradient-checkpointing true
       --disable-tqdm true --steps "$STEPS" --warmup-steps "$WARMUP")
run step-plain "$PY" -m vigor.cli bench step "${SHAPE[@]}" --json "$OUT/step-plain.json"
run step-static "$PY" -m vigor.cli bench step "${SHAPE[@]}" --cache-implementation static \
    --json "$OUT/step-static.json"
run step-static-compiled "$PY" -m vigor.cli bench step "${SHAPE[@]}" --cache-implementation static \
    --compile-generation true --json "$OUT/step-static-compiled.json"
run step-continuous-batching "$PY" -m vigor.cli bench step "${SHAPE[@]}" \
    --use-transformers-continuous-batching true --json "$OUT/step-continuous-batching.json"

# 4. `vigor train` under FSDP2 through accelerate (one GPU, one shard: exercises the training path;
#    `accelerate launch` starts it under torchrun, so accelerate turns FSDP on even for one process).
#    The run must say "vigor train: FSDP2 over 1 process" (else FSDP was off) and save a whole model.
#    (2 CPU processes run the same path in tests/training/test_fsdp2_train.py.)
run fsdp2-train "$(dirname "$PY")/accelerate" launch --config_file recipes/accelerate/fsdp2-1gpu.yaml \
    -m vigor.cli train --model "$MODEL" --max-samples 16 --output-dir "$OUT/fsdp2-run" --max-steps 2 \
    --per-device-train-batch-size 8 --num-generations 8 --max-completion-length 64 --save-strategy no \
    --report-to none --model-dtype bfloat16 --reward-dump true --dataset gsm_symbolic
if ! grep -q "vigor train: FSDP2 over 1 process" "$OUT/fsdp2-train.txt" \
        || ! compgen -G "$OUT/fsdp2-run/*.safetensors" > /dev/null; then
    echo "fsdp2-train: FAILED: FSDP2 was not on, or no model weights were saved" | tee -a "$OUT/summary.txt"
    status=1
fi
rm -rf "$OUT/fsdp2-run/"*.safetensors "$MODEL"/*.safetensors  # keep $OUT small

echo "gpu_check.sh: done (status $status); results in $OUT" | tee -a "$OUT/summary.txt"
exit $status
