// The paper's synthetic sorting task (MODEL.md §8): symbols whose frequencies drift
// linearly from one random distribution to another over the sequence, a separator, then the
// symbols sorted by descending frequency. Plain C++; deterministic in (split, index, seed).
// Thread-safe: stateless functions.
#ifndef INFMEM_TRAIN_SORTING_TASK_H_
#define INFMEM_TRAIN_SORTING_TASK_H_

#include <cstdint>
#include <vector>

namespace infmem::train {

inline constexpr int kSortingSymbols = 20;
inline constexpr int kSortingSeparator = kSortingSymbols;  // token id of the separator
inline constexpr int kSortingVocab = kSortingSymbols + 1;

enum class Split { kTrain, kValid, kTest };

struct SortingExample {
  std::vector<int32_t> tokens;     // [length content symbols, separator, 20 answer symbols]
  std::vector<uint8_t> loss_mask;  // 1 on the answer symbols only
  std::vector<double> start_distribution, end_distribution;  // [20] each
  int64_t length = 0;                                        // content symbols before the separator
};

// Returns example `index` of `split` with `length` content symbols. Examples of different
// splits come from disjoint seed streams; the same arguments always give the same example.
SortingExample MakeSortingExample(Split split, uint64_t index, int64_t length, uint64_t seed = 0);

// Returns the 20 symbols ordered by descending count in `content`; ties (unseen symbols
// included) are broken by ascending symbol id.
std::vector<int32_t> SortByFrequency(const std::vector<int32_t>& content);

}  // namespace infmem::train

#endif  // INFMEM_TRAIN_SORTING_TASK_H_
