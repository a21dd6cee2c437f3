// Sorting accuracy of a model. The content and separator go in by prefill; from there the
// answer is scored two ways: teacher-forced (the paper's metric: at each answer position the
// model sees the true previous symbols, and its argmax is scored) and free-running (greedy
// decoding of its own previous symbols, as a served session answers).
#ifndef INFMEM_TRAIN_SORTING_EVAL_H_
#define INFMEM_TRAIN_SORTING_EVAL_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "server/model/model.h"
#include "train/sorting_task.h"

namespace infmem::train {

struct SortingAccuracy {
  int64_t examples = 0;
  double exact_match = 0;     // free-running: fraction of examples with all 20 symbols right
  double per_position = 0;    // free-running: fraction of answer positions right
  double teacher_forced = 0;  // teacher-forced: fraction of answer positions right
};

// Which examples to score.
struct SortingEvalSet {
  Split split = Split::kTest;
  int64_t count = 100;  // examples 0 .. count-1
  int64_t length = 0;   // content symbols
  uint64_t seed = 0;
  SortingData data = SortingData::kDirichlet;
};

// Evaluates `set` both ways (one prefill per example; teacher-forced and free-running decode
// continue from copies of the prefilled state). Example i runs in a session seeded with i.
absl::StatusOr<SortingAccuracy> EvaluateSorting(const model::Model& model,
                                                const SortingEvalSet& set);

// Returns the model's free-running greedy answer (20 symbols) to `example`, from a session
// seeded with `session_seed` (it matters only with sticky memories).
absl::StatusOr<std::vector<int32_t>> GreedySortingAnswer(const model::Model& model,
                                                         const SortingExample& example,
                                                         uint64_t session_seed = 0);

// Returns how many rows of `logits` (row-major [answer.size(), vocab]) have their argmax
// (the first one on ties) at the answer's symbol of that row.
int TeacherForcedHits(absl::Span<const float> logits, int vocab, absl::Span<const int32_t> answer);

// Reference points that need no model, on the same examples: the order given by the counts
// of the last `window` content symbols (what a perfect counter that sees only the short-term
// memory achieves) and the order of the true mean distribution, (start + end) / 2 (what a
// perfect estimator of the drifting distribution achieves without counting exactly).
// Teacher-forced, an oracle predicts at each answer position the first symbol of its order
// that the true answer has not given yet.
struct SortingOracles {
  SortingAccuracy last_window;
  SortingAccuracy true_distribution;
};
SortingOracles EvaluateSortingOracles(const SortingEvalSet& set, int64_t window);

}  // namespace infmem::train

#endif  // INFMEM_TRAIN_SORTING_EVAL_H_
