#!/usr/bin/env bash
# bench-vs-llamacpp.sh: infmem side by side with llama.cpp (CPU) on the same LLaMA-shaped model
# with random weights (dim 512, 8 layers, 8 heads, 8 key/value heads, FFN 1408, vocab 4096,
# float32; 29.9M parameters). A benchmark, not a test; llama.cpp is never a dependency of
# infmem: this script takes a build you made.
#
#   scripts/bench-vs-llamacpp.sh LLAMA_CPP_BUILD_DIR [WORKDIR]
#
# WORKDIR (default /tmp/infmem-vs-llamacpp) receives the model in every format, the logits, the
# raw outputs of every timed command (raw/) and the table (table.md). Stages, in order (STAGES
# runs a subset, e.g. STAGES=bench to re-time; each stage needs the ones before it to have run
# once in WORKDIR):
#   model   tests/model/hf_llama_reference.py write --shape bench30m --dtype float32 (Hugging
#           Face layout, brown-lm's SentencePiece tokenizer), then build/release/train/
#           infmem-convert --memory=full and --memory=infinite (L=1024, N=M=512).
#   gguf    the same weights as GGUF, F32 and Q8_0, written by scripts/hf_to_gguf.py with
#           llama.cpp's own gguf-py (numpy only; Wq/Wk un-permuted from Hugging Face's
#           rotate-half layout to the interleaved pairs of llama.cpp's LLAMA architecture);
#           Q8_0 falls back to llama.cpp's llama-quantize if gguf-py cannot quantize. Then a
#           tiny llama-bench run loads each file.
#   logits  the same LOGIT_TOKENS (300) token ids through: hf_llama_reference.py logits (float64
#           reference); llama.cpp (scripts/llama-logits.cpp, compiled here against the build:
#           float32 KV cache, flash attention off); infmem (`model-bench --logits_of`, full and
#           infinite; int8 weights too when model-bench has --weights). Prints, per pair, the
#           max and mean |difference| over the logits' spread and the argmax agreement; stops
#           (exit 1) if a float32 pair disagrees (max > 1e-3 of the spread or argmax agreement
#           under 99%): the timings would compare different models.
#   bench   the timings (below) and the table, tokens/s, rows: prefill PREFILL (512, 4096
#           tokens); decode of 1 stream at each of CONTEXTS (1k, 4k, 16k); batched decode of
#           BATCHES (8, 32) streams. Columns: llama.cpp F32 with flash attention on and off,
#           llama.cpp Q8_0 (the faster fa setting per row), infmem full, infmem infinite, and
#           infmem full with a float16 KV cache (llama.cpp's default KV type) and with
#           int8 weights and a float16 KV cache, when model-bench has --kv_cache (int8
#           weights only, with --weights alone).
#
# The commands timed (THREADS=2, REPS=3):
#   llama-bench -m M.gguf -t 2 -r 3 -p 512,4096 -n 0 -fa on,off -o json                  (prefill)
#   llama-bench -m M.gguf -t 2 -r 3 -p 0 -n 64 -d 1024,4096,16384 -fa on,off -o json   (decode)
#   llama-batched-bench -m M.gguf -t 2 -tb 2 -c 16384 -npp 384 -ntg 128 -npl 8,32 -fa on|off
#       --output-format jsonl                                          (batched; S_TG tokens/s)
#   model-bench --threads=2 --model_dirs=DIR --contexts=512 --decode_steps=1 [--repeats=3]
#       (prefill: one call of 512 tokens; again with 4096)
#   model-bench --threads=2 --model_dirs=DIR --contexts=1024,4096,16384 --decode_steps=64
#       [--repeats=3]                      (decode: 1000 / step median in ms, per context)
#   model-bench --threads=2 --model_dirs= --contexts= --batch_model_dir=DIR --batches=8,32
#       --batch_steps=128      (batched: aggregate tokens/s; prompts of 300-427 tokens each)
# llama-bench's figure is the mean of REPS runs of 64 tokens; model-bench's the median step
# (the median of its repeats' medians with --repeats). llama-batched-bench runs once per
# BATCHED_REPS (median taken), as does model-bench's batched table.
#
# Environment: THREADS (2), REPS (3), PREFILL (512,4096), CONTEXTS (1024,4096,16384),
# TG_TOKENS (64), DECODE_STEPS (64), BATCHES (8,32), BATCH_PROMPT (384), BATCH_TOKENS (128),
# BATCHED_REPS (1), LOGIT_TOKENS (300), SEED (1), STAGES (model gguf logits bench),
# INFMEM_BUILD (build/release), PYTHON (/usr/bin/python3: needs numpy and, for the model and
# the reference logits, torch: Debian's python3-numpy and python3-torch), LLAMA_CPP_SOURCE_DIR
# (default: the source directory recorded in the build's CMakeCache.txt). SMOKE=1 shrinks every
# size (prefill 64,128; contexts 128,256; batches 2,4; 1 repetition) to check the plumbing in
# a minute or two; its figures mean nothing.
# Time: the default table should take roughly 15-20 minutes on two cores (an estimate from the
# SMOKE run's rates, not measured; SMOKE=1 itself takes about a minute). Adding 32768 to
# CONTEXTS costs several more minutes: each of the four llama-bench decode configurations
# prefills 32k tokens of depth once, and model-bench prefills it once per repeat per column.
# Run it alone on the machine: timings of a busy machine are noise.
#
# Getting and building llama.cpp (the steps used here, 2026-11-30; no network beyond npm):
#   mkdir /tmp/nlc && cd /tmp/nlc && npm pack node-llama-cpp   # 3.22.1: ships llama.cpp's source
#   tar xzf node-llama-cpp-*.tgz                               # as package/llama/gitRelease.bundle
#   git clone package/llama/gitRelease.bundle /work/llama.cpp  # commit de3ff81, ggml 0.25.1
#   cd /work/llama.cpp
#   cmake -B build -DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DCMAKE_BUILD_TYPE=Release \
#     -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF -DGGML_CCACHE=OFF \
#     -DCMAKE_C_FLAGS="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16" \
#     -DCMAKE_CXX_FLAGS="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
#   nice -n 19 cmake --build build -j2 --target llama llama-bench llama-batched-bench llama-quantize
#   (5.5-7 min on two cores, niced, next to another build.) Then:
#   scripts/bench-vs-llamacpp.sh /work/llama.cpp/build
# The -mno-amx flags: on the VM this was written on (an Intel Xeon whose /proc/cpuinfo lists
# amx_tile and amx_int8, under a Firecracker kernel) AMX tile instructions raise SIGILL, and -march=native makes ggml run Q8_0 matrix products on AMX
# (SIGILL in tinygemm_kernel_amx: llama.cpp dies with exit code 132). Drop them on a machine
# where AMX works. The build must be shared (llama.cpp's default): llama-logits links
# libllama.so. Its gguf-py (in the source tree) is used as is; it needs only numpy.
set -euo pipefail

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
  exit 2
}
[[ $# -ge 1 && $# -le 2 && $1 != -* ]] || usage

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
LLAMA_BUILD=$(cd "$1" && pwd) || { echo "bench-vs-llamacpp: no directory $1" >&2; exit 2; }
WORKDIR=${2:-/tmp/infmem-vs-llamacpp}
mkdir -p "$WORKDIR"
WORKDIR=$(cd "$WORKDIR" && pwd)

if [[ ${SMOKE:-0} == 1 ]]; then
  : "${REPS:=1}" "${PREFILL:=64,128}" "${CONTEXTS:=128,256}" "${TG_TOKENS:=8}"
  : "${DECODE_STEPS:=4}" "${BATCHES:=2,4}" "${BATCH_PROMPT:=32}" "${BATCH_TOKENS:=8}"
fi
THREADS=${THREADS:-2}
REPS=${REPS:-3}
PREFILL=${PREFILL:-512,4096}
CONTEXTS=${CONTEXTS:-1024,4096,16384}
TG_TOKENS=${TG_TOKENS:-64}
DECODE_STEPS=${DECODE_STEPS:-64}
BATCHES=${BATCHES:-8,32}
BATCH_PROMPT=${BATCH_PROMPT:-384}
BATCH_TOKENS=${BATCH_TOKENS:-128}
BATCHED_REPS=${BATCHED_REPS:-1}
LOGIT_TOKENS=${LOGIT_TOKENS:-300}
SEED=${SEED:-1}
STAGES=${STAGES:-model gguf logits bench}
INFMEM_BUILD=${INFMEM_BUILD:-build/release}
PY=${PYTHON:-/usr/bin/python3}
[[ -x $PY ]] || PY=python3

die() { echo "bench-vs-llamacpp: $*" >&2; exit 1; }
say() { echo "== $*" >&2; }
stage() { [[ " $STAGES " == *" $1 "* ]]; }

# --- locating both systems -------------------------------------------------------------
CONVERT=$INFMEM_BUILD/train/infmem-convert
MODEL_BENCH=$INFMEM_BUILD/bench/model-bench
for b in "$CONVERT" "$MODEL_BENCH"; do
  [[ -x $b ]] || die "$b not built (make build, or set INFMEM_BUILD)"
done
MB_HELP=$("$MODEL_BENCH" --help 2>&1 || true)
mb_has() { grep -q -- "--$1 " <<<"$MB_HELP"; }

LLAMA_BIN=$LLAMA_BUILD/bin
[[ -x $LLAMA_BIN/llama-bench ]] || LLAMA_BIN=$LLAMA_BUILD
for t in llama-bench llama-batched-bench; do
  [[ -x $LLAMA_BIN/$t ]] || die "$LLAMA_BUILD has no bin/$t: build the targets named in this script's header"
done
LLAMA_SRC=${LLAMA_CPP_SOURCE_DIR:-}
if [[ -z $LLAMA_SRC && -f $LLAMA_BUILD/CMakeCache.txt ]]; then
  LLAMA_SRC=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$LLAMA_BUILD/CMakeCache.txt")
fi
[[ -n $LLAMA_SRC ]] || LLAMA_SRC=$LLAMA_BUILD/..
[[ -f $LLAMA_SRC/include/llama.h && -d $LLAMA_SRC/gguf-py/gguf ]] ||
  die "no llama.cpp source at $LLAMA_SRC (include/llama.h, gguf-py/): set LLAMA_CPP_SOURCE_DIR"
LIBLLAMA=$(find "$LLAMA_BUILD" -maxdepth 3 -name 'libllama.so' -print -quit)

HF=$WORKDIR/hf
FULL=$WORKDIR/infmem-full
INFINITE=$WORKDIR/infmem-infinite
F32=$WORKDIR/model-f32.gguf
Q8=$WORKDIR/model-q8_0.gguf
RAW=$WORKDIR/raw
LOGITS=$WORKDIR/logits
mkdir -p "$RAW" "$LOGITS"

# Runs a llama.cpp program, naming a SIGILL (see the header's -mno-amx note).
llama_run() {
  local rc=0
  "$@" || rc=$?
  if [[ $rc == 132 ]]; then
    die "$(basename "$1") died of SIGILL (exit 132): on a CPU that advertises AMX without enabling it, rebuild llama.cpp with the -mno-amx flags in this script's header"
  fi
  return $rc
}

# --- model ------------------------------------------------------------------------------
if stage model; then
  say "model: Hugging Face checkpoint (bench30m, float32, seed $SEED) -> $HF"
  rm -rf "$HF" "$FULL" "$INFINITE"
  nice -n 10 "$PY" tests/model/hf_llama_reference.py write --out "$HF" --seed "$SEED" \
    --shape bench30m --dtype float32 --tokenizer models/brown-lm/tokenizer.model >&2
  for mode in full infinite; do
    say "model: infmem-convert --memory=$mode"
    "$CONVERT" --hf_dir="$HF" --out="$WORKDIR/infmem-$mode" --memory=$mode --name=bench30m-$mode >&2
  done
fi

# --- gguf -------------------------------------------------------------------------------
if stage gguf; then
  [[ -f $HF/config.json ]] || die "no model in $HF: run the model stage"
  say "gguf: F32 -> $F32"
  "$PY" scripts/hf_to_gguf.py --hf_dir "$HF" --out "$F32" --gguf_py "$LLAMA_SRC/gguf-py"
  say "gguf: Q8_0 -> $Q8"
  if ! "$PY" scripts/hf_to_gguf.py --hf_dir "$HF" --out "$Q8" --gguf_py "$LLAMA_SRC/gguf-py" \
    --outtype q8_0; then
    [[ -x $LLAMA_BIN/llama-quantize ]] || die "gguf-py could not quantize and there is no llama-quantize"
    say "gguf: gguf-py could not write Q8_0; llama-quantize instead"
    llama_run "$LLAMA_BIN/llama-quantize" "$F32" "$Q8" Q8_0 >"$RAW/llama-quantize.log" 2>&1 ||
      die "llama-quantize failed: $RAW/llama-quantize.log"
  fi
  for m in "$F32" "$Q8"; do
    say "gguf: llama-bench loads $(basename "$m")"
    llama_run "$LLAMA_BIN/llama-bench" -m "$m" -t "$THREADS" -r 1 -p 16 -n 4 \
      >"$RAW/load-$(basename "$m" .gguf).md" 2>&1 ||
      die "llama-bench cannot run $m: $RAW/load-$(basename "$m" .gguf).md"
    grep '^| llama' "$RAW/load-$(basename "$m" .gguf).md" | head -1 >&2
  done
fi

# --- logits -----------------------------------------------------------------------------
if stage logits; then
  [[ -f $F32 && -f $Q8 && -d $FULL ]] || die "run the model and gguf stages first"
  [[ -n $LIBLLAMA ]] || die "no libllama.so under $LLAMA_BUILD (build llama.cpp with shared libraries, its default)"
  LIBDIR=$(dirname "$LIBLLAMA")
  say "logits: compiling scripts/llama-logits.cpp against $LLAMA_BUILD"
  g++ -O2 -std=c++17 -I"$LLAMA_SRC/include" -I"$LLAMA_SRC/ggml/include" scripts/llama-logits.cpp \
    -o "$WORKDIR/llama-logits" -L"$LIBDIR" -lllama -lggml -Wl,-rpath,"$LIBDIR"
  TOK=$LOGITS/tokens.txt
  "$PY" scripts/bench_vs_llamacpp.py tokens --out "$TOK" --n "$LOGIT_TOKENS" --vocab 4096 --seed "$SEED"
  say "logits: float64 reference (hf_llama_reference.py logits)"
  nice -n 10 "$PY" tests/model/hf_llama_reference.py logits --model "$HF" --tokens "$TOK" \
    --out "$LOGITS/reference.safetensors" >&2
  say "logits: llama.cpp F32 and Q8_0 (f32 KV cache, flash attention off)"
  llama_run "$WORKDIR/llama-logits" "$F32" "$TOK" "$THREADS" >"$LOGITS/llama-f32.txt"
  llama_run "$WORKDIR/llama-logits" "$Q8" "$TOK" "$THREADS" >"$LOGITS/llama-q8_0.txt"
  items=("reference=$LOGITS/reference.safetensors" "llama.cpp-F32=$LOGITS/llama-f32.txt"
    "llama.cpp-Q8_0=$LOGITS/llama-q8_0.txt" llama.cpp-F32:reference llama.cpp-Q8_0:reference:info)
  if mb_has logits_of; then
    say "logits: infmem full and infinite (model-bench --logits_of)"
    for mode in full infinite; do
      "$MODEL_BENCH" --threads="$THREADS" --model_dirs="$WORKDIR/infmem-$mode" \
        --logits_of="$TOK" >"$LOGITS/infmem-$mode.txt"
      items+=("infmem-$mode=$LOGITS/infmem-$mode.txt" "infmem-$mode:reference"
        "infmem-$mode:llama.cpp-F32")
    done
    if mb_has weights; then
      "$MODEL_BENCH" --threads="$THREADS" --model_dirs="$FULL" --weights=int8 \
        --logits_of="$TOK" >"$LOGITS/infmem-int8.txt"
      items+=("infmem-int8=$LOGITS/infmem-int8.txt" infmem-int8:reference:info
        infmem-int8:llama.cpp-Q8_0:info)
    fi
    if mb_has kv_cache; then
      "$MODEL_BENCH" --threads="$THREADS" --model_dirs="$FULL" --kv_cache=float16 \
        --logits_of="$TOK" >"$LOGITS/infmem-f16kv.txt"
      items+=("infmem-f16kv=$LOGITS/infmem-f16kv.txt" infmem-f16kv:reference:info)
    fi
  else
    say "logits: $MODEL_BENCH has no --logits_of yet: infmem's side of the check skipped"
  fi
  "$PY" scripts/bench_vs_llamacpp.py compare --tokens "$TOK" "${items[@]}" |
    tee "$WORKDIR/logits.md" || die "the logits disagree (above): not timing different models"
fi

# --- bench ------------------------------------------------------------------------------
if stage bench; then
  [[ -f $F32 && -f $Q8 && -d $FULL && -d $INFINITE ]] || die "run the model and gguf stages first"
  max_batch=$(tr ',' '\n' <<<"$BATCHES" | sort -n | tail -1)
  batch_ctx=$((max_batch * (BATCH_PROMPT + BATCH_TOKENS)))
  rm -f "$RAW"/llama-pp-* "$RAW"/llama-tg-* "$RAW"/llama-batched-* "$RAW"/infmem-*
  for q in f32 q8_0; do
    m=$WORKDIR/model-$q.gguf
    say "bench: llama.cpp $q prefill $PREFILL (fa on, off)"
    llama_run "$LLAMA_BIN/llama-bench" -m "$m" -t "$THREADS" -r "$REPS" -p "$PREFILL" -n 0 \
      -fa on,off -o json >"$RAW/llama-pp-$q.json" 2>"$RAW/llama-pp-$q.err"
    say "bench: llama.cpp $q decode $TG_TOKENS tokens at depth $CONTEXTS (fa on, off)"
    llama_run "$LLAMA_BIN/llama-bench" -m "$m" -t "$THREADS" -r "$REPS" -p 0 -n "$TG_TOKENS" \
      -d "$CONTEXTS" -fa on,off -o json >"$RAW/llama-tg-$q.json" 2>"$RAW/llama-tg-$q.err"
    for fa in on off; do
      for r in $(seq "$BATCHED_REPS"); do
        say "bench: llama.cpp $q batched decode $BATCHES streams (fa $fa, run $r)"
        llama_run "$LLAMA_BIN/llama-batched-bench" -m "$m" -t "$THREADS" -tb "$THREADS" \
          -c "$batch_ctx" -npp "$BATCH_PROMPT" -ntg "$BATCH_TOKENS" -npl "$BATCHES" -fa $fa \
          --output-format jsonl >"$RAW/llama-batched-$q-fa$fa-$r.log" \
          2>"$RAW/llama-batched-$q-fa$fa-$r.err"  # one file for both loses rows
        rows=$(grep -c speed_tg "$RAW/llama-batched-$q-fa$fa-$r.log" || true)
        [[ $rows == $(tr ',' '\n' <<<"$BATCHES" | grep -c .) ]] ||
          say "bench: WARNING: llama-batched-bench printed $rows rows for $BATCHES: $RAW/llama-batched-$q-fa$fa-$r.err"
      done
    done
  done

  repeats=()
  if mb_has repeats; then repeats=(--repeats="$REPS"); fi
  cols=("full:$FULL:" "infinite:$INFINITE:")
  if mb_has kv_cache; then
    # llama.cpp's own default KV cache is float16, at every weight type.
    cols+=("full-f16kv:$FULL:--kv_cache=float16" "int8:$FULL:--weights=int8 --kv_cache=float16")
  elif mb_has weights; then
    cols+=("int8:$FULL:--weights=int8")
  else
    say "bench: $MODEL_BENCH has no --weights: no int8 column"
  fi
  for col in "${cols[@]}"; do
    IFS=: read -r name dir flags <<<"$col"
    extra=()
    [[ -n $flags ]] && read -r -a extra <<<"$flags"
    for n in ${PREFILL//,/ }; do
      say "bench: infmem $name prefill $n"
      # Without --repeats (an older model-bench), one run per repetition.
      for r in $(seq $(( ${#repeats[@]} ? 1 : REPS ))); do
        "$MODEL_BENCH" --threads="$THREADS" --model_dirs="$dir" "${extra[@]}" --contexts="$n" \
          --decode_steps=1 "${repeats[@]}" >>"$RAW/infmem-$name-pp$n.txt" 2>&1
      done
    done
    say "bench: infmem $name decode at $CONTEXTS"
    for r in $(seq $(( ${#repeats[@]} ? 1 : REPS ))); do
      "$MODEL_BENCH" --threads="$THREADS" --model_dirs="$dir" "${extra[@]}" --contexts="$CONTEXTS" \
        --decode_steps="$DECODE_STEPS" "${repeats[@]}" >>"$RAW/infmem-$name-decode.txt" 2>&1
    done
    for r in $(seq "$BATCHED_REPS"); do
      say "bench: infmem $name batched decode $BATCHES streams (run $r)"
      "$MODEL_BENCH" --threads="$THREADS" --model_dirs= --contexts= --batch_model_dir="$dir" \
        "${extra[@]}" --batches="$BATCHES" --batch_steps="$BATCH_TOKENS" \
        >>"$RAW/infmem-$name-batched.txt" 2>&1
    done
  done

  {
    echo "infmem vs llama.cpp, tokens/s ($(date -u +%F), $(grep -m1 'model name' /proc/cpuinfo |
      sed 's/.*: //'), $(nproc) cores, $THREADS threads; llama.cpp $(git -C "$LLAMA_SRC" \
      rev-parse --short HEAD 2>/dev/null || echo '?'); infmem $(git rev-parse --short HEAD))"
    echo "model: bench30m, 29.9M parameters, float32 unless the column says otherwise; raw outputs: $RAW"
    echo
    "$PY" scripts/bench_vs_llamacpp.py table --raw "$RAW" --prefill "$PREFILL" \
      --contexts "$CONTEXTS" --batches "$BATCHES"
    echo
    echo "prefill: llama-bench pp (mean of $REPS) / model-bench one call (median); decode: llama-bench" \
      "tg$TG_TOKENS at depth (mean of $REPS) / 1000 / model-bench's median step (ms); batched:" \
      "llama-batched-bench S_TG (prompts of $BATCH_PROMPT, $BATCH_TOKENS tokens each) /" \
      "model-bench's batched table ($BATCH_TOKENS steps, prompts of 300-427 tokens)."
  } | tee "$WORKDIR/table.md"
fi
