#!/usr/bin/env bash
# The GPU checks, for a machine with an NVIDIA GPU and a Python PyTorch with CUDA but none of
# our other dependencies: builds the full project against that PyTorch's LibTorch with
# scripts/gpu-build.sh (Debian packages fetched beforehand by scripts/gpu-bundle.sh into
# .gpu-debs/), then runs the model tests on cuda, model-bench (batched decode, context
# lengths), infmem-bench against an infmem-server on cuda, and a random-weight checkpoint of
# TinyLlama-1.1B's shape imported in each memory mode (model-bench --model_dirs). Each step's
# log goes to LOGS (default build/gpu-logs) and its tail to stdout; a failed step does not stop
# the next.
#   scripts/gpu-check.sh            (BUILD=build/gpu-full, LOGS=build/gpu-logs)
set -uo pipefail
cd "$(dirname "$0")/.." || exit
build=${BUILD:-build/gpu-full}
logs=${LOGS:-build/gpu-logs}
mkdir -p "$logs"

step() {  # step NAME TIMEOUT COMMAND...: runs it, logs it, prints its tail and exit status
  local name=$1 limit=$2
  shift 2
  echo "== $name ($(date +%T))"
  timeout "$limit" "$@" >"$logs/$name.log" 2>&1
  local rc=$?
  tail -n "${TAIL:-30}" "$logs/$name.log"
  echo "== $name: exit $rc"
  return $rc
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda)'

if ! step build 330 scripts/gpu-build.sh "$build"; then
  # Build what still builds: the model core may compile where the server does not.
  step build-rest 120 cmake --build "$build" -j "$(nproc)" --target model-bench model_test \
    infmem-server infmem-bench -- -k 0
fi
# shellcheck disable=SC1091
[ -f "$build/env.sh" ] && source "$build/env.sh"

# Most telling first: the device's time may run out before the last step.
if [ -x "$build/bench/infmem-bench" ] && [ -x "$build/server/infmem-server" ]; then
  step infmem-bench-cuda 150 "$build/bench/infmem-bench" --device=cuda --threads=4 \
    --server_binary="$build/server/infmem-server" --sessions=1,8,32,64 --new_tokens=256 \
    --history_tokens=262144
fi
if [ -x "$build/bench/model-bench" ]; then
  step model-bench-cuda 90 "$build/bench/model-bench" --device=cuda --threads=4 \
    --batches=1,8,32,64 --contexts=1024,65536 --full_contexts=1024,4096
fi
if [ -x "$build/tests/model_test" ]; then
  INFMEM_TEST_DEVICE=cuda step model-test-cuda 90 "$build/tests/model_test"
fi
# An imported checkpoint of TinyLlama-1.1B's shape (random weights, bf16, two shards) in each
# memory mode: written by the Python reference writer, converted, timed on the GPU.
if [ -x "$build/train/infmem-convert" ] && [ -x "$build/bench/model-bench" ]; then
  tl=${TINYLLAMA_DIR:-build/tinyllama}
  step tinyllama-write 120 python3 tests/model/hf_llama_reference.py write --out "$tl/hf" \
    --seed 1 --shape tinyllama --dtype bfloat16 --shards 2 \
    --tokenizer models/brown-lm/tokenizer.model
  for m in full window infinite; do
    step "tinyllama-convert-$m" 120 "$build/train/infmem-convert" --hf_dir="$tl/hf" \
      --out="$tl/$m" --memory=$m --segment_length=1024 --num_basis=512 --num_samples=512
  done
  step tinyllama-bench-cuda 240 "$build/bench/model-bench" --device=cuda --threads=4 \
    --model_dirs="$tl/full,$tl/window,$tl/infinite" --contexts=1024,4096 --decode_steps=50
fi
