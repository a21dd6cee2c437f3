#!/usr/bin/env bash
# The long-term-memory sweep of docs/results.md: retrains the shipped sorting model
# (models/sorting: N = 64, τ = 0.75) with other τ and N, same data, seed, steps and schedule,
# two runs at a time (one thread each), then evaluates each on the test split. Nothing is
# shipped; runs stay in $RUNS. About 30 minutes per pair at N = 64, 45 at N = 256, on two cores.
# A last run keeps the shipped N and τ and doubles the steps.
#   scripts/sorting-sweep.sh
source "$(dirname "$0")/train-common.sh"
build_trainer
base=(--task=sorting --dim=64 --layers=2 --heads=4 --segment_length=128 --ridge_lambda=1.0
      --length=2048 --batch=6 --steps=3000 --warmup=100 --lr=1e-3 --log_every=50
      --checkpoint_every=250 --seed=1 --memory=infinite)

# sweep_pair NAME1 "ARGS1" NAME2 "ARGS2": trains both runs at once.
sweep_pair() {
  train_run "$1" "${base[@]}" $2 &
  local first=$!
  train_run "$3" "${base[@]}" $4 &
  local second=$!
  local failed=0
  wait "$first" || failed=1
  wait "$second" || failed=1
  return $failed
}

sweep_pair sorting-tau090 "--num_basis=64 --num_samples=64 --tau=0.9" \
  sorting-tau095 "--num_basis=64 --num_samples=64 --tau=0.95"
sweep_pair sorting-n256-tau075 "--num_basis=256 --num_samples=256 --tau=0.75" \
  sorting-n256-tau090 "--num_basis=256 --num_samples=256 --tau=0.9"
# The shipped settings with twice the steps, on both threads (about 50 minutes).
THREADS=2 train_run sorting-steps6000 "${base[@]/--steps=3000/--steps=6000}" --num_basis=64 \
  --num_samples=64 --tau=0.75
for run in sorting-tau090 sorting-tau095 sorting-n256-tau075 sorting-n256-tau090 \
  sorting-steps6000; do
  "$TRAIN" export --model_dir="$RUNS/$run" --out="$RUNS/$run-bf16" --weights=bf16
  "$TRAIN" eval --task=sorting --model_dir="$RUNS/$run-bf16" --lengths=2048,4096,8192,16384 \
    --eval_count=100 --threads=1 --device=cpu
done
