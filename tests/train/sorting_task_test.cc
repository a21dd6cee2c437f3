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

TEST(PaperSortingTest, TiesGoByFirstAppearanceThenUnseenById) {
  // 3 appears 3×; 7 and 1 twice (7 seen first); 0 once; the unseen rest by id.
  const std::vector<int32_t> order = SortByFrequencyFirstSeen({7, 3, 1, 3, 0, 7, 3, 1});
  const std::vector<int32_t> expected = {3,  7,  1,  0,  2,  4,  5,  6,  8,  9,
                                         10, 11, 12, 13, 14, 15, 16, 17, 18, 19};
  EXPECT_EQ(order, expected);
  // A later symbol with more occurrences still comes first.
  EXPECT_EQ(SortByFrequencyFirstSeen({5, 9, 9})[0], 9);
  EXPECT_EQ(SortByFrequencyFirstSeen({5, 9, 9})[1], 5);
}

TEST(PaperSortingTest, DistributionsAreIntegerWeightsOneToNineNormalised) {
  std::set<int> values;
  for (uint64_t i = 0; i < 100; ++i) {
    const SortingExample ex = MakeSortingExample(Split::kTrain, i, 10, 0, SortingData::kPaper);
    for (const auto* pair : {&ex.start_weights, &ex.end_weights}) {
      ASSERT_EQ(pair->size(), 20u);
    }
    double start_total = 0, end_total = 0;
    for (int s = 0; s < kSortingSymbols; ++s) {
      start_total += ex.start_weights[s];
      end_total += ex.end_weights[s];
    }
    for (int s = 0; s < kSortingSymbols; ++s) {
      EXPECT_GE(ex.start_weights[s], 1);
      EXPECT_LE(ex.start_weights[s], 9);
      values.insert(ex.start_weights[s]);
      EXPECT_DOUBLE_EQ(ex.start_distribution[s], ex.start_weights[s] / start_total);
      EXPECT_DOUBLE_EQ(ex.end_distribution[s], ex.end_weights[s] / end_total);
    }
  }
  EXPECT_EQ(values.size(), 9u);  // every weight 1..9 occurs
}

TEST(PaperSortingTest, MixtureMovesLinearlyFromStartToEnd) {
  const int64_t n = 60000;
  const SortingExample ex = MakeSortingExample(Split::kTest, 1, n, 0, SortingData::kPaper);
  // Frequencies over each fifth against the mixture at that fifth's middle, r = (i + 1) / n.
  for (int part = 0; part < 5; ++part) {
    const int64_t begin = part * n / 5, end = (part + 1) * n / 5;
    const double r = (begin + end + 1) / 2.0 / n;
    double err = 0, err_other_end = 0;
    for (int s = 0; s < kSortingSymbols; ++s) {
      double freq = 0;
      for (int64_t i = begin; i < end; ++i) freq += ex.tokens[i] == s;
      freq /= static_cast<double>(end - begin);
      err += std::fabs(freq - ((1 - r) * ex.start_distribution[s] + r * ex.end_distribution[s]));
      err_other_end +=
          std::fabs(freq - (r * ex.start_distribution[s] + (1 - r) * ex.end_distribution[s]));
    }
    EXPECT_LT(err, 0.06) << "fifth " << part;
    if (part != 2) {
      EXPECT_GT(err_other_end, err) << "fifth " << part;
    }
  }
}

TEST(PaperSortingTest, FixedSetsPerSplitAndTheAnswerCountsFirstSeen) {
  const auto make = [](Split split, uint64_t i) {
    return MakeSortingExample(split, i, 300, 0, SortingData::kPaper);
  };
  EXPECT_EQ(PaperSetSize(Split::kTrain), 8000);
  EXPECT_EQ(PaperSetSize(Split::kValid), 800);
  EXPECT_EQ(PaperSetSize(Split::kTest), 800);
  EXPECT_EQ(make(Split::kTrain, 8003).tokens, make(Split::kTrain, 3).tokens);
  EXPECT_EQ(make(Split::kTest, 805).tokens, make(Split::kTest, 5).tokens);
  EXPECT_NE(make(Split::kTest, 5).tokens, make(Split::kValid, 5).tokens);
  EXPECT_NE(make(Split::kTest, 5).tokens,
            MakeSortingExample(Split::kTest, 5, 300, 0, SortingData::kDirichlet).tokens);
  // The same example at another length keeps its two distributions.
  const SortingExample longer = MakeSortingExample(Split::kTest, 5, 900, 0, SortingData::kPaper);
  EXPECT_EQ(longer.start_weights, make(Split::kTest, 5).start_weights);
  EXPECT_EQ(longer.end_weights, make(Split::kTest, 5).end_weights);
  const SortingExample ex = make(Split::kValid, 7);
  ASSERT_EQ(ex.tokens.size(), 321u);
  EXPECT_EQ(ex.tokens[300], kSortingSeparator);
  EXPECT_EQ(std::vector<int32_t>(ex.tokens.begin() + 301, ex.tokens.end()),
            SortByFrequencyFirstSeen({ex.tokens.begin(), ex.tokens.begin() + 300}));
}

TEST(TeacherForcedHitsTest, ScoresTheArgmaxOfEachRow) {
  const int vocab = 4;
  // Row 0: argmax 2 (right); row 1: argmax 0 (wrong, answer 3); row 2: a tie between 1 and 3
  // goes to the first (1, right); row 3: argmax 3 (right).
  const std::vector<float> logits = {0.1f, 0.2f, 0.9f, 0.0f,  //
                                     5.0f, 1.0f, 1.0f, 4.9f,  //
                                     0.0f, 2.0f, -1.f, 2.0f,  //
                                     -3.f, -2.f, -1.f, -0.5f};
  EXPECT_EQ(TeacherForcedHits(logits, vocab, std::vector<int32_t>{2, 3, 1, 3}), 3);
  EXPECT_EQ(TeacherForcedHits(logits, vocab, std::vector<int32_t>{0, 0, 0, 0}), 1);
  EXPECT_EQ(TeacherForcedHits(logits, vocab, std::vector<int32_t>{2, 0, 1, 3}), 4);
}

TEST(SortingOraclesTest, CountingEverySymbolIsExactAndTheMeanDistributionIsNot) {
  // A window as long as the content counts every symbol: that is the definition of the answer.
  const SortingOracles full = EvaluateSortingOracles({Split::kTest, 30, 500}, 500);
  EXPECT_EQ(full.last_window.examples, 30);
  EXPECT_DOUBLE_EQ(full.last_window.exact_match, 1.0);
  EXPECT_DOUBLE_EQ(full.last_window.per_position, 1.0);
  EXPECT_DOUBLE_EQ(full.last_window.teacher_forced, 1.0);
  // The true distribution orders the symbols well but not exactly (sampling noise), and a
  // short window, which sees only the end distribution, does worse.
  const SortingOracles partial = EvaluateSortingOracles({Split::kTest, 30, 4000}, 100);
  EXPECT_GT(partial.true_distribution.per_position, 0.3);
  EXPECT_LT(partial.true_distribution.exact_match, 0.5);
  EXPECT_LT(partial.last_window.per_position, partial.true_distribution.per_position);
  // Given the true previous symbols, an order can only do better: a wrong earlier guess no
  // longer shifts the later ones.
  EXPECT_GT(partial.true_distribution.teacher_forced, partial.true_distribution.per_position);
  EXPECT_LE(partial.true_distribution.teacher_forced, 1.0);
}

}  // namespace
}  // namespace infmem::train
