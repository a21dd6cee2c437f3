#include "train/batch_sources.h"

#include <numeric>

#include "server/common/hash.h"
#include "train/sorting_task.h"

namespace infmem::train {

int64_t SortingBatches::LengthAt(int64_t step) const {
  if (length_spread_ <= 0) return length_;
  const uint64_t draw = MixSeed(MixSeed(seed_, 0x1e9), static_cast<uint64_t>(step));
  return length_ + static_cast<int64_t>(draw % static_cast<uint64_t>(length_spread_ + 1));
}

std::vector<model::Sequence> SortingBatches::Batch(int64_t step, int batch) const {
  std::vector<model::Sequence> seqs;
  const int64_t length = LengthAt(step);
  for (int b = 0; b < batch; ++b) {
    SortingExample ex = MakeSortingExample(Split::kTrain, static_cast<uint64_t>(step * batch + b),
                                           length, seed_, data_);
    seqs.push_back({std::move(ex.tokens), std::move(ex.loss_mask)});
  }
  return seqs;
}

std::vector<model::Sequence> TextBatches::Batch(int64_t step, int batch) const {
  std::vector<model::Sequence> seqs;
  const uint64_t count = sequences_.size();
  if (count == 0) return seqs;
  for (int b = 0; b < batch; ++b) {
    const uint64_t index = static_cast<uint64_t>(step * batch + b);
    const uint64_t epoch = index / count;
    if (epoch != order_epoch_ || order_.empty()) Shuffle(epoch);
    seqs.push_back({sequences_[order_[index % count]], {}});
  }
  return seqs;
}

void TextBatches::Shuffle(uint64_t epoch) const {
  order_.resize(sequences_.size());
  std::iota(order_.begin(), order_.end(), 0);
  uint64_t state = MixSeed(seed_, 0x7e47 + epoch);
  for (size_t i = order_.size(); i > 1; --i) {
    std::swap(order_[i - 1], order_[SplitMix64(state) % i]);
  }
  order_epoch_ = epoch;
}

}  // namespace infmem::train
