#!/usr/bin/env bash
# The tables of docs/results.md, "The paper's sorting task": every shipped sorting-paper model
# at 4,096, 8,192 and 16,384 symbols (teacher-forced, free-running, exact match) with the
# model-free references, then the phase diagnostic: the 4,096 models at 9 lengths that put the
# separator at every eighth of a segment (L = 256), and the 16,384 infinite model at the same
# phases past 16,384 (50 examples each). Two evaluations at a time, one thread each.
#   scripts/eval-sorting-paper.sh [COUNT]      (COUNT examples per length, default 100)
source "$(dirname "$0")/train-common.sh"
count=${1:-100}
out=${OUT:-build/sorting-paper-eval}
mkdir -p "$out"
eval_model() {  # eval_model NAME LENGTHS [--oracles]
  "$TRAIN" eval --task=sorting-paper --model_dir="models/$1" --lengths="$2" --eval_count="$count" \
    --threads=1 --device=cpu "${@:3}" >"$out/$1.$2.md"
}
eval_model sorting-paper-4k 4096,8192,16384 --oracles &
eval_model sorting-paper-4k-window 4096,8192,16384 &
wait
eval_model sorting-paper-16k 4096,8192,16384 &
eval_model sorting-paper-16k-window 4096,8192,16384 &
wait
phases=4096,4128,4160,4192,4224,4256,4288,4320,4352
eval_model sorting-paper-4k "$phases" &
eval_model sorting-paper-4k-window "$phases" &
wait
count=50 eval_model sorting-paper-16k 16384,16416,16448,16480,16512,16544,16576,16608,16640
for f in "$out"/*.md; do echo "## $f"; cat "$f"; done
