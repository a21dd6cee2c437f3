#!/usr/bin/env bash
# bench-http.sh: the HTTP API's figures beside the gRPC API's (issue 22's benchmark). Starts
# its own servers (127.0.0.1, free ports, temporary session directories) and prints:
#   1. time to first token per turn of a 20-turn conversation resent whole each turn through
#      /v1/chat/completions, with reuse (--http_prefix_cache) and without (bench/http_bench.js);
#   2. aggregate tokens/s of 1 and 32 concurrent streamed greedy completions over HTTP, and the
#      same streams through gRPC (infmem-bench's rows, same prompts and token counts): on
#      sessions created beforehand, and creating each session in the call as HTTP does.
# Figures, not assertions. Needs a release build and scripts/fetch-oracles.sh (the client).
#   scripts/bench-http.sh [MODEL_DIR] [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-models/brown-lm}
threads=${2:-2}
server=build/release/server/infmem-server
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
export NODE_PATH=$PWD/data/oracles/node_modules

# Starts a server with extra flags and sets `url` to its HTTP base URL. (Not in a command
# substitution: that would run it in a subshell, whose pids the cleanup never sees.)
start() {
  local name=$1; shift
  "$server" --model_dir="$model" --threads="$threads" --session_dir="$work/$name" --host=127.0.0.1 \
    --port=0 --metrics_port=0 --http_port=0 "$@" > "$work/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 600); do
    port=$(sed -n 's/.*http on port \([0-9]*\).*/\1/p' "$work/$name.log" | head -1)
    if [ -n "$port" ]; then url="http://127.0.0.1:$port/v1"; return; fi
    sleep 0.1
  done
  echo "bench-http: $name did not start:" >&2; cat "$work/$name.log" >&2; exit 1
}

echo "bench-http: $model, $threads model threads, $(nproc) cores"
start reuse
reuse=$url
start plain --http_prefix_cache=0
plain=$url
echo
node bench/http_bench.js turns "$reuse" "$plain" 20
echo
node bench/http_bench.js streams "$plain" 1,32 64
echo
build/release/bench/infmem-bench --server_binary="$server" --model_dir="$model" \
  --threads="$threads" --sessions=1,32 --new_tokens=64 --history_tokens=4096 --appends=10 |
  sed -n '1,/^| 32 concurrent/p'
echo
# The same work as an HTTP completion: each stream creates its session with its prompt.
build/release/bench/infmem-bench --server_binary="$server" --model_dir="$model" \
  --threads="$threads" --sessions=1,32 --new_tokens=64 --history_tokens=4096 --appends=10 \
  --fresh_sessions | sed -n '/^| streams/,/^| 32 created/p'
