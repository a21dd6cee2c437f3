// Small model configs for tests and benchmarks: random weights, no training needed.
#ifndef INFMEM_TESTS_TESTING_TINY_MODEL_H_
#define INFMEM_TESTS_TESTING_TINY_MODEL_H_

#include "server/model/config.h"

namespace infmem::testing {

// Returns a tiny ∞-former config (symbol tokenizer) in `memory` mode. Small segment and
// basis so tests cross many segment boundaries and LTM updates quickly.
inline model::ModelConfig TinyConfig(model::MemoryMode memory = model::MemoryMode::kInfinite) {
  model::ModelConfig c;
  c.name = "tiny";
  c.vocab_size = 64;
  c.dim = 32;
  c.n_layers = 2;
  c.n_heads = 4;
  c.ffn_dim = 64;
  c.segment_length = 16;
  c.memory = memory;
  c.ltm.num_basis = 16;
  c.ltm.num_samples = 16;
  c.ltm.widths = {0.05, 0.1};
  c.ltm.sticky_bins = 16;
  c.tokenizer.kind = "symbol";
  c.tokenizer.file = "";
  return c;
}

}  // namespace infmem::testing

#endif  // INFMEM_TESTS_TESTING_TINY_MODEL_H_
