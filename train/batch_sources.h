// Training batches for infmem-train. Each source is a pure function of (step, seed), so a
// resumed run sees exactly the data an uninterrupted one would have. Not thread-safe
// (TextBatches caches the current epoch's order).
#ifndef INFMEM_TRAIN_BATCH_SOURCES_H_
#define INFMEM_TRAIN_BATCH_SOURCES_H_

#include <cstdint>
#include <vector>

#include "server/model/trainer.h"
#include "train/text_task.h"

namespace infmem::train {

class BatchSource {
 public:
  virtual ~BatchSource() = default;
  // Returns the `batch` sequences of optimizer step `step`.
  virtual std::vector<model::Sequence> Batch(int64_t step, int batch) const = 0;
};

// Sorting examples of the train split: step s holds examples s·batch .. s·batch + batch − 1.
class SortingBatches : public BatchSource {
 public:
  SortingBatches(int64_t length, uint64_t seed) : length_(length), seed_(seed) {}
  std::vector<model::Sequence> Batch(int64_t step, int batch) const override;

 private:
  int64_t length_;
  uint64_t seed_;
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
