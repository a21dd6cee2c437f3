#!/usr/bin/env bash
# Every binary's --help lists its own flags and exits 0.
#   help_test.sh BINARY:FLAG ...   (FLAG: one flag the binary's help must list)
set -uo pipefail
failed=0
for pair in "$@"; do
  binary=${pair%%:*}
  flag=${pair##*:}
  out=$("$binary" --help 2>&1)
  rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "FAIL: $binary --help exited $rc"
    failed=1
  elif ! grep -q -- "--$flag " <<<"$out"; then
    echo "FAIL: $binary --help does not list --$flag:"
    echo "$out" | head -5
    failed=1
  else
    echo "ok: $(basename "$binary") --help lists --$flag"
  fi
done
exit $failed
