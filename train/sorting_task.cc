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

}  // namespace

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

SortingExample MakeSortingExample(Split split, uint64_t index, int64_t length, uint64_t seed) {
  uint64_t state = MixSeed(MixSeed(seed, 0x5011 + static_cast<uint64_t>(split)), index);
  SortingExample ex;
  ex.length = length;
  ex.start_distribution = RandomDistribution(state);
  ex.end_distribution = RandomDistribution(state);
  ex.tokens.reserve(length + 1 + kSortingSymbols);
  std::vector<double> p(kSortingSymbols);
  for (int64_t i = 0; i < length; ++i) {
    const double t = length > 1 ? static_cast<double>(i) / (length - 1) : 0.0;
    double u = Uniform(state), acc = 0.0;
    int32_t symbol = kSortingSymbols - 1;
    for (int s = 0; s < kSortingSymbols; ++s) {
      acc += (1 - t) * ex.start_distribution[s] + t * ex.end_distribution[s];
      if (u < acc) {
        symbol = s;
        break;
      }
    }
    ex.tokens.push_back(symbol);
  }
  const std::vector<int32_t> answer = SortByFrequency(ex.tokens);
  ex.tokens.push_back(kSortingSeparator);
  ex.tokens.insert(ex.tokens.end(), answer.begin(), answer.end());
  ex.loss_mask.assign(ex.tokens.size(), 0);
  std::fill(ex.loss_mask.end() - kSortingSymbols, ex.loss_mask.end(), 1);
  return ex;
}

}  // namespace infmem::train
