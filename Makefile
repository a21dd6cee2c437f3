# Thin wrapper over CMake presets. Every target installs missing Debian packages first
# (scripts/install-deps.sh is idempotent and quick when nothing is missing).
PRESET ?= release
BUILD_DIR := build/$(PRESET)
JOBS ?= 2

.PHONY: all deps configure build test run bench bench-server format clean

all: build

deps:
	@scripts/install-deps.sh

configure: deps
	@cmake --preset $(PRESET) >/dev/null

build: configure
	@cmake --build --preset $(PRESET) -j $(JOBS)

test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) --timeout 900

# Serves the shipped default model on 127.0.0.1:50051 (gRPC), :8080 (OpenAI-style HTTP) and
# :9464 (metrics); sessions are kept in ./sessions. Ctrl-C (SIGINT) or SIGTERM drains and exits.
run: build
	@$(BUILD_DIR)/server/infmem-server --model_dir=models/brown-lm --host=127.0.0.1 \
	  --port=50051 --http_port=8080 --metrics_port=9464 --session_dir=sessions $(RUN_ARGS)

bench: build
	@$(BUILD_DIR)/bench/model-bench $(BENCH_ARGS)

# End-to-end: starts its own server on a free port and measures it through the API.
bench-server: build
	@$(BUILD_DIR)/bench/infmem-bench --server_binary=$(BUILD_DIR)/server/infmem-server $(BENCH_ARGS)

format:
	@git ls-files '*.cc' '*.h' | xargs clang-format -i

clean:
	@rm -rf build
