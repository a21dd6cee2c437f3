#include "train/sorting_eval.h"

#include <algorithm>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "server/common/status_macros.h"

namespace infmem::train {
namespace {

// Counts answers (20 symbols each) right against their examples' true order.
struct Tally {
  int64_t examples = 0, exact = 0, right = 0;
  void Add(const std::vector<int32_t>& predicted, const SortingExample& ex) {
    int r = 0;
    for (int k = 0; k < kSortingSymbols; ++k) r += predicted[k] == ex.tokens[ex.length + 1 + k];
    ++examples;
    exact += r == kSortingSymbols;
    right += r;
  }
  SortingAccuracy Result() const {
    SortingAccuracy acc;
    acc.examples = examples;
    if (examples > 0) {
      acc.exact_match = static_cast<double>(exact) / examples;
      acc.per_position = static_cast<double>(right) / (examples * kSortingSymbols);
    }
    return acc;
  }
};

}  // namespace

absl::StatusOr<SortingAccuracy> EvaluateSorting(const model::Model& model, Split split,
                                                int64_t count, int64_t length, uint64_t seed) {
  if (model.config().vocab_size < kSortingVocab) {
    return absl::InvalidArgumentError(absl::StrCat("model vocabulary ", model.config().vocab_size,
                                                   " is smaller than the sorting task's ",
                                                   kSortingVocab));
  }
  Tally tally;
  for (int64_t i = 0; i < count; ++i) {
    const SortingExample ex = MakeSortingExample(split, static_cast<uint64_t>(i), length, seed);
    const std::vector<int32_t> prompt(ex.tokens.begin(), ex.tokens.begin() + length + 1);
    auto state = model.NewSession(static_cast<uint64_t>(i));
    ASSIGN_OR_RETURN(std::vector<float> logits, model.Prefill(*state, prompt));
    std::vector<int32_t> answer;
    for (int k = 0; k < kSortingSymbols; ++k) {
      answer.push_back(
          static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin()));
      if (k + 1 < kSortingSymbols) {
        model::SessionState* rows[] = {state.get()};
        ASSIGN_OR_RETURN(logits, model.DecodeStep(rows, {answer.back()}));
      }
    }
    tally.Add(answer, ex);
  }
  return tally.Result();
}

SortingOracles EvaluateSortingOracles(Split split, int64_t count, int64_t length, int64_t window,
                                      uint64_t seed) {
  Tally last, mean;
  for (int64_t i = 0; i < count; ++i) {
    const SortingExample ex = MakeSortingExample(split, static_cast<uint64_t>(i), length, seed);
    const int64_t from = std::max<int64_t>(0, length - window);
    last.Add(SortByFrequency({ex.tokens.begin() + from, ex.tokens.begin() + length}), ex);
    std::vector<int32_t> order(kSortingSymbols);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
      return ex.start_distribution[a] + ex.end_distribution[a] >
             ex.start_distribution[b] + ex.end_distribution[b];
    });
    mean.Add(order, ex);
  }
  return {last.Result(), mean.Result()};
}

}  // namespace infmem::train
