# Shared by scripts/train-*.sh (sourced, not run): builds infmem-train and trains, resumes,
# exports and evaluates one model. Environment: RUNS (checkpoint directory, default
# build/runs), THREADS (threads per run, default 1: the two runs of a script share the cores).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
RUNS=${RUNS:-build/runs}
THREADS=${THREADS:-1}
TRAIN=build/release/train/infmem-train

build_trainer() {
  scripts/install-deps.sh
  cmake --preset release >/dev/null
  cmake --build --preset release -j 2 --target infmem-train
}

# train_run NAME ARGS...: trains $RUNS/NAME, resuming when a checkpoint is there; the log
# goes to $RUNS/NAME.log and the wall time to $RUNS/NAME.seconds.
train_run() {
  local name=$1
  shift
  mkdir -p "$RUNS"
  local resume=()
  [ -f "$RUNS/$name/optimizer.pt" ] && resume=(--resume)
  local start=$SECONDS
  "$TRAIN" train --out="$RUNS/$name" --threads="$THREADS" "${resume[@]}" "$@" \
    >"$RUNS/$name.log" 2>&1 || { tail -n 20 "$RUNS/$name.log" >&2; return 1; }
  echo $((SECONDS - start)) >"$RUNS/$name.seconds"
  tail -n 1 "$RUNS/$name.log"
}

# train_pair PREFIX ARGS...: trains PREFIX-infinite and PREFIX-window (the baseline without
# long-term memory) with the same ARGS at once, one run per core, and fails if either fails.
train_pair() {
  local prefix=$1
  shift
  train_run "$prefix-infinite" "$@" --memory=infinite &
  local infinite=$!
  train_run "$prefix-window" "$@" --memory=window &
  local window=$!
  local failed=0
  wait "$infinite" || failed=1
  wait "$window" || failed=1
  return $failed
}

# ship NAME DEST: exports the trained run with bf16 weights into models/DEST.
ship() {
  "$TRAIN" export --model_dir="$RUNS/$1" --out="models/$2" --weights=bf16
}
