#include "train/sorting_eval.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "server/common/status_macros.h"

namespace infmem::train {

absl::StatusOr<SortingAccuracy> EvaluateSorting(const model::Model& model, Split split,
                                                int64_t count, int64_t length, uint64_t seed) {
  if (model.config().vocab_size < kSortingVocab) {
    return absl::InvalidArgumentError(absl::StrCat("model vocabulary ", model.config().vocab_size,
                                                   " is smaller than the sorting task's ",
                                                   kSortingVocab));
  }
  SortingAccuracy acc;
  int64_t exact = 0, positions_right = 0;
  for (int64_t i = 0; i < count; ++i) {
    const SortingExample ex = MakeSortingExample(split, static_cast<uint64_t>(i), length, seed);
    const std::vector<int32_t> prompt(ex.tokens.begin(), ex.tokens.begin() + length + 1);
    auto state = model.NewSession(static_cast<uint64_t>(i));
    ASSIGN_OR_RETURN(std::vector<float> logits, model.Prefill(*state, prompt));
    int right = 0;
    for (int k = 0; k < kSortingSymbols; ++k) {
      const int32_t next =
          static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
      right += next == ex.tokens[length + 1 + k];
      if (k + 1 < kSortingSymbols) {
        model::SessionState* rows[] = {state.get()};
        ASSIGN_OR_RETURN(logits, model.DecodeStep(rows, {next}));
      }
    }
    exact += right == kSortingSymbols;
    positions_right += right;
  }
  acc.examples = count;
  if (count > 0) {
    acc.exact_match = static_cast<double>(exact) / count;
    acc.per_position = static_cast<double>(positions_right) / (count * kSortingSymbols);
  }
  return acc;
}

}  // namespace infmem::train
