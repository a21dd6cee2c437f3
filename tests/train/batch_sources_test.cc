#include "train/batch_sources.h"

#include <gtest/gtest.h>

#include <set>

#include "train/sorting_task.h"

namespace infmem::train {
namespace {

std::vector<TokenizedDocument> TenSequences() {
  std::vector<TokenizedDocument> seqs;
  for (int i = 0; i < 10; ++i) seqs.push_back({i, i + 100});
  return seqs;
}

TEST(TextBatchesTest, EachEpochVisitsEverySequenceOnceInItsOwnOrder) {
  TextBatches batches(TenSequences(), 1);
  std::vector<int32_t> order;
  for (int64_t step = 0; step < 10; ++step) {  // 10 steps × 2 = two epochs
    for (const auto& s : batches.Batch(step, 2)) {
      EXPECT_TRUE(s.loss_mask.empty());
      order.push_back(s.tokens[0]);
    }
  }
  const std::set<int32_t> first(order.begin(), order.begin() + 10);
  const std::set<int32_t> second(order.begin() + 10, order.end());
  EXPECT_EQ(first.size(), 10u);
  EXPECT_EQ(second.size(), 10u);
  EXPECT_NE(std::vector<int32_t>(order.begin(), order.begin() + 10),
            std::vector<int32_t>(order.begin() + 10, order.end()));
}

TEST(TextBatchesTest, ABatchDependsOnlyOnStepAndSeed) {
  TextBatches a(TenSequences(), 1), b(TenSequences(), 1), other(TenSequences(), 2);
  const auto late = a.Batch(7, 3);  // as a resumed run would ask first
  for (int64_t step = 0; step < 7; ++step) b.Batch(step, 3);
  const auto replay = b.Batch(7, 3);
  ASSERT_EQ(late.size(), replay.size());
  for (size_t i = 0; i < late.size(); ++i) EXPECT_EQ(late[i].tokens, replay[i].tokens);
  bool differs = false;
  for (int64_t step = 0; step < 5; ++step) {
    differs |= a.Batch(step, 2)[0].tokens != other.Batch(step, 2)[0].tokens;
  }
  EXPECT_TRUE(differs);
}

TEST(SortingBatchesTest, StepsTakeConsecutiveTrainExamples) {
  SortingBatches batches(50, 3);
  const auto step1 = batches.Batch(1, 2);
  ASSERT_EQ(step1.size(), 2u);
  EXPECT_EQ(step1[1].tokens, MakeSortingExample(Split::kTrain, 3, 50, 3).tokens);
  EXPECT_EQ(step1[1].loss_mask, MakeSortingExample(Split::kTrain, 3, 50, 3).loss_mask);
}

}  // namespace
}  // namespace infmem::train

namespace infmem::train {
namespace {

TEST(SortingBatchesTest, LengthSpreadCoversEveryPhaseAndKeepsABatchEquallyLong) {
  const SortingBatches batches(256, 1, SortingData::kPaper, /*length_spread=*/32);
  std::set<int64_t> lengths;
  for (int64_t step = 0; step < 400; ++step) {
    const int64_t length = batches.LengthAt(step);
    EXPECT_GE(length, 256);
    EXPECT_LE(length, 256 + 32);
    lengths.insert(length);
    if (step < 5) {
      for (const auto& s : batches.Batch(step, 3)) {
        ASSERT_EQ(static_cast<int64_t>(s.tokens.size()), length + 1 + kSortingSymbols);
        EXPECT_EQ(s.tokens[length], kSortingSeparator);
      }
    }
  }
  EXPECT_EQ(lengths.size(), 33u);  // all 33 lengths occur in 400 steps
  // The same step always gives the same batch (resumable), and no spread means no jitter.
  EXPECT_EQ(batches.Batch(7, 2)[1].tokens, batches.Batch(7, 2)[1].tokens);
  EXPECT_EQ(SortingBatches(256, 1).LengthAt(9), 256);
}

}  // namespace
}  // namespace infmem::train
