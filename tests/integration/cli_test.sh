#!/bin/bash
# Drives the `infmem` CLI against a real infmem-server: every command once, its output and its
# exit code (client/client.h documents the codes).
#
# Usage: cli_test.sh SERVER_BINARY CLI_BINARY REPO_ROOT
#
# Hermetic: the server listens on 127.0.0.1 port 0 with a session directory under mktemp -d;
# the port comes from its one stdout line, read through a FIFO (no polling). The trap stops the
# server and removes the directory however the script ends; on success the server is stopped
# with SIGTERM and must exit 0.
set -euo pipefail

if [[ $# -ne 3 ]]; then
  echo "usage: $0 SERVER_BINARY CLI_BINARY REPO_ROOT" >&2
  exit 2
fi
SERVER_BINARY=$1
CLI_BINARY=$2
REPO_ROOT=$3

TMP_DIR=$(mktemp -d "${TMPDIR:-/tmp}/infmem_cli_test.XXXXXX")
SERVER_PID=""

cleanup() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  exec 3<&- 2>/dev/null || true
  rm -rf "$TMP_DIR"
}
trap cleanup EXIT

# Reports a failed check and ends the test (later steps build on earlier ones).
fail() {
  echo "FAIL: $*" >&2
  if [[ -f "$TMP_DIR/server.stderr" ]]; then
    echo "--- server stderr ---" >&2
    tail -n 50 "$TMP_DIR/server.stderr" >&2
  fi
  exit 1
}

# Runs the CLI against the server: sets OUT (stdout), ERR (stderr) and RC (exit code).
cli() {
  RC=0
  "$CLI_BINARY" --server="$SERVER" "$@" >"$TMP_DIR/out" 2>"$TMP_DIR/err" || RC=$?
  OUT=$(cat "$TMP_DIR/out")
  ERR=$(cat "$TMP_DIR/err")
}

# Asserts the last cli call's exit code, printing the call's output when it differs.
expect_rc() {
  local want=$1 what=$2
  if [[ "$RC" -ne "$want" ]]; then
    fail "$what: exit code $RC, want $want; stdout: '$OUT'; stderr: '$ERR'"
  fi
}

expect_eq() {
  local got=$1 want=$2 what=$3
  if [[ "$got" != "$want" ]]; then
    fail "$what: got '$got', want '$want'"
  fi
}

expect_match() {
  local got=$1 pattern=$2 what=$3
  if ! [[ "$got" =~ $pattern ]]; then
    fail "$what: '$got' does not match /$pattern/"
  fi
}

# Prints the value of "tokens: N" from `get`'s text output.
tokens_of() {
  cli get "$1"
  expect_rc 0 "get $1"
  sed -n 's/^tokens: \([0-9]*\)$/\1/p' <<<"$OUT"
}

# --- Start the server. ---
mkdir "$TMP_DIR/sessions"
mkfifo "$TMP_DIR/server.stdout"
"$SERVER_BINARY" --host=127.0.0.1 --port=0 --metrics_port=0 \
  --session_dir="$TMP_DIR/sessions" --model_dir="$REPO_ROOT/models/brown-lm" --threads=1 \
  >"$TMP_DIR/server.stdout" 2>"$TMP_DIR/server.stderr" &
SERVER_PID=$!
# Held open until the end, so the server never writes to a FIFO without a reader.
exec 3<"$TMP_DIR/server.stdout"
LISTEN_LINE=""
# First "open on ..." (ports open, model loading), then "listening on ..." (serving).
while [[ "$LISTEN_LINE" != "infmem-server listening"* ]]; do
  read -r -t 60 -u 3 LISTEN_LINE || fail "server exited or printed no listening line within 60 s"
done
LISTEN_RE='^infmem-server listening on 127\.0\.0\.1:([0-9]+), metrics on port ([0-9]+)$'
[[ "$LISTEN_LINE" =~ $LISTEN_RE ]] || fail "unexpected listening line: '$LISTEN_LINE'"
SERVER="127.0.0.1:${BASH_REMATCH[1]}"
echo "server at $SERVER"

# --- health ---
cli health
expect_rc 0 "health"
expect_eq "$OUT" "SERVING" "health output"

# --- create, append, generate, get, list ---
cli create --id=chat --text="The jury said that"
expect_rc 0 "create"
expect_eq "$OUT" "chat" "create output"
expect_eq "$(tokens_of chat)" 6 "tokens after create (BOS + 5)"

cli append chat " and"
expect_rc 0 "append"
expect_eq "$OUT" "appended_tokens=1 session_tokens=7" "append output"

cli generate chat --max_tokens=10
expect_rc 0 "generate"
expect_match "$OUT" '[[:alpha:]]' "generate text"
expect_match "$ERR" 'finish: length, prompt 0, generated 10, session 17 tokens' \
  "generate finish line"

cli get chat
expect_rc 0 "get chat"
expect_match "$OUT" $'^id: chat\ntokens: 17\n' "get chat output"
expect_match "$OUT" $'\nresident: true' "get chat resident"

cli list
expect_rc 0 "list"
expect_eq "$OUT" "chat tokens=17 resident=true" "list output"

cli get chat --format=json
expect_rc 0 "get --format=json"
expect_match "$OUT" '"id": *"chat"' "get json id"

# --- fork ---
cli fork chat --new_id=copy
expect_rc 0 "fork"
expect_eq "$OUT" "copy" "fork output"
expect_eq "$(tokens_of copy)" 17 "tokens of the fork"

# --- tokenize, detokenize ---
cli tokenize "hello world"
expect_rc 0 "tokenize"
expect_match "$OUT" '^[0-9]+( [0-9]+)+$' "tokenize output"
read -r -a HELLO_IDS <<<"$OUT"
cli detokenize "${HELLO_IDS[@]}"
expect_rc 0 "detokenize"
expect_eq "$OUT" "hello world" "detokenize of tokenize"

# --- export, import, and greedy equality ---
cli export chat --out="$TMP_DIR/chat.export"
expect_rc 0 "export"
[[ -s "$TMP_DIR/chat.export" ]] || fail "export wrote an empty file"
cli import "$TMP_DIR/chat.export" --id=moved
expect_rc 0 "import"
expect_eq "$OUT" "moved" "import output"
expect_eq "$(tokens_of moved)" 17 "tokens of the imported session"

cli generate chat --dry_run --max_tokens=12
expect_rc 0 "generate chat --dry_run"
CHAT_DRY=$OUT
expect_match "$CHAT_DRY" '[[:alpha:]]' "dry-run text of chat"
expect_match "$ERR" 'generated 12, session 17 tokens' "dry-run leaves chat's tokens"
cli generate moved --dry_run --max_tokens=12
expect_rc 0 "generate moved --dry_run"
expect_eq "$OUT" "$CHAT_DRY" "greedy dry run of the imported session vs the original"
cli generate copy --dry_run --max_tokens=12
expect_rc 0 "generate copy --dry_run"
expect_eq "$OUT" "$CHAT_DRY" "greedy dry run of the fork vs the original"
expect_eq "$(tokens_of chat)" 17 "tokens of chat after dry runs"

# --- delete, and failures with their exit codes ---
cli delete copy
expect_rc 0 "delete copy"
cli get copy
expect_rc 15 "get of a deleted session (NOT_FOUND)"
expect_match "$ERR" '^infmem: NOT_FOUND: ' "get copy error line"

cli get ../x
expect_rc 13 "get ../x (INVALID_ARGUMENT)"
expect_match "$ERR" '^infmem: INVALID_ARGUMENT: ' "get ../x error line"

cli create --id=chat
expect_rc 16 "create of a taken id (ALREADY_EXISTS)"

# The CLI checks flag values itself: a bad one is a usage error, not a call.
cli generate chat --temperature=-1 --max_tokens=2
expect_rc 2 "generate --temperature=-1 (bad flag value)"
expect_match "$ERR" 'temperature' "bad temperature message"

cli no_such_command
expect_rc 2 "unknown command (usage error)"

cli import "$TMP_DIR/no_such_file" --id=nothing
expect_rc 15 "import of a missing file"

# Port 1 on 127.0.0.1 refuses connections: the CLI reports UNAVAILABLE (24) at once.
RC=0
# The CLI retries UNAVAILABLE (5 attempts, backoff up to 3 s), then reports it: the timeout
# leaves room for the retries.
"$CLI_BINARY" --server=127.0.0.1:1 get chat --timeout=15 >"$TMP_DIR/out" 2>"$TMP_DIR/err" || RC=$?
OUT=$(cat "$TMP_DIR/out")
ERR=$(cat "$TMP_DIR/err")
expect_rc 24 "get from a server that is not there (UNAVAILABLE)"
expect_match "$ERR" '^infmem: UNAVAILABLE: ' "unreachable server error line"

# --- chat: two lines on stdin, two replies ---
BEFORE_CHAT=$(tokens_of chat)
RC=0
printf 'The city was\nThe man said\n' |
  "$CLI_BINARY" --server="$SERVER" chat chat --max_tokens=5 >"$TMP_DIR/out" 2>"$TMP_DIR/err" ||
  RC=$?
OUT=$(cat "$TMP_DIR/out")
ERR=$(cat "$TMP_DIR/err")
expect_rc 0 "chat"
mapfile -t REPLIES <"$TMP_DIR/out"
expect_eq "${#REPLIES[@]}" 2 "chat reply lines"
for reply in "${REPLIES[@]}"; do
  expect_match "$reply" '[[:alpha:]]' "chat reply"
done
# Each line and its 5-token reply joined the session's memory.
CHAT_PROMPT_TOKENS=0
for line in "The city was" "The man said"; do
  cli tokenize "$line"
  read -r -a ids <<<"$OUT"
  CHAT_PROMPT_TOKENS=$((CHAT_PROMPT_TOKENS + ${#ids[@]}))
done
AFTER_CHAT=$(tokens_of chat)
if ((AFTER_CHAT < BEFORE_CHAT + CHAT_PROMPT_TOKENS + 10)); then
  fail "chat: session has $AFTER_CHAT tokens, want at least $BEFORE_CHAT + $CHAT_PROMPT_TOKENS + 10"
fi

# --- Stop the server: SIGTERM drains and exits 0. ---
kill -TERM "$SERVER_PID"
SERVER_RC=0
wait "$SERVER_PID" || SERVER_RC=$?
SERVER_PID=""
expect_eq "$SERVER_RC" 0 "server exit code after SIGTERM"

echo "cli_test: PASS"
