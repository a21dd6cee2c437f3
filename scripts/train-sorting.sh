#!/usr/bin/env bash
# Trains models/sorting (infinite memory) and models/sorting-window (the same model without
# long-term memory, the baseline of docs/results.md) on the paper's sorting task, both runs
# at once (one thread each), then evaluates both as docs/results.md reports.
#   scripts/train-sorting.sh          (about 30 minutes on two cores)
source "$(dirname "$0")/train-common.sh"
build_trainer
args=(--task=sorting --dim=64 --layers=2 --heads=4 --segment_length=128 --num_basis=64
      --num_samples=64 --tau=0.75 --ridge_lambda=1.0 --length=2048 --batch=6 --steps=3000
      --warmup=100 --lr=1e-3 --log_every=50 --checkpoint_every=250 --seed=1)
train_pair sorting "${args[@]}"
ship sorting-infinite sorting
ship sorting-window sorting-window
for m in sorting sorting-window; do
  "$TRAIN" eval --task=sorting --model_dir=models/$m --lengths=2048,4096,8192,16384 --eval_count=100 \
    --threads=1 --device=cpu --oracles
done
