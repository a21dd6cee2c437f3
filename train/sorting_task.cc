#include "train/sorting_task.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>

#include "server/common/hash.h"

namespace infmem::train {
namespace {

// Uniform double in [0, 1) from 53 random bits.
double Uniform(uint64_t& state) { return static_cast<double>(SplitMix64(state) >> 11) * 0x1.0p-53; }

// A random distribution over the symbols: normalised exponentials (Dirichlet with α = 1).
std::vector<double> RandomDistribution(uint64_t& state) {
  std::vector<double> p(kSortingSymbols);
  for (double& v : p) v = -std::log(1.0 - Uniform(state));
  const double total = std::accumulate(p.begin(), p.end(), 0.0);
  for (double& v : p) v /= total;
  return p;
}

// The paper's distribution: 20 integers uniform in 1..9, normalised.
std::vector<double> IntegerDistribution(uint64_t& state, std::vector<int>& weights) {
  weights.resize(kSortingSymbols);
  for (int& w : weights) w = 1 + static_cast<int>(SplitMix64(state) % 9);
  const double total = std::accumulate(weights.begin(), weights.end(), 0.0);
  std::vector<double> p(kSortingSymbols);
  for (int s = 0; s < kSortingSymbols; ++s) p[s] = weights[s] / total;
  return p;
}

// Draws a symbol from the mixture (1 - t)·start + t·end.
int32_t DrawSymbol(uint64_t& state, const SortingExample& ex, double t) {
  const double u = Uniform(state);
  double acc = 0.0;
  for (int s = 0; s < kSortingSymbols; ++s) {
    acc += (1 - t) * ex.start_distribution[s] + t * ex.end_distribution[s];
    if (u < acc) return s;
  }
  return kSortingSymbols - 1;
}

}  // namespace

int64_t PaperSetSize(Split split) { return split == Split::kTrain ? 8000 : 800; }

std::vector<int32_t> SortByFrequencyFirstSeen(const std::vector<int32_t>& content) {
  std::array<int64_t, kSortingSymbols> count{};
  std::vector<int32_t> order;  // symbols by first appearance, then the unseen by id
  for (int32_t s : content) {
    if (s < 0 || s >= kSortingSymbols) continue;
    if (count[s]++ == 0) order.push_back(s);
  }
  for (int32_t s = 0; s < kSortingSymbols; ++s) {
    if (count[s] == 0) order.push_back(s);
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return count[a] > count[b]; });
  return order;
}

std::vector<int32_t> SortByFrequency(const std::vector<int32_t>& content) {
  std::array<int64_t, kSortingSymbols> count{};
  for (int32_t s : content) {
    if (s >= 0 && s < kSortingSymbols) ++count[s];
  }
  std::vector<int32_t> order(kSortingSymbols);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return count[a] > count[b]; });
  return order;
}

SortingExample MakeSortingExample(Split split, uint64_t index, int64_t length, uint64_t seed,
                                  SortingData data) {
  const bool paper = data == SortingData::kPaper;
  if (paper) index %= static_cast<uint64_t>(PaperSetSize(split));
  // The paper's examples come from their own seed streams, apart from the first generator's.
  const uint64_t stream = (paper ? 0x9a9e0 : 0x5011) + static_cast<uint64_t>(split);
  uint64_t state = MixSeed(MixSeed(seed, stream), index);
  SortingExample ex;
  ex.length = length;
  if (paper) {
    ex.start_distribution = IntegerDistribution(state, ex.start_weights);
    ex.end_distribution = IntegerDistribution(state, ex.end_weights);
  } else {
    ex.start_distribution = RandomDistribution(state);
    ex.end_distribution = RandomDistribution(state);
  }
  ex.tokens.reserve(length + 1 + kSortingSymbols);
  for (int64_t i = 0; i < length; ++i) {
    double t;
    if (paper) {
      t = static_cast<double>(i + 1) / static_cast<double>(length);
    } else {
      t = length > 1 ? static_cast<double>(i) / (length - 1) : 0.0;
    }
    ex.tokens.push_back(DrawSymbol(state, ex, t));
  }
  const std::vector<int32_t> answer =
      paper ? SortByFrequencyFirstSeen(ex.tokens) : SortByFrequency(ex.tokens);
  ex.tokens.push_back(kSortingSeparator);
  ex.tokens.insert(ex.tokens.end(), answer.begin(), answer.end());
  ex.loss_mask.assign(ex.tokens.size(), 0);
  std::fill(ex.loss_mask.end() - kSortingSymbols, ex.loss_mask.end(), 1);
  return ex;
}

}  // namespace infmem::train
