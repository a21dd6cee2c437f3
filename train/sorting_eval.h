// Sorting accuracy of a model: the content and separator go in by prefill, the answer comes
// out by free-running greedy decoding (no teacher forcing), compared with the true order.
#ifndef INFMEM_TRAIN_SORTING_EVAL_H_
#define INFMEM_TRAIN_SORTING_EVAL_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "server/model/model.h"
#include "train/sorting_task.h"

namespace infmem::train {

struct SortingAccuracy {
  int64_t examples = 0;
  double exact_match = 0;   // fraction of examples whose 20 answer symbols are all right
  double per_position = 0;  // fraction of answer positions right
};

// Evaluates `count` examples of `split` with `length` content symbols.
absl::StatusOr<SortingAccuracy> EvaluateSorting(const model::Model& model, Split split,
                                                int64_t count, int64_t length, uint64_t seed = 0);

// Reference points that need no model, on the same examples: the order given by the counts
// of the last `window` content symbols (what a perfect counter that sees only the short-term
// memory achieves) and the order of the true mean distribution, (start + end) / 2 (what a
// perfect estimator of the drifting distribution achieves without counting exactly).
struct SortingOracles {
  SortingAccuracy last_window;
  SortingAccuracy true_distribution;
};
SortingOracles EvaluateSortingOracles(Split split, int64_t count, int64_t length, int64_t window,
                                      uint64_t seed = 0);

}  // namespace infmem::train

#endif  // INFMEM_TRAIN_SORTING_EVAL_H_
