#!/usr/bin/env bash
# The paper's sorting experiment at the paper's scale, for a GPU machine (one `run` call of
# the device tool): builds against the machine's PyTorch like scripts/gpu-check.sh, trains one
# model per length and memory as the paper's released code does (d_model 300, 3 layers, 6
# heads, FFN 300, segments of 1,024, N = M = 512, τ = 0.75, λ = 1, widths {0.01, 0.05}, no
# sticky memories, Adam lr 2e-4 without warm-up, cosine, batch 8), evaluates each model at
# every length (teacher-forced, free-running, exact match) and copies the models (bf16),
# logs and the table to $OUT (default build/gpu-sorting-out).
#   scripts/gpu-sorting.sh [STEPS]    (default 20000, the paper's; LENGTHS="4096 8192 16384")
# The runs of one length go in parallel; each run stops at its step budget or when
# TIME_LIMIT seconds (default 420) have passed, and a stopped run is resumable: the same
# command continues it (checkpoints every 250 steps under $RUNS).
set -uo pipefail
cd "$(dirname "$0")/.." || exit
steps=${1:-20000}
build=${BUILD:-build/gpu-full}
out=${OUT:-build/gpu-sorting-out}
runs=${RUNS:-build/gpu-sorting-runs}
lengths=${LENGTHS:-"4096 8192 16384"}
limit=${TIME_LIMIT:-420}
mkdir -p "$out" "$runs"

nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
if [ ! -x "$build/train/infmem-train" ]; then
  scripts/gpu-build.sh "$build" >"$out/build.log" 2>&1 || { tail -n 30 "$out/build.log"; exit 1; }
fi
# shellcheck disable=SC1091
[ -f "$build/env.sh" ] && source "$build/env.sh"
train="$build/train/infmem-train"
paper=(--task=sorting-paper --device=cuda --threads=4 --dim=300 --layers=3 --heads=6
       --segment_length=1024 --num_basis=512 --num_samples=512 --tau=0.75 --ridge_lambda=1.0
       --sticky=false --batch=8 --steps="$steps" --warmup=0 --lr=2e-4 --log_every=50
       --checkpoint_every=250 --length_spread=1024 --seed=1)

for len in $lengths; do
  for memory in infinite window; do
    name="paper-$len-$memory"
    resume=()
    [ -f "$runs/$name/optimizer.pt" ] && resume=(--resume)
    timeout "$limit" "$train" train "${paper[@]}" --memory=$memory --length="$len" \
      --out="$runs/$name" "${resume[@]}" >"$out/$name.log" 2>&1 &
  done
  wait
  for memory in infinite window; do tail -n 2 "$out/paper-$len-$memory.log"; done
done

lengths_csv=$(echo "$lengths" | tr ' ' ',')
for len in $lengths; do
  for memory in infinite window; do
    name="paper-$len-$memory"
    [ -f "$runs/$name/model.safetensors" ] || continue
    "$train" export --model_dir="$runs/$name" --out="$out/models/$name" --weights=bf16
    "$train" eval --task=sorting-paper --device=cuda --model_dir="$runs/$name" \
      --lengths="$lengths_csv" --eval_count=200 | tee -a "$out/table.md"
  done
done
