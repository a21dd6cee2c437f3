#!/usr/bin/env bash
# The paper's sorting experiment at the scale two CPU cores train in about an hour
# (docs/results.md, "The paper's sorting task"): the generator and metric of the paper's
# released code (--task=sorting-paper), one model per length, gradients through the segment(s)
# holding the answer only, no sticky memories, each step's length drawn from
# [length, length + L] so the separator falls at every phase of a segment. Trains the 4,096
# pair (infinite and window, at once, one thread each), then the 16,384 pair, each started
# from the 4,096 model of its kind (a fresh optimizer; same data stream at the longer length),
# ships all four under models/sorting-paper-*. The 16,384 runs take 100 steps: what the
# budget left (a step there reads 4 times the tokens of a 4,096 step).
#   scripts/train-sorting-paper.sh        (about 70 minutes on two cores)
source "$(dirname "$0")/train-common.sh"
build_trainer
model=(--dim=64 --layers=2 --heads=4 --segment_length=256 --num_basis=128 --num_samples=128
       --tau=0.75 --ridge_lambda=1.0 --sticky=false)
schedule=(--task=sorting-paper --batch=8 --warmup=0 --lr=1e-3 --length_spread=256
          --log_every=20 --checkpoint_every=50 --seed=1)
train_pair sorting-paper-4k "${model[@]}" "${schedule[@]}" --length=4096 --steps=1000

# finetune_run NAME FROM ARGS...: like train_run, starting from the weights of $RUNS/FROM.
finetune_run() {
  local name=$1 from=$2
  shift 2
  if [ -f "$RUNS/$name/optimizer.pt" ]; then
    train_run "$name" "$@"
  else
    mkdir -p "$RUNS"
    "$TRAIN" finetune --model_dir="$RUNS/$from" --out="$RUNS/$name" --freeze=none \
      --threads="$THREADS" "$@" >"$RUNS/$name.log" 2>&1 || { tail -n 20 "$RUNS/$name.log" >&2; return 1; }
    tail -n 1 "$RUNS/$name.log"
  fi
}
finetune_run sorting-paper-16k-infinite sorting-paper-4k-infinite "${schedule[@]}" \
  --length=16384 --steps=100 &
first=$!
finetune_run sorting-paper-16k-window sorting-paper-4k-window "${schedule[@]}" \
  --length=16384 --steps=100 &
second=$!
wait "$first"
wait "$second"

for len in 4k 16k; do
  ship "sorting-paper-$len-infinite" "sorting-paper-$len"
  ship "sorting-paper-$len-window" "sorting-paper-$len-window"
done
