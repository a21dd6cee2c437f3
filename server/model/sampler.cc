#include "server/model/sampler.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"

namespace infmem::model {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr float kPosInf = std::numeric_limits<float>::infinity();

// Rounds of mass-quickselect before top-p falls back to sorting what is left (a guard against
// quadratic behaviour on adversarial inputs; random pivots would cost determinism).
constexpr int kMaxTopPRounds = 64;

// A uniform double in [0, 1) from the top 53 bits of one 64-bit draw, so the draws depend
// only on std::mt19937_64 (fully specified by the standard), not on the standard library's
// uniform_real_distribution.
double UniformDouble(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

}  // namespace

absl::Status ValidateSamplingParams(const SamplingParams& params) {
  if (!(params.temperature >= 0.0) || !std::isfinite(params.temperature)) {
    return absl::InvalidArgumentError(
        absl::StrCat("temperature must be finite and >= 0, got ", params.temperature));
  }
  if (params.top_k < 0) {
    return absl::InvalidArgumentError(absl::StrCat("top_k must be >= 0, got ", params.top_k));
  }
  if (!(params.top_p > 0.0 && params.top_p <= 1.0)) {
    return absl::InvalidArgumentError(absl::StrCat("top_p must be in (0, 1], got ", params.top_p));
  }
  if (!(params.min_p >= 0.0 && params.min_p < 1.0)) {
    return absl::InvalidArgumentError(absl::StrCat("min_p must be in [0, 1), got ", params.min_p));
  }
  if (!(params.repetition_penalty > 0.0) || !std::isfinite(params.repetition_penalty)) {
    return absl::InvalidArgumentError(
        absl::StrCat("repetition_penalty must be finite and > 0, got ", params.repetition_penalty));
  }
  return absl::OkStatus();
}

Sampler::Sampler(const SamplingParams& params) : params_(params), rng_(params.seed) {}

int32_t Sampler::Sample(absl::Span<const float> logits, absl::Span<const int32_t> history) {
  const size_t vocab = logits.size();
  if (vocab == 0) {
    return -1;
  }

  // Working copy of the logits; NaN becomes -inf so it can never be chosen.
  scratch_.resize(vocab);
  for (size_t i = 0; i < vocab; ++i) {
    scratch_[i] = std::isnan(logits[i]) ? kNegInf : logits[i];
  }

  // Repetition penalty, once per distinct in-range id of the history.
  if (params_.repetition_penalty != 1.0 && !history.empty()) {
    history_ids_.clear();
    for (int32_t id : history) {
      if (id >= 0 && static_cast<size_t>(id) < vocab) {
        history_ids_.push_back(id);
      }
    }
    std::sort(history_ids_.begin(), history_ids_.end());
    history_ids_.erase(std::unique(history_ids_.begin(), history_ids_.end()), history_ids_.end());
    const double penalty = params_.repetition_penalty;
    for (int32_t id : history_ids_) {
      const double logit = scratch_[id];
      scratch_[id] = static_cast<float>(logit > 0.0 ? logit / penalty : logit * penalty);
    }
  }

  // Greedy: argmax, ties to the lowest id; 0 when every logit is -inf (or NaN).
  if (params_.temperature == 0.0) {
    size_t best = 0;
    float best_logit = scratch_[0];
    for (size_t i = 1; i < vocab; ++i) {
      if (scratch_[i] > best_logit) {
        best = i;
        best_logit = scratch_[i];
      }
    }
    return static_cast<int32_t>(best);
  }

  // The ranking every filter uses: higher logit first, then lower id. (Softmax is monotone,
  // so this is also the order by probability.)
  const auto before = [](const Candidate& a, const Candidate& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
  };

  // Candidates: tokens above -inf, or with top-k only the k best. Top-k keeps a heap of the k
  // best seen so far, worst on top: one pass over V, no sort. Ids arrive in increasing order,
  // so a later token with an equal logit never displaces an earlier one.
  candidates_.clear();
  const size_t top_k = static_cast<size_t>(params_.top_k);
  if (top_k > 0 && top_k < vocab) {
    for (size_t i = 0; i < vocab; ++i) {
      const float logit = scratch_[i];
      if (!(logit > kNegInf)) {
        continue;
      }
      if (candidates_.size() < top_k) {
        candidates_.push_back({0.0, logit, static_cast<int32_t>(i)});
        std::push_heap(candidates_.begin(), candidates_.end(), before);
      } else if (logit > candidates_.front().logit) {
        std::pop_heap(candidates_.begin(), candidates_.end(), before);
        candidates_.back() = {0.0, logit, static_cast<int32_t>(i)};
        std::push_heap(candidates_.begin(), candidates_.end(), before);
      }
    }
  } else {
    for (size_t i = 0; i < vocab; ++i) {
      if (scratch_[i] > kNegInf) {
        candidates_.push_back({0.0, scratch_[i], static_cast<int32_t>(i)});
      }
    }
  }
  if (candidates_.empty()) {
    return 0;
  }

  // Softmax with temperature, stable and in double: exp((l - l_max) / T) never overflows, and
  // the maximum gets weight 1. +inf logits (the limit) share all the mass equally.
  float max_logit = kNegInf;
  for (const Candidate& c : candidates_) {
    max_logit = std::max(max_logit, c.logit);
  }
  const double temperature = params_.temperature;
  double total = 0.0;
  if (max_logit == kPosInf) {
    for (Candidate& c : candidates_) {
      c.prob = c.logit == kPosInf ? 1.0 : 0.0;
      total += c.prob;
    }
  } else {
    const double max_d = max_logit;
    for (Candidate& c : candidates_) {
      c.prob = std::exp((static_cast<double>(c.logit) - max_d) / temperature);
      total += c.prob;
    }
  }
  // total >= 1 here: the maximum is always a candidate.

  // Top-p: keep the smallest prefix, in the ranking, whose mass reaches top_p * total (at
  // least one token). Found by quickselect on mass, expected O(n), without sorting: each round
  // partitions the undecided range [lo, hi) around a pivot, then keeps the upper part (the
  // answer lies inside it) or accepts it and the pivot and goes on below.
  // Invariants: [0, lo) ranks before [lo, hi), which ranks before [hi, n); acc = mass of
  // [0, lo) < threshold; the answer k lies in (lo, hi].
  size_t kept = candidates_.size();
  if (params_.top_p < 1.0 && kept > 1) {
    const double threshold = params_.top_p * total;
    Candidate* const c = candidates_.data();
    size_t lo = 0;
    size_t hi = kept;
    double acc = 0.0;
    for (int round = 0; hi - lo > 1; ++round) {
      if (round == kMaxTopPRounds) {
        std::sort(c + lo, c + hi, before);
        size_t i = lo;
        while (i + 1 < hi && (acc += c[i].prob) < threshold) {
          ++i;
        }
        hi = i + 1;
        break;
      }
      // Median of three as the pivot, moved to hi - 1.
      const size_t mid = lo + (hi - lo) / 2;
      if (before(c[mid], c[lo])) {
        std::swap(c[mid], c[lo]);
      }
      if (before(c[hi - 1], c[lo])) {
        std::swap(c[hi - 1], c[lo]);
      }
      if (before(c[mid], c[hi - 1])) {
        std::swap(c[mid], c[hi - 1]);
      }
      const Candidate pivot = c[hi - 1];
      Candidate* const split =
          std::partition(c + lo, c + hi - 1, [&](const Candidate& x) { return before(x, pivot); });
      const size_t m = static_cast<size_t>(split - c);
      std::swap(c[m], c[hi - 1]);
      double upper = 0.0;
      for (size_t i = lo; i < m; ++i) {
        upper += c[i].prob;
      }
      if (acc + upper >= threshold) {
        hi = m;  // [0, m) already suffices
      } else if (acc + upper + c[m].prob >= threshold) {
        hi = m + 1;  // exactly through the pivot
        break;
      } else {
        acc += upper + c[m].prob;
        lo = m + 1;
      }
    }
    kept = hi;
  }

  // Min-p: keep tokens with p >= min_p * p_max (renormalising leaves ratios unchanged).
  if (params_.min_p > 0.0 && kept > 1) {
    double p_max = 0.0;
    for (size_t i = 0; i < kept; ++i) {
      p_max = std::max(p_max, candidates_[i].prob);
    }
    const double cutoff = params_.min_p * p_max;
    kept = static_cast<size_t>(
        std::remove_if(candidates_.begin(), candidates_.begin() + kept,
                       [cutoff](const Candidate& x) { return x.prob < cutoff; }) -
        candidates_.begin());
  }

  // Renormalise over the survivors and draw.
  double mass = 0.0;
  for (size_t i = 0; i < kept; ++i) {
    mass += candidates_[i].prob;
  }
  const double target = UniformDouble(rng_) * mass;
  double cumulative = 0.0;
  for (size_t i = 0; i < kept; ++i) {
    cumulative += candidates_[i].prob;
    if (target < cumulative) {
      return candidates_[i].id;
    }
  }
  // Rounding can leave the target at the very top: the last survivor with mass takes it.
  for (size_t i = kept; i > 0; --i) {
    if (candidates_[i - 1].prob > 0.0) {
      return candidates_[i - 1].id;
    }
  }
  return candidates_[0].id;
}

}  // namespace infmem::model
