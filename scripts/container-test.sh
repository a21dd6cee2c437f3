#!/usr/bin/env bash
# Builds the Dockerfile, runs the image, drives it with the CLI (append, stream, health check,
# clean stop), then brings up the compose stack's server and Prometheus (Prometheus built from
# Debian's package) and sees Prometheus scrape the server. Needs root, podman and buildah
# (installed if missing); skips with a message, exit 0, where containers cannot run.
# Works without a registry: the base image is made with debootstrap
# (../shared/reference/CONTAINERS.md has the recipe and its pitfalls).
#   scripts/container-test.sh [CLI]    (CLI: a host-built infmem client; default build/release)
set -euo pipefail
cd "$(dirname "$0")/.."
CLI=${1:-build/release/client/infmem}
say() { echo "container-test: $*"; }
skip() { say "SKIPPED: $*"; exit 0; }

[ "$(id -u)" -eq 0 ] || skip "needs root"
if ! command -v podman >/dev/null || ! command -v buildah >/dev/null ||
   ! command -v docker-compose >/dev/null || ! command -v debootstrap >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq buildah podman debootstrap \
    fuse-overlayfs slirp4netns uidmap runc docker-compose >/dev/null 2>&1 ||
    skip "cannot install podman, buildah, debootstrap and docker-compose"
fi
[ -x "$CLI" ] || skip "no CLI at $CLI (build it first)"

TMP=$(mktemp -d)
CTR=""; SVC_PID=""
cleanup() {
  set +e
  [ -n "$CTR" ] && podman rm -f "$CTR" >/dev/null 2>&1
  if [ -n "$SVC_PID" ]; then
    docker-compose -p infmemtest -f docker-compose.yml -f tests/container/compose.test.yml \
      down -v >/dev/null 2>&1
    kill "$SVC_PID" 2>/dev/null
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT

# The two fixes this VM needs (CONTAINERS.md): runc instead of crun, ulimits it may set.
cat > "$TMP/containers.conf" <<'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
export CONTAINERS_CONF="$TMP/containers.conf" BUILDAH_FORMAT=docker
podman info >/dev/null 2>&1 || skip "podman does not work on this machine"

if ! podman image exists docker.io/library/debian:bookworm; then
  say "making the debian:bookworm base image with debootstrap"
  debootstrap --variant=minbase bookworm "$TMP/rootfs" http://deb.debian.org/debian >/dev/null ||
    skip "debootstrap could not reach the Debian mirror"
  rm -f "$TMP/rootfs/etc/apt/sources.list"
  [ -f /etc/apt/sources.list.d/debian.sources ] &&
    cp /etc/apt/sources.list.d/debian.sources "$TMP/rootfs/etc/apt/sources.list.d/"
  rm -rf "$TMP"/rootfs/var/cache/apt/archives/*.deb "$TMP"/rootfs/var/lib/apt/lists/*
  tar -C "$TMP/rootfs" --numeric-owner -c . |
    podman import --change 'CMD ["bash"]' - docker.io/library/debian:bookworm >/dev/null
  rm -rf "$TMP/rootfs"
fi

say "building the image (Dockerfile)"
start=$(date +%s)
buildah bud --pull-never --layers --format docker -t localhost/infmem:test . >"$TMP/build.log" 2>&1 ||
  { tail -30 "$TMP/build.log"; say "FAILED: image build"; exit 1; }
say "image built in $(( $(date +%s) - start )) s: $(podman image inspect localhost/infmem:test --format '{{.Size}}') bytes"

# Run it as shipped (gRPC on 50051 inside, where its HEALTHCHECK looks), published on free
# host ports.
CTR=$(podman run -d -p 127.0.0.1::50051 -p 127.0.0.1::9464 localhost/infmem:test)
for _ in $(seq 120); do
  LINE=$(podman logs "$CTR" 2>/dev/null | grep -m1 "infmem-server listening" || true)
  [ -n "$LINE" ] && break
  sleep 0.5
done
[ -n "$LINE" ] ||
  { podman logs "$CTR" | tail -20; say "FAILED: the server in the container did not start"; exit 1; }
SERVER=$(podman port "$CTR" 50051/tcp)
say "server up at $SERVER"
"$CLI" --server="$SERVER" create --id=box --text="The jury said that" >/dev/null
"$CLI" --server="$SERVER" append box " and the city" >/dev/null
OUT=$("$CLI" --server="$SERVER" generate box --max_tokens=12 2>"$TMP/gen.err")
grep -q "finish: length, prompt 0, generated 12" "$TMP/gen.err" ||
  { cat "$TMP/gen.err"; say "FAILED: streaming through the container"; exit 1; }
say "streamed: $OUT"
# The image's HEALTHCHECK (podman runs it on demand: no systemd timers here).
podman healthcheck run "$CTR" >/dev/null || { say "FAILED: HEALTHCHECK"; exit 1; }
say "HEALTHCHECK passes"
podman stop -t 30 "$CTR" >/dev/null
RC=$(podman inspect "$CTR" --format '{{.State.ExitCode}}')
[ "$RC" = 0 ] || { podman logs "$CTR" | tail -5; say "FAILED: exit code $RC on stop"; exit 1; }
say "clean stop (exit 0)"
podman rm "$CTR" >/dev/null; CTR=""

# The compose stack: its server and Prometheus with the project's configuration.
buildah bud --pull-never --format docker -f tests/container/prometheus.Dockerfile \
  -t localhost/infmem-test-prometheus:latest . >"$TMP/prom-build.log" 2>&1 ||
  { tail -20 "$TMP/prom-build.log"; say "FAILED: Prometheus image build"; exit 1; }
podman system service --time=0 "unix://$TMP/podman.sock" & SVC_PID=$!
export DOCKER_HOST="unix://$TMP/podman.sock"
for _ in $(seq 50); do [ -S "$TMP/podman.sock" ] && break; sleep 0.1; done
export INFMEM_GRPC_PORT="" INFMEM_METRICS_PORT="" PROMETHEUS_PORT="" GRAFANA_PORT=""
COMPOSE=(docker-compose -p infmemtest -f docker-compose.yml -f tests/container/compose.test.yml)
"${COMPOSE[@]}" config -q
"${COMPOSE[@]}" up -d --no-build infmem prometheus >"$TMP/up.log" 2>&1 ||
  { cat "$TMP/up.log"; say "FAILED: compose up"; exit 1; }
PROM=$("${COMPOSE[@]}" port prometheus 9090)
for _ in $(seq 120); do
  UP=$(curl -s "http://$PROM/api/v1/query?query=up%7Bjob%3D%22infmem%22%7D" || true)
  echo "$UP" | grep -q '"value":\[[0-9.]*,"1"\]' && break
  sleep 0.5
done
echo "$UP" | grep -q '"value":\[[0-9.]*,"1"\]' ||
  { echo "$UP"; "${COMPOSE[@]}" logs | tail -20; say "FAILED: Prometheus does not scrape infmem"; exit 1; }
say "compose: Prometheus scrapes infmem (up == 1)"
say "PASSED"
