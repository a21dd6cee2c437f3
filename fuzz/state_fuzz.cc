// Fuzzes session snapshot loading (Model::DeserializeState) on a tiny random model: any
// bytes either give a state that decodes a token, or an error.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "server/model/model.h"

namespace {

const infmem::model::Model& TinyModel() {
  static const auto* model = [] {
    infmem::model::ModelConfig c;
    c.name = "fuzz";
    c.vocab_size = 16;
    c.dim = 8;
    c.n_layers = 1;
    c.n_heads = 2;
    c.ffn_dim = 16;
    c.segment_length = 4;
    c.ltm.num_basis = 4;
    c.ltm.num_samples = 4;
    c.ltm.sticky_bins = 4;
    c.tokenizer = {"symbol", ""};
    return infmem::model::Model::CreateRandom(c, 1, {"cpu", "float32", 1}).value().release();
  }();
  return *model;
}

}  // namespace

// With INFMEM_FUZZ_WRITE_SEED=PATH, writes a valid snapshot of this model (40 tokens, so the
// long-term memory holds segments) to PATH and exits: scripts/fuzz.sh makes the seed this way,
// so it always matches the model's fingerprint.
extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  const char* path = std::getenv("INFMEM_FUZZ_WRITE_SEED");
  if (path == nullptr) return 0;
  const infmem::model::Model& model = TinyModel();
  auto state = model.NewSession(3);
  std::vector<int32_t> tokens(40);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<int32_t>(i * 7 % 16);
  if (!model.Prefill(*state, tokens).ok()) std::exit(1);
  auto bytes = model.SerializeState(*state);
  if (!bytes.ok()) std::exit(1);
  std::ofstream(path, std::ios::binary) << *bytes;
  std::exit(0);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const infmem::model::Model& model = TinyModel();
  auto state = model.DeserializeState(std::string(reinterpret_cast<const char*>(data), size));
  if (!state.ok()) return 0;
  infmem::model::SessionState* rows[] = {state->get()};
  if (!model.DecodeStep(rows, {1}).ok()) __builtin_trap();
  return 0;
}
