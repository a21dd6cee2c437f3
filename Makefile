# Thin wrapper over CMake presets. Every target installs missing Debian packages first
# (scripts/install-deps.sh is idempotent and quick when nothing is missing).
PRESET ?= release
BUILD_DIR := build/$(PRESET)
JOBS ?= 2

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

# Until the server lands, `make run` generates from the shipped default model (models/brown-lm).
run: build
	@$(BUILD_DIR)/server/model/model-demo --model_dir=models/brown-lm --threads=2 \
	  --prompt="The jury said that" --max_tokens=48 --temperature=0.8 --top_p=0.95 --seed=1

bench: build
	@$(BUILD_DIR)/bench/model-bench $(BENCH_ARGS)

format:
	@git ls-files '*.cc' '*.h' | xargs clang-format -i

clean:
	@rm -rf build
