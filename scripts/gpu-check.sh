#!/usr/bin/env bash
# Builds the model core (no gRPC) against the CUDA LibTorch of a Python PyTorch install and
# runs the model tests and the benchmark on the GPU. For a machine with an NVIDIA GPU:
#   scripts/gpu-check.sh [build-dir]
# Needs: cmake, a C++17 compiler, Abseil, nlohmann-json, SentencePiece and GoogleTest sources
# (Debian: scripts/install-deps.sh installs them; LibTorch comes from Python here instead).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/gpu}
python=${PYTHON:-python3}
torch_prefix=$("$python" -c 'import torch; print(torch.utils.cmake_prefix_path)')
"$python" -c 'import torch; assert torch.cuda.is_available(), "no CUDA device visible to PyTorch"; print("torch", torch.__version__, "CUDA", torch.version.cuda, torch.cuda.get_device_name(0))'
# Debian's Abseil and GoogleTest use the C++11 std::string ABI; so must this LibTorch
# (PyTorch wheels do from 2.7 on).
"$python" -c 'import torch, sys; sys.exit(0 if torch._C._GLIBCXX_USE_CXX11_ABI else "this PyTorch uses the pre-C++11 string ABI; install one built with _GLIBCXX_USE_CXX11_ABI=1")'
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S . -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DINFMEM_CORE_ONLY=ON \
  -DCMAKE_PREFIX_PATH="$torch_prefix"
cmake --build "$build" -j "$(nproc)" --target model_test ltm_test model-bench
echo "== model tests on cuda"
INFMEM_TEST_DEVICE=cuda "$build/tests/model_test"
"$build/tests/ltm_test"
echo "== benchmark on cuda"
"$build/bench/model-bench" --device=cuda
