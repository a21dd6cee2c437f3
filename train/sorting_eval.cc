#include "train/sorting_eval.h"

#include <algorithm>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "server/common/status_macros.h"

namespace infmem::train {
namespace {

// Counts answers (20 symbols each) right against their examples' true order.
struct Tally {
  int64_t examples = 0, exact = 0, right = 0, forced_right = 0;
  void Add(const std::vector<int32_t>& predicted, const SortingExample& ex) {
    int r = 0;
    for (int k = 0; k < kSortingSymbols; ++k) r += predicted[k] == ex.tokens[ex.length + 1 + k];
    ++examples;
    exact += r == kSortingSymbols;
    right += r;
  }
  // Scores `order` teacher-forced: at answer position k, given the true first k symbols, the
  // prediction is the first symbol of `order` not among them.
  void AddForced(const std::vector<int32_t>& order, const SortingExample& ex) {
    const auto truth = ex.tokens.begin() + ex.length + 1;
    for (int k = 0; k < kSortingSymbols; ++k) {
      for (int32_t s : order) {
        if (std::find(truth, truth + k, s) == truth + k) {
          forced_right += s == truth[k];
          break;
        }
      }
    }
  }
  SortingAccuracy Result() const {
    SortingAccuracy acc;
    acc.examples = examples;
    if (examples > 0) {
      const double positions = static_cast<double>(examples * kSortingSymbols);
      acc.exact_match = static_cast<double>(exact) / examples;
      acc.per_position = right / positions;
      acc.teacher_forced = forced_right / positions;
    }
    return acc;
  }
};

int32_t Argmax(absl::Span<const float> row) {
  return static_cast<int32_t>(std::max_element(row.begin(), row.end()) - row.begin());
}

absl::Status CheckVocabulary(const model::Model& model) {
  if (model.config().vocab_size < kSortingVocab) {
    return absl::InvalidArgumentError(absl::StrCat("model vocabulary ", model.config().vocab_size,
                                                   " is smaller than the sorting task's ",
                                                   kSortingVocab));
  }
  return absl::OkStatus();
}

// Decodes the 20 answer symbols from `state`, whose next-token logits are `logits`: feeding
// back its own argmax (free-running) or, when `forced` is given, those symbols. Returns the
// argmax at each answer position; `all_logits`, when given, receives every position's logits.
absl::StatusOr<std::vector<int32_t>> DecodeAnswer(const model::Model& model,
                                                  model::SessionState& state,
                                                  std::vector<float> logits,
                                                  const std::vector<int32_t>* forced,
                                                  std::vector<float>* all_logits) {
  std::vector<int32_t> argmax;
  for (int k = 0; k < kSortingSymbols; ++k) {
    argmax.push_back(Argmax(logits));
    if (all_logits != nullptr) all_logits->insert(all_logits->end(), logits.begin(), logits.end());
    if (k + 1 < kSortingSymbols) {
      model::SessionState* rows[] = {&state};
      const int32_t next = forced != nullptr ? (*forced)[k] : argmax.back();
      ASSIGN_OR_RETURN(logits, model.DecodeStep(rows, {next}));
    }
  }
  return argmax;
}

}  // namespace

int TeacherForcedHits(absl::Span<const float> logits, int vocab, absl::Span<const int32_t> answer) {
  int hits = 0;
  for (size_t k = 0; k < answer.size(); ++k) {
    hits += Argmax(logits.subspan(k * static_cast<size_t>(vocab), static_cast<size_t>(vocab))) ==
            answer[k];
  }
  return hits;
}

absl::StatusOr<std::vector<int32_t>> GreedySortingAnswer(const model::Model& model,
                                                         const SortingExample& example,
                                                         uint64_t session_seed) {
  RETURN_IF_ERROR(CheckVocabulary(model));
  const std::vector<int32_t> prompt(example.tokens.begin(),
                                    example.tokens.begin() + example.length + 1);
  auto state = model.NewSession(session_seed);
  ASSIGN_OR_RETURN(std::vector<float> logits, model.Prefill(*state, prompt));
  return DecodeAnswer(model, *state, std::move(logits), nullptr, nullptr);
}

absl::StatusOr<SortingAccuracy> EvaluateSorting(const model::Model& model,
                                                const SortingEvalSet& set) {
  RETURN_IF_ERROR(CheckVocabulary(model));
  const int vocab = model.config().vocab_size;
  Tally tally;
  for (int64_t i = 0; i < set.count; ++i) {
    const SortingExample ex =
        MakeSortingExample(set.split, static_cast<uint64_t>(i), set.length, set.seed, set.data);
    const std::vector<int32_t> prompt(ex.tokens.begin(), ex.tokens.begin() + set.length + 1);
    const std::vector<int32_t> truth(ex.tokens.begin() + set.length + 1, ex.tokens.end());
    auto state = model.NewSession(static_cast<uint64_t>(i));  // sticky draws: seeded per example
    ASSIGN_OR_RETURN(std::vector<float> logits, model.Prefill(*state, prompt));
    auto forced_state = model.Clone(*state);
    std::vector<float> forced_logits;
    RETURN_IF_ERROR(DecodeAnswer(model, *forced_state, logits, &truth, &forced_logits).status());
    ASSIGN_OR_RETURN(std::vector<int32_t> answer,
                     DecodeAnswer(model, *state, std::move(logits), nullptr, nullptr));
    tally.Add(answer, ex);
    tally.forced_right += TeacherForcedHits(forced_logits, vocab, truth);
  }
  return tally.Result();
}

SortingOracles EvaluateSortingOracles(const SortingEvalSet& set, int64_t window) {
  Tally last, mean;
  for (int64_t i = 0; i < set.count; ++i) {
    const SortingExample ex =
        MakeSortingExample(set.split, static_cast<uint64_t>(i), set.length, set.seed, set.data);
    const int64_t from = std::max<int64_t>(0, set.length - window);
    const std::vector<int32_t> recent(ex.tokens.begin() + from, ex.tokens.begin() + set.length);
    const std::vector<int32_t> counted = set.data == SortingData::kPaper
                                             ? SortByFrequencyFirstSeen(recent)
                                             : SortByFrequency(recent);
    last.Add(counted, ex);
    last.AddForced(counted, ex);
    std::vector<int32_t> order(kSortingSymbols);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
      return ex.start_distribution[a] + ex.end_distribution[a] >
             ex.start_distribution[b] + ex.end_distribution[b];
    });
    mean.Add(order, ex);
    mean.AddForced(order, ex);
  }
  return {last.Result(), mean.Result()};
}

}  // namespace infmem::train
