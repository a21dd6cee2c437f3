// The paper's synthetic sorting task (MODEL.md §8): symbols whose frequencies drift
// linearly from one random distribution to another over the sequence, a separator, then the
// symbols sorted by descending frequency. Two generators: the first reproduction's
// (Dirichlet(1) distributions, ties by symbol id, an unbounded stream of examples) and the
// paper's released code's (`kPaper`: see MakeSortingExample). Plain C++; deterministic in
// (split, index, length, seed, data). Thread-safe: stateless functions.
#ifndef INFMEM_TRAIN_SORTING_TASK_H_
#define INFMEM_TRAIN_SORTING_TASK_H_

#include <cstdint>
#include <vector>

namespace infmem::train {

inline constexpr int kSortingSymbols = 20;
inline constexpr int kSortingSeparator = kSortingSymbols;  // token id of the separator
inline constexpr int kSortingVocab = kSortingSymbols + 1;

enum class Split { kTrain, kValid, kTest };

// Which generator makes the examples.
enum class SortingData {
  kDirichlet,  // Dirichlet(1) distributions, mixture i/(n-1), ties by symbol id
  kPaper,      // the paper's code: integer weights 1-9, mixture (i+1)/n, ties by first sight
};

// The paper's fixed set sizes: example `index` of a split is example index % size.
int64_t PaperSetSize(Split split);

struct SortingExample {
  std::vector<int32_t> tokens;     // [length content symbols, separator, 20 answer symbols]
  std::vector<uint8_t> loss_mask;  // 1 on the answer symbols only
  std::vector<double> start_distribution, end_distribution;  // [20] each, summing to 1
  std::vector<int> start_weights, end_weights;  // kPaper: the integer weights (1-9) behind them
  int64_t length = 0;                           // content symbols before the separator
};

// Returns example `index` of `split` with `length` content symbols. Examples of different
// splits come from disjoint seed streams; the same arguments always give the same example.
// kPaper, as the paper's released generator: each distribution is 20 integers drawn
// uniformly from 1..9, normalised; symbol i (0-based) is drawn from (1 - r)·start + r·end
// with r = (i + 1) / length; the answer is SortByFrequencyFirstSeen; the split holds
// PaperSetSize(split) examples (index wraps), whose two distributions do not depend on the
// length.
SortingExample MakeSortingExample(Split split, uint64_t index, int64_t length, uint64_t seed = 0,
                                  SortingData data = SortingData::kDirichlet);

// Returns the 20 symbols ordered by descending count in `content`; ties (unseen symbols
// included) are broken by ascending symbol id.
std::vector<int32_t> SortByFrequency(const std::vector<int32_t>& content);

// Returns the 20 symbols ordered by descending count in `content`, ties in order of first
// appearance, then the symbols never seen in ascending id (Python's Counter.most_common
// order, which the paper's generator uses).
std::vector<int32_t> SortByFrequencyFirstSeen(const std::vector<int32_t>& content);

}  // namespace infmem::train

#endif  // INFMEM_TRAIN_SORTING_TASK_H_
