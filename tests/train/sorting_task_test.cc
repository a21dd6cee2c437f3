#include "train/sorting_task.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "train/sorting_eval.h"

namespace infmem::train {
namespace {

TEST(SortingTaskTest, AnswerIsSortedByDescendingCountTiesById) {
  // 3 appears 3×, 7 and 1 twice (tie: 1 before 7), 0 once; the unseen rest by id.
  const std::vector<int32_t> content = {7, 3, 1, 3, 0, 7, 3, 1};
  const std::vector<int32_t> order = SortByFrequency(content);
  ASSERT_EQ(order.size(), 20u);
  EXPECT_EQ(order[0], 3);
  EXPECT_EQ(order[1], 1);
  EXPECT_EQ(order[2], 7);
  EXPECT_EQ(order[3], 0);
  EXPECT_EQ(order[4], 2);
  EXPECT_EQ(order[5], 4);
  EXPECT_EQ(order[19], 19);
}

TEST(SortingTaskTest, ExampleLayoutAndMask) {
  const SortingExample ex = MakeSortingExample(Split::kTrain, 0, 500);
  ASSERT_EQ(ex.tokens.size(), 500u + 1 + 20);
  EXPECT_EQ(ex.tokens[500], kSortingSeparator);
  const std::vector<int32_t> content(ex.tokens.begin(), ex.tokens.begin() + 500);
  EXPECT_EQ(std::vector<int32_t>(ex.tokens.begin() + 501, ex.tokens.end()),
            SortByFrequency(content));
  for (size_t i = 0; i < ex.tokens.size(); ++i) {
    EXPECT_EQ(ex.loss_mask[i], i > 500 ? 1 : 0) << i;
    EXPECT_GE(ex.tokens[i], 0);
    EXPECT_LT(ex.tokens[i], kSortingVocab);
  }
}

// Frequencies follow the start distribution early and the end distribution late.
TEST(SortingTaskTest, FrequenciesDriftLinearly) {
  const int64_t n = 40000;
  const SortingExample ex = MakeSortingExample(Split::kTrain, 3, n);
  auto error_against = [&](int64_t begin, int64_t end, double t_mid) {
    std::vector<double> freq(kSortingSymbols, 0.0);
    for (int64_t i = begin; i < end; ++i) freq[ex.tokens[i]] += 1.0 / (end - begin);
    double err = 0;
    for (int s = 0; s < kSortingSymbols; ++s) {
      const double expect = (1 - t_mid) * ex.start_distribution[s] + t_mid * ex.end_distribution[s];
      err += std::fabs(freq[s] - expect);
    }
    return err;
  };
  // The first and last tenths match their own mixture well and the other end's badly.
  EXPECT_LT(error_against(0, n / 10, 0.05), 0.08);
  EXPECT_LT(error_against(n - n / 10, n, 0.95), 0.08);
  EXPECT_GT(error_against(0, n / 10, 0.95), 2 * error_against(0, n / 10, 0.05));
}

TEST(SortingTaskTest, SplitsAreFixedAndDisjoint) {
  EXPECT_EQ(MakeSortingExample(Split::kTest, 5, 300).tokens,
            MakeSortingExample(Split::kTest, 5, 300).tokens);
  std::set<std::vector<int32_t>> seen;
  for (Split split : {Split::kTrain, Split::kValid, Split::kTest}) {
    for (uint64_t i = 0; i < 200; ++i) {
      EXPECT_TRUE(seen.insert(MakeSortingExample(split, i, 64).tokens).second);
    }
  }
  EXPECT_NE(MakeSortingExample(Split::kTrain, 0, 300, 1).tokens,
            MakeSortingExample(Split::kTrain, 0, 300, 2).tokens);
}

TEST(SortingOraclesTest, CountingEverySymbolIsExactAndTheMeanDistributionIsNot) {
  // A window as long as the content counts every symbol: that is the definition of the answer.
  const SortingOracles full = EvaluateSortingOracles(Split::kTest, 30, 500, 500);
  EXPECT_EQ(full.last_window.examples, 30);
  EXPECT_DOUBLE_EQ(full.last_window.exact_match, 1.0);
  EXPECT_DOUBLE_EQ(full.last_window.per_position, 1.0);
  // The true distribution orders the symbols well but not exactly (sampling noise), and a
  // short window, which sees only the end distribution, does worse.
  const SortingOracles partial = EvaluateSortingOracles(Split::kTest, 30, 4000, 100);
  EXPECT_GT(partial.true_distribution.per_position, 0.3);
  EXPECT_LT(partial.true_distribution.exact_match, 0.5);
  EXPECT_LT(partial.last_window.per_position, partial.true_distribution.per_position);
}

}  // namespace
}  // namespace infmem::train
