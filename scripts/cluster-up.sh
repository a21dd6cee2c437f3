#!/usr/bin/env bash
# Starts infmem's cluster mode as local processes on 127.0.0.1, for tests and to try it out:
# PostgreSQL 15 (initdb and pg_ctl as the postgres user; trust authentication, 127.0.0.1 only;
# database infmem), N infmem-server replicas sharing it (--store, each with its --replica_id,
# --advertise_address and --lease_seconds), and HAProxy in front of them
# (deploy/haproxy/haproxy.cfg with the replicas as its servers: routing by x-infmem-session,
# gRPC health checks). Every port is a free one picked at start. Needs root (PostgreSQL runs
# as the postgres user), PostgreSQL 15, haproxy and python3 (Debian: postgresql, haproxy).
#   scripts/cluster-up.sh [up] [--replicas=N] [--model_dir=DIR] [--workdir=DIR] [--server=BIN]
#                              [--lease_seconds=S] [--threads=T] [--no_cluster_flags]
#                              [-- MORE SERVER FLAGS]
#   scripts/cluster-up.sh add WORKDIR [-- MORE SERVER FLAGS]   (one more replica, r<N+1>,
#                                     added to the running HAProxy through its runtime API)
#   scripts/cluster-up.sh status WORKDIR     (processes, and HAProxy's view of the replicas)
#   scripts/cluster-up.sh down WORKDIR [--rm]  (HAProxy, then the replicas with SIGTERM (they
#                                             drain), then PostgreSQL; --rm deletes WORKDIR)
# Defaults (flag, else environment, else): REPLICAS=3, MODEL_DIR=models/brown-lm,
# WORKDIR=a new /tmp/infmem-cluster.XXXXXX, INFMEM_SERVER=build/release/server/infmem-server,
# LEASE=5, THREADS=1; also PG_BIN=/usr/lib/postgresql/15/bin, HAPROXY=haproxy,
# START_TIMEOUT=120 (seconds to wait for each process), STOP_TIMEOUT=60 (for each replica to
# drain and exit before SIGKILL). INFMEM_CLUSTER_FLAGS=0 (or --no_cluster_flags) starts the
# replicas without the four cluster flags, for a server built before cluster mode: each then
# keeps its own sessions, so only the plumbing is real.
# `up` waits until every replica prints its listening line and HAProxy sees them all UP, writes
# WORKDIR/cluster.env (NAME='value' lines to source: PGPORT, PG_URI, PGDATA, REPLICA_IDS,
# REPLICA_PORTS, REPLICA_METRICS_PORTS, REPLICA_PIDS, HAPROXY_PORT, HAPROXY_PID,
# HAPROXY_SOCKET, ...), prints how to use the cluster and exits, leaving it running. Logs:
# WORKDIR/postgres.log, WORKDIR/r<I>.log, WORKDIR/haproxy.log (HAProxy's access log names each
# call's replica and session). If anything fails to start, what was started is stopped again.
set -euo pipefail
CALLER_PWD=$PWD
cd "$(dirname "$0")/.."
REPO=$PWD
say() { echo "cluster-up: $*" >&2; }
die() { say "error: $*"; exit 1; }
abs() { case "$1" in /*) echo "$1" ;; *) echo "$2/$1" ;; esac; }  # $1 against directory $2

# HAProxy's runtime API on its stats socket, from python3 (no socat needed):
#   haproxy_api SOCKET cmd COMMAND        prints HAProxy's answer
#   haproxy_api SOCKET states             "name status check" of each replica
#   haproxy_api SOCKET wait-up SECONDS PID NAME...   until those replicas are UP (fails if
#                                                    HAProxy, pid PID, exits first)
haproxy_api() {
  python3 - "$@" <<'PY'
import socket, sys, time

def api(path, command):
  s = socket.socket(socket.AF_UNIX)
  s.connect(path)
  s.sendall(command.encode() + b"\n")
  out = b""
  while True:
    d = s.recv(65536)
    if not d:
      return out.decode()
    out += d

def states(path):
  lines = api(path, "show stat").splitlines()
  col = {n: i for i, n in enumerate(lines[0].lstrip("# ").split(","))}
  return [(f[1], f[col["status"]], f[col["check_status"]])
          for f in (l.split(",") for l in lines[1:] if l)
          if f[0] == "replicas" and f[1] != "BACKEND"]

def alive(pid):
  try:
    with open("/proc/%d/stat" % pid) as f:
      return f.read().rsplit(")", 1)[1].split()[0] != "Z"
  except OSError:
    return False

path, mode = sys.argv[1], sys.argv[2]
if mode == "cmd":
  sys.stdout.write(api(path, sys.argv[3]))
elif mode == "states":
  for s in states(path):
    print(*s)
elif mode == "wait-up":
  timeout, pid, want = float(sys.argv[3]), int(sys.argv[4]), set(sys.argv[5:])
  deadline, seen = time.monotonic() + timeout, []
  while time.monotonic() < deadline:
    if not alive(pid):
      sys.exit("haproxy exited")
    try:
      seen = states(path)
      if want <= {name for name, status, _ in seen if status == "UP"}:
        sys.exit(0)
    except OSError:
      pass  # not listening yet
    time.sleep(0.2)
  sys.exit("not UP within %gs: %s" % (timeout, seen))
PY
}

# ---- stopping (down, and the cleanup of a failed up or add) ----

# Whether pid $1 is alive (a zombie is not) and one of this cluster's: its command line names
# WORKDIR (every replica's --session_dir and HAProxy's -f do), so a pid from cluster.env that
# the system has since given to another process is left alone.
is_ours() {
  alive "$1" && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$WORKDIR/"
}
alive() {
  local state
  [ -n "$1" ] && [ -r "/proc/$1/stat" ] || return 1
  state=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ "$state" != Z ]
}

# Sends signal $1 to the pids after $2 (what they are, for messages), waits up to $TIMEOUT seconds
# for them to end, then SIGKILLs those left.
stop_pids() {
  local sig=$1 prog=$2 pid left t
  shift 2
  for pid in "$@"; do
    if is_ours "$pid"; then kill "-$sig" "$pid" 2>/dev/null || true; fi
  done
  for ((t = 0; t < TIMEOUT * 10; t++)); do
    left=0
    for pid in "$@"; do if is_ours "$pid"; then left=1; fi; done
    [ "$left" -eq 0 ] && break
    sleep 0.1
  done
  for pid in "$@"; do
    if is_ours "$pid"; then
      say "$prog (pid $pid) still running after ${TIMEOUT}s; SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  # Reap those that are this shell's children (the cleanup of a failed up).
  for pid in "$@"; do wait "$pid" 2>/dev/null || true; done
}

# Stops what the variables of cluster.env name (those set so far).
stop_cluster() {
  local pids
  if [ -n "${HAPROXY_PID:-}" ]; then
    TIMEOUT=10 stop_pids TERM haproxy "$HAPROXY_PID"
  fi
  read -r -a pids <<<"${REPLICA_PIDS:-}"
  if [ "${#pids[@]}" -gt 0 ]; then
    # SIGTERM drains (--drain_seconds, 10 by default), then journals and snapshots.
    TIMEOUT=${STOP_TIMEOUT:-60} stop_pids TERM replica "${pids[@]}"
  fi
  if [ -n "${PGDATA:-}" ] && [ -f "$PGDATA/postmaster.pid" ]; then
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PGDATA" -m fast -w -t 60 stop >/dev/null ||
      say "pg_ctl stop failed (see $WORKDIR/postgres.log)"
  fi
}

ENV_NAMES=(WORKDIR SERVER MODEL_DIR LEASE_SECONDS THREADS CLUSTER_FLAGS PG_BIN PGDATA PGPORT
           PG_URI REPLICAS REPLICA_IDS REPLICA_PORTS REPLICA_METRICS_PORTS REPLICA_PIDS
           HAPROXY_BIN HAPROXY_PORT HAPROXY_ADDR HAPROXY_ADMIN_PORT HAPROXY_SOCKET HAPROXY_CFG
           HAPROXY_PID)
write_env() {
  local name value q="'"
  {
    echo "# Written by scripts/cluster-up.sh; source it. Stop: scripts/cluster-up.sh down $WORKDIR"
    echo "# NAME='value' lines; lists are separated by spaces, replica i's entries at position i."
    for name in "${ENV_NAMES[@]}"; do
      value=${!name:-}
      printf "%s='%s'\n" "$name" "${value//$q/$q\\$q$q}"
    done
  } >"$WORKDIR/cluster.env.tmp"
  mv "$WORKDIR/cluster.env.tmp" "$WORKDIR/cluster.env"
}

load_env() {
  [ -f "$1/cluster.env" ] || die "no cluster.env in $1"
  # shellcheck disable=SC1091
  source "$1/cluster.env"
}

# Prints $1 free TCP ports of 127.0.0.1: bound together (so all differ), then released.
free_ports() {
  python3 -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$1"
}

# Starts replica r$1 on ports $2 (gRPC) and $3 (metrics), more server flags after them, and
# adds it to the REPLICA_* lists.
start_replica() {
  local i=$1 port=$2 mport=$3 args
  shift 3
  mkdir -p "$WORKDIR/r$i"
  args=(--host=127.0.0.1 --port="$port" --metrics_port="$mport" --model_dir="$MODEL_DIR"
        --threads="$THREADS" --session_dir="$WORKDIR/r$i/sessions")
  if [ "$CLUSTER_FLAGS" != 0 ]; then
    args+=(--store="$PG_URI" --replica_id="r$i" --advertise_address="127.0.0.1:$port"
           --lease_seconds="$LEASE_SECONDS")
  fi
  # setsid: the replicas outlive this script and ignore the terminal's Ctrl-C.
  setsid "$SERVER" "${args[@]}" "$@" </dev/null >"$WORKDIR/r$i.log" 2>&1 &
  REPLICA_IDS+="${REPLICA_IDS:+ }r$i"
  REPLICA_PORTS+="${REPLICA_PORTS:+ }$port"
  REPLICA_METRICS_PORTS+="${REPLICA_METRICS_PORTS:+ }$mport"
  REPLICA_PIDS+="${REPLICA_PIDS:+ }$!"
}

# Waits until file $1 has a line matching regex $2 while pid $3 lives; $4 names it.
wait_for_line() {
  local t
  for ((t = 0; t < START_TIMEOUT * 10; t++)); do
    grep -qE "$2" "$1" 2>/dev/null && return 0
    alive "$3" || { tail -n 20 "$1" >&2; die "$4 exited (log: $1)"; }
    sleep 0.1
  done
  tail -n 20 "$1" >&2
  die "$4 did not start within ${START_TIMEOUT}s (log: $1)"
}

wait_replica() {  # $1 = i, $2 = port, $3 = pid
  wait_for_line "$WORKDIR/r$1.log" "^infmem-server listening on 127\.0\.0\.1:$2," "$3" \
    "replica r$1"
}

# Writes $HAPROXY_CFG: deploy/haproxy/haproxy.cfg with its addresses set at the top of global
# (setenv, which the lines after it expand) and its server block replaced by the replicas
# (server rI 127.0.0.1:PORT id I), its HTTP server block emptied (these replicas serve gRPC
# only). Self-contained: `haproxy -db -f $HAPROXY_CFG` restarts it.
render_haproxy() {
  awk -v bind="$HAPROXY_ADDR" -v admin="127.0.0.1:$HAPROXY_ADMIN_PORT" \
      -v http="127.0.0.1:$HAPROXY_HTTP_PORT" \
      -v sock="$HAPROXY_SOCKET" -v ids="$REPLICA_IDS" -v ports="$REPLICA_PORTS" '
    /^global[ \t]*$/ {
      print; print "    # Set by scripts/cluster-up.sh."
      print "    setenv INFMEM_LB_BIND " bind
      print "    setenv INFMEM_LB_ADMIN_BIND " admin
      print "    setenv INFMEM_LB_HTTP_BIND " http
      print "    setenv INFMEM_LB_SOCKET " sock
      next
    }
    /^[ \t]*# >>> servers/ {
      print; n = split(ports, p, " "); split(ids, id, " ")
      for (i = 1; i <= n; i++) printf "    server %s 127.0.0.1:%s id %s\n", id[i], p[i], substr(id[i], 2)
      skip = 1; next
    }
    /^[ \t]*# <<< servers/ { skip = 0 }
    /^[ \t]*# >>> http servers/ { print; skip = 1; next }
    /^[ \t]*# <<< http servers/ { skip = 0 }
    !skip { print }' "$REPO/deploy/haproxy/haproxy.cfg" >"$HAPROXY_CFG.tmp"
  grep -q "^    server r" "$HAPROXY_CFG.tmp" ||
    die "deploy/haproxy/haproxy.cfg has no '# >>> servers' ... '# <<< servers' block"
  "$HAPROXY_BIN" -c -q -f "$HAPROXY_CFG.tmp" || die "haproxy -c refused $HAPROXY_CFG.tmp"
  mv "$HAPROXY_CFG.tmp" "$HAPROXY_CFG"
}

# Ctrl-C or SIGTERM: exit, running the EXIT trap (which stops what a failed up or add started).
trap 'exit 130' INT TERM
command=up
case "${1:-}" in up|add|status|down) command=$1; shift ;; esac
START_TIMEOUT=${START_TIMEOUT:-120}

# ---- down, status, add: an existing cluster ----

if [ "$command" != up ]; then
  [ $# -ge 1 ] || die "usage: $0 $command WORKDIR (--help)"
  dir=$(abs "$1" "$CALLER_PWD")
  shift
  load_env "$dir"
fi

if [ "$command" = down ]; then
  stop_cluster
  if [ "${1:-}" = --rm ]; then
    rm -rf "$WORKDIR"
    say "stopped; removed $WORKDIR"
  else
    say "stopped; logs in $WORKDIR"
  fi
  exit 0
fi

if [ "$command" = status ]; then
  read -r -a ids <<<"$REPLICA_IDS"
  read -r -a ports <<<"$REPLICA_PORTS"
  read -r -a pids <<<"$REPLICA_PIDS"
  for i in "${!ids[@]}"; do
    state=stopped
    is_ours "${pids[$i]}" && state="running (pid ${pids[$i]})"
    echo "replica ${ids[$i]} 127.0.0.1:${ports[$i]}: $state"
  done
  state=stopped
  is_ours "$HAPROXY_PID" && state="running (pid $HAPROXY_PID)"
  echo "haproxy $HAPROXY_ADDR: $state"
  state=stopped
  runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1 && state=running
  echo "postgresql $PG_URI: $state"
  if is_ours "$HAPROXY_PID"; then
    haproxy_api "$HAPROXY_SOCKET" states 2>/dev/null |
      while read -r name st check; do echo "haproxy sees $name: $st (check $check)"; done
  fi
  exit 0
fi

if [ "$command" = add ]; then
  [ "${1:-}" = -- ] && shift
  is_ours "$HAPROXY_PID" || die "HAProxy of $WORKDIR is not running"
  i=$((REPLICAS + 1))
  read -r port mport <<<"$(free_ports 2)"
  start_replica "$i" "$port" "$mport" "$@"
  new_pid=${REPLICA_PIDS##* }
  # shellcheck disable=SC2317 # (the EXIT trap calls it)
  stop_new_replica() {
    say "failed; stopping r$i (log: $WORKDIR/r$i.log)"
    haproxy_api "$HAPROXY_SOCKET" cmd "disable server replicas/r$i" >/dev/null 2>&1 || true
    haproxy_api "$HAPROXY_SOCKET" cmd "del server replicas/r$i" >/dev/null 2>&1 || true
    TIMEOUT=${STOP_TIMEOUT:-60} stop_pids TERM replica "$new_pid"
  }
  trap stop_new_replica EXIT
  wait_replica "$i" "$port" "$new_pid"
  # A server added at run time takes nothing from default-server: give it the same keywords,
  # less those of the DNS resolver (which 127.0.0.1 does not need).
  keywords=$(awk '$1 == "default-server" { $1 = ""; print; exit }' "$HAPROXY_CFG" |
    sed -E 's/ (resolvers|resolve-prefer|init-addr) [^ ]+//g')
  answer=$(haproxy_api "$HAPROXY_SOCKET" cmd \
    "add server replicas/r$i 127.0.0.1:$port id $i$keywords")
  case "$answer" in *"New server registered"*) ;; *) die "HAProxy refused r$i: $answer" ;; esac
  haproxy_api "$HAPROXY_SOCKET" cmd "enable health replicas/r$i" >/dev/null
  haproxy_api "$HAPROXY_SOCKET" cmd "enable server replicas/r$i" >/dev/null
  haproxy_api "$HAPROXY_SOCKET" wait-up "$START_TIMEOUT" "$HAPROXY_PID" "r$i" ||
    die "HAProxy does not see r$i UP"
  trap - EXIT
  REPLICAS=$i
  render_haproxy
  write_env
  echo "added replica r$i on 127.0.0.1:$port (pid $new_pid); HAProxy routes to it"
  exit 0
fi

# ---- up ----

REPLICAS=${REPLICAS:-3}
MODEL_DIR=${MODEL_DIR:-models/brown-lm}
WORKDIR=${WORKDIR:-}
SERVER=${INFMEM_SERVER:-build/release/server/infmem-server}
LEASE_SECONDS=${LEASE:-5}
THREADS=${THREADS:-1}
CLUSTER_FLAGS=${INFMEM_CLUSTER_FLAGS:-1}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
HAPROXY_BIN=${HAPROXY:-haproxy}
server_args=()
model_from_caller=0 server_from_caller=0
while [ $# -gt 0 ]; do
  case "$1" in
    --replicas=*) REPLICAS=${1#*=} ;;
    --model_dir=*) MODEL_DIR=${1#*=}; model_from_caller=1 ;;
    --workdir=*) WORKDIR=${1#*=} ;;
    --server=*) SERVER=${1#*=}; server_from_caller=1 ;;
    --lease_seconds=*) LEASE_SECONDS=${1#*=} ;;
    --threads=*) THREADS=${1#*=} ;;
    --no_cluster_flags) CLUSTER_FLAGS=0 ;;
    --) shift; server_args=("$@"); break ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (--help)" ;;
  esac
  shift
done
[[ "$REPLICAS" =~ ^[1-9][0-9]*$ ]] || die "--replicas must be a positive number, got $REPLICAS"
[[ "$LEASE_SECONDS" =~ ^[1-9][0-9]*$ ]] ||
  die "--lease_seconds must be a positive number, got $LEASE_SECONDS"
# Paths given on the command line are relative to the caller's directory; the defaults (and
# MODEL_DIR/INFMEM_SERVER from the environment) to the repository, like the other scripts.
if [ "$model_from_caller" -eq 1 ]; then MODEL_DIR=$(abs "$MODEL_DIR" "$CALLER_PWD"); fi
if [ "$server_from_caller" -eq 1 ]; then SERVER=$(abs "$SERVER" "$CALLER_PWD"); fi
MODEL_DIR=$(abs "$MODEL_DIR" "$REPO")
SERVER=$(abs "$SERVER" "$REPO")

[ "$(id -u)" -eq 0 ] || die "needs root (PostgreSQL runs as the postgres user)"
id postgres >/dev/null 2>&1 || die "no postgres user (apt-get install postgresql-15)"
[ -x "$PG_BIN/initdb" ] || die "no $PG_BIN/initdb (apt-get install postgresql-15)"
HAPROXY_BIN=$(command -v "$HAPROXY_BIN") || die "no haproxy (apt-get install haproxy)"
command -v python3 >/dev/null || die "no python3"
[ -x "$SERVER" ] || die "no server binary at $SERVER (build it first: make build)"
[ -f "$MODEL_DIR/config.json" ] || die "no model at $MODEL_DIR"
if [ "$CLUSTER_FLAGS" != 0 ] && ! "$SERVER" --help 2>&1 | grep -q -- '--store '; then
  die "$SERVER has no --store (built before cluster mode); INFMEM_CLUSTER_FLAGS=0 or" \
    "--no_cluster_flags starts the replicas without the cluster flags"
fi

if [ -z "$WORKDIR" ]; then
  WORKDIR=$(mktemp -d /tmp/infmem-cluster.XXXXXX)
else
  WORKDIR=$(abs "$WORKDIR" "$CALLER_PWD")
  if [ -f "$WORKDIR/cluster.env" ]; then
    die "$WORKDIR already holds a cluster (scripts/cluster-up.sh down $WORKDIR [--rm] first)"
  fi
  mkdir -p "$WORKDIR"
fi
# PostgreSQL, as the postgres user, needs to reach WORKDIR/pgdata.
chmod 755 "$WORKDIR"

REPLICA_IDS="" REPLICA_PORTS="" REPLICA_METRICS_PORTS="" REPLICA_PIDS="" HAPROXY_PID=""
read -r PGPORT HAPROXY_PORT HAPROXY_ADMIN_PORT HAPROXY_HTTP_PORT <<<"$(free_ports 4)"
PG_URI=postgresql://postgres@127.0.0.1:$PGPORT/infmem
PGDATA=$WORKDIR/pgdata
HAPROXY_ADDR=127.0.0.1:$HAPROXY_PORT
HAPROXY_SOCKET=$WORKDIR/haproxy.sock
HAPROXY_CFG=$WORKDIR/haproxy.cfg

up_done=0
on_exit() {
  if [ "$up_done" -eq 0 ]; then
    set +e
    say "failed; stopping what was started (logs in $WORKDIR)"
    stop_cluster
    rm -f "$WORKDIR/cluster.env"
  fi
}
trap on_exit EXIT
write_env

# ---- PostgreSQL ----
say "PostgreSQL on 127.0.0.1:$PGPORT, data in $PGDATA"
mkdir -p "$PGDATA"
touch "$WORKDIR/postgres.log"
chown postgres:postgres "$PGDATA" "$WORKDIR/postgres.log"
chmod 700 "$PGDATA"
runuser -u postgres -- test -w "$PGDATA" ||
  die "the postgres user cannot reach $PGDATA (is a parent directory closed to it?)"
runuser -u postgres -- "$PG_BIN/initdb" -D "$PGDATA" -U postgres --auth=trust --encoding=UTF8 \
  --locale=C >"$WORKDIR/initdb.log" 2>&1 || { cat "$WORKDIR/initdb.log" >&2; die "initdb failed"; }
# Only TCP on 127.0.0.1 (no Unix socket, so no path length limit and no clash with a system
# PostgreSQL's /var/run/postgresql), trusted without a password. fsync and synchronous_commit
# are the defaults, pinned: they make a COMMIT, and so an acknowledged infmem call, durable.
cat >"$PGDATA/pg_hba.conf" <<'HBA'
# TYPE  DATABASE  USER  ADDRESS       METHOD
host    all       all   127.0.0.1/32  trust
HBA
cat >>"$PGDATA/postgresql.conf" <<CONF

# scripts/cluster-up.sh
listen_addresses = '127.0.0.1'
port = $PGPORT
unix_socket_directories = ''
max_connections = 200
fsync = on
synchronous_commit = on
full_page_writes = on
CONF
runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$WORKDIR/postgres.log" -w \
  -t "$START_TIMEOUT" start >/dev/null ||
  { tail -n 20 "$WORKDIR/postgres.log" >&2; die "PostgreSQL did not start"; }
runuser -u postgres -- "$PG_BIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U postgres infmem
[ "$("$PG_BIN/psql" "$PG_URI" -XAtc 'SELECT 1')" = 1 ] || die "cannot query $PG_URI"

# ---- the replicas ----
read -r -a ports <<<"$(free_ports $((2 * REPLICAS)))"
for ((i = 1; i <= REPLICAS; i++)); do
  start_replica "$i" "${ports[$((2 * i - 2))]}" "${ports[$((2 * i - 1))]}" "${server_args[@]}"
  write_env
done
say "replicas $REPLICA_IDS on ports $REPLICA_PORTS (pids $REPLICA_PIDS)"
read -r -a pids <<<"$REPLICA_PIDS"
for ((i = 1; i <= REPLICAS; i++)); do
  wait_replica "$i" "${ports[$((2 * i - 2))]}" "${pids[$((i - 1))]}"
done

# ---- HAProxy ----
render_haproxy
setsid "$HAPROXY_BIN" -db -f "$HAPROXY_CFG" </dev/null >"$WORKDIR/haproxy.log" 2>&1 &
HAPROXY_PID=$!
write_env
say "HAProxy on $HAPROXY_ADDR (pid $HAPROXY_PID); waiting for its checks to see every replica UP"
# shellcheck disable=SC2086 # (the ids, split)
haproxy_api "$HAPROXY_SOCKET" wait-up "$START_TIMEOUT" "$HAPROXY_PID" $REPLICA_IDS ||
  { tail -n 20 "$WORKDIR/haproxy.log" >&2; die "HAProxy did not come up (log: $WORKDIR/haproxy.log)"; }

up_done=1
CLI=build/release/client/infmem
cat <<EOF
infmem cluster up in $WORKDIR
  PostgreSQL  $PG_URI
  replicas    $(read -r -a p <<<"$REPLICA_PORTS"; for i in "${!p[@]}"; do printf 'r%d 127.0.0.1:%s  ' $((i + 1)) "${p[$i]}"; done)
  HAProxy     $HAPROXY_ADDR (status page http://127.0.0.1:$HAPROXY_ADMIN_PORT/stats)
Try it (every call through HAProxy, which routes by the session id):
  $CLI --server=$HAPROXY_ADDR create --id=demo --text="The jury said that"
  $CLI --server=$HAPROXY_ADDR generate demo --max_tokens=40
  $CLI --server=$HAPROXY_ADDR chat demo
Ports, pids and paths: source $WORKDIR/cluster.env; logs: $WORKDIR/*.log
State: scripts/cluster-up.sh status $WORKDIR      One more replica: scripts/cluster-up.sh add $WORKDIR
Stop:  scripts/cluster-up.sh down $WORKDIR        (--rm also deletes $WORKDIR)
EOF
