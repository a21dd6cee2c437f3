// Training batches for infmem-train. Each source is a pure function of (step, seed), so a
// resumed run sees exactly the data an uninterrupted one would have. Not thread-safe
// (TextBatches caches the current epoch's order).
#ifndef INFMEM_TRAIN_BATCH_SOURCES_H_
#define INFMEM_TRAIN_BATCH_SOURCES_H_

#include <cstdint>
#include <vector>

#include "server/model/trainer.h"
#include "train/sorting_task.h"
#include "train/text_task.h"

namespace infmem::train {

class BatchSource {
 public:
  virtual ~BatchSource() = default;
  // Returns the `batch` sequences of optimizer step `step`.
  virtual std::vector<model::Sequence> Batch(int64_t step, int batch) const = 0;
};

// Sorting examples of the train split: step s holds examples s·batch .. s·batch + batch − 1.
// Their content length is `length` plus a per-step offset drawn uniformly from
// [0, length_spread] (the rows of one batch must be equally long), so that a model cannot
// learn where the separator falls in a segment.
class SortingBatches : public BatchSource {
 public:
  SortingBatches(int64_t length, uint64_t seed, SortingData data = SortingData::kDirichlet,
                 int64_t length_spread = 0)
      : length_(length), seed_(seed), data_(data), length_spread_(length_spread) {}
  std::vector<model::Sequence> Batch(int64_t step, int batch) const override;
  // Returns the content length of step `step`'s examples.
  int64_t LengthAt(int64_t step) const;

 private:
  int64_t length_;
  uint64_t seed_;
  SortingData data_;
  int64_t length_spread_;
};

// Epochs over fixed sequences (CutSequences), each epoch in its own seeded order; every token
// of a sequence counts in the loss.
class TextBatches : public BatchSource {
 public:
  TextBatches(std::vector<TokenizedDocument> sequences, uint64_t seed)
      : sequences_(std::move(sequences)), seed_(seed) {}
  std::vector<model::Sequence> Batch(int64_t step, int batch) const override;
  size_t size() const { return sequences_.size(); }

 private:
  void Shuffle(uint64_t epoch) const;

  std::vector<TokenizedDocument> sequences_;
  uint64_t seed_;
  mutable std::vector<size_t> order_;
  mutable uint64_t order_epoch_ = 0;
};

}  // namespace infmem::train

#endif  // INFMEM_TRAIN_BATCH_SOURCES_H_
