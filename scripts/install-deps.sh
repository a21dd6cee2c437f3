#!/usr/bin/env bash
# Installs the Debian 12 packages infmem needs to build, test and run.
# Idempotent: packages already present are skipped, so a second run does nothing.
# Usage: scripts/install-deps.sh            (must run as root, or with sudo available)
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config git
  # libraries
  libgrpc++-dev libgrpc-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libtorch-dev libabsl-dev prometheus-cpp-dev libsentencepiece-dev nlohmann-json3-dev
  # Unicode for tokenizer.json (normalization, properties, regular expressions)
  libicu-dev
  libgoogle-glog-dev libgflags-dev
  # BLAS: BLIS, never OpenBLAS (its static TLS breaks prometheus-cpp's Exposer threads)
  libblis4-openmp
  # tests and benchmarks
  libgtest-dev libgmock-dev googletest libbenchmark-dev clang-format
  # jinja2: the chat-template oracle (tests/tokenizer/jinja_oracle.py)
  python3-jinja2
  # torch for Python: tests/model/hf_llama_reference.py, the Hugging Face import reference
  python3-torch
  # the .proto parser, for the test that every API field is documented
  libprotoc-dev
  # promtool, which checks the metrics exposition in a test
  prometheus
  # the Python client test (a client written apart from the C++ stubs)
  python3-grpcio python3-protobuf
  # the checks of the Kubernetes manifests and the compose file
  python3-yaml docker-compose
  # the container test queries Prometheus with curl
  curl
  # libFuzzer targets with sanitizers (scripts/fuzz.sh, preset fuzz)
  clang-14 libclang-rt-14-dev
  # cluster mode: the PostgreSQL client library, and PostgreSQL and HAProxy for its tests,
  # its benchmark and scripts/cluster-up.sh
  libpq-dev postgresql haproxy
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
