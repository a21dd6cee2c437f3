# Thin wrapper over CMake presets. Every target installs missing Debian packages first
# (scripts/install-deps.sh is idempotent and quick when nothing is missing).
PRESET ?= release
BUILD_DIR := build/$(PRESET)
JOBS ?= 2
TINY_MODEL := $(BUILD_DIR)/tiny-model

.PHONY: all deps configure build test run bench format clean

all: build

deps:
	@scripts/install-deps.sh

configure: deps
	@cmake --preset $(PRESET) >/dev/null

build: configure
	@cmake --build --preset $(PRESET) -j $(JOBS)

test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) --timeout 900

# Until the server lands, `make run` runs the model demo on a random tiny model made here.
run: build
	@$(BUILD_DIR)/tests/testing/make-tiny-model --out=$(TINY_MODEL) >/dev/null
	@$(BUILD_DIR)/server/model/model-demo --model_dir=$(TINY_MODEL) --prompt="The cat sat on the" --max_tokens=24

bench: build
	@$(BUILD_DIR)/bench/model-bench $(BENCH_ARGS)

format:
	@git ls-files '*.cc' '*.h' | xargs clang-format -i

clean:
	@rm -rf build
