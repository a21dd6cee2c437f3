// Sampler: turns one row of logits into a token id. Plain C++ over floats (no torch), so it
// runs on the CPU after the model's logits are copied back, whatever the model's device.
// Thread-compatible: one Sampler per generation request; it owns its random generator.
#ifndef INFMEM_SERVER_MODEL_SAMPLER_H_
#define INFMEM_SERVER_MODEL_SAMPLER_H_

#include <cstdint>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace infmem::model {

struct SamplingParams {
  double temperature = 1.0;         // 0 => greedy (argmax); must be >= 0 and finite
  int top_k = 0;                    // 0 => off; must be >= 0
  double top_p = 1.0;               // nucleus mass in (0, 1]; 1 => off
  double min_p = 0.0;               // in [0, 1); keep tokens with p >= min_p * p_max; 0 => off
  double repetition_penalty = 1.0;  // > 0; 1 => off (CTRL-style: divide positive logits)
  uint64_t seed = 0;
};

// Returns InvalidArgument naming the first out-of-range field of `params`.
absl::Status ValidateSamplingParams(const SamplingParams& params);

class Sampler {
 public:
  // `params` must have passed ValidateSamplingParams.
  explicit Sampler(const SamplingParams& params);

  // Picks the next token from `logits` [V]. `history` holds the token ids the repetition
  // penalty applies to (the session's recent tokens); ids outside [0, V) are ignored.
  // Order: repetition penalty, temperature, top-k, softmax, top-p, min-p, draw.
  // Deterministic given params.seed: a non-greedy call consumes at most one 64-bit draw of the
  // std::mt19937_64; greedy (temperature 0) consumes none. A NaN logit counts as -inf, so a
  // token whose logit is NaN or -inf is never chosen, except that when no logit is above -inf
  // the result is 0. +inf logits share all the mass. Returns -1 for empty `logits`.
  int32_t Sample(absl::Span<const float> logits, absl::Span<const int32_t> history);

 private:
  struct Candidate {
    double prob;  // unnormalised softmax weight
    float logit;  // after the repetition penalty
    int32_t id;
  };

  SamplingParams params_;
  std::mt19937_64 rng_;
  // Scratch buffers, reused across calls.
  std::vector<float> scratch_;         // [V] logits, NaN -> -inf, penalised
  std::vector<int32_t> history_ids_;   // distinct in-range history ids
  std::vector<Candidate> candidates_;  // tokens still in the running
};

}  // namespace infmem::model

#endif  // INFMEM_SERVER_MODEL_SAMPLER_H_
