#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ (preset `fuzz`: clang-14 with AddressSanitizer, UBSan
# and LeakSanitizer) and runs each for SECONDS from a copy of its seed corpus (fuzz/corpus/,
# plus a snapshot seed the state target writes from its own model). Fails on any crash, leak,
# timeout or sanitizer report; the input that caused it is kept under build/fuzz/runs/ (add it
# to fuzz/corpus/<target>/ as a regression input once fixed). Prints, per target, executions
# per second and the coverage reached.
#   scripts/fuzz.sh [SECONDS]        (default 30; .ci/run uses 30)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
scripts/install-deps.sh
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz --target fuzzers
bin=build/fuzz/fuzz
work=build/fuzz/runs
rm -rf "$work"
mkdir -p "$work"
failed=0
printf '| target | runs | executions/s | coverage (edges) | features | result |\n|---|---:|---:|---:|---:|---|\n'
for target in safetensors model_config hf_config gguf journal state auth_tokens request import_stream tokenizer tokenizer_json jinja_template openai_request; do
  corpus="$work/$target"
  mkdir -p "$corpus"
  [ -d "fuzz/corpus/$target" ] && cp fuzz/corpus/"$target"/* "$corpus"/
  if [ "$target" = state ]; then
    INFMEM_FUZZ_WRITE_SEED="$corpus/seed.safetensors" "$bin/state_fuzz"
  fi
  dict=()
  case $target in
    model_config | hf_config) dict=(-dict=fuzz/config.dict) ;;
    safetensors | state) dict=(-dict=fuzz/safetensors.dict) ;;
  esac
  log="$work/$target.log"
  result=ok
  (cd "$work" && "../../../$bin/${target}_fuzz" -max_total_time="$seconds" -timeout=10 \
     -rss_limit_mb=4096 -print_final_stats=1 "${dict[@]/#-dict=/-dict=../../../}" \
     "$target") >"$log" 2>&1 || { result=FAILED; failed=1; }
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
  printf '| %s | %s | %s | %s | %s | %s |\n' "$target" "${runs:-?}" "${rate:-?}" "${cov:-?}" \
    "${ft:-?}" "$result"
  if [ "$result" = FAILED ]; then tail -n 40 "$log" >&2; fi
done
exit $failed
