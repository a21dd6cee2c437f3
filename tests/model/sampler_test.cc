#include "server/model/sampler.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace infmem::model {
namespace {

using ::testing::HasSubstr;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

SamplingParams Greedy() {
  SamplingParams params;
  params.temperature = 0.0;
  return params;
}

std::vector<float> RandomLogits(int vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::vector<float> logits(vocab);
  for (float& logit : logits) {
    logit = normal(rng);
  }
  return logits;
}

int ArgMax(const std::vector<float>& logits) {
  int best = 0;
  for (int i = 1; i < static_cast<int>(logits.size()); ++i) {
    if (logits[i] > logits[best]) {
      best = i;
    }
  }
  return best;
}

std::vector<double> Softmax(const std::vector<float>& logits, double temperature) {
  double max = -std::numeric_limits<double>::infinity();
  for (float logit : logits) {
    max = std::max<double>(max, logit);
  }
  std::vector<double> probs;
  double total = 0.0;
  for (float logit : logits) {
    probs.push_back(std::exp((logit - max) / temperature));
    total += probs.back();
  }
  for (double& p : probs) {
    p /= total;
  }
  return probs;
}

std::vector<int> Counts(Sampler& sampler, const std::vector<float>& logits, int draws) {
  std::vector<int> counts(logits.size(), 0);
  for (int i = 0; i < draws; ++i) {
    const int32_t id = sampler.Sample(logits, {});
    EXPECT_GE(id, 0);
    EXPECT_LT(id, static_cast<int32_t>(logits.size()));
    if (id >= 0 && id < static_cast<int32_t>(logits.size())) {
      ++counts[id];
    }
  }
  return counts;
}

// ---------------------------------------------------------------------------------------------
// ValidateSamplingParams

TEST(ValidateSamplingParamsTest, AcceptsDefaultsAndBoundaries) {
  EXPECT_TRUE(ValidateSamplingParams(SamplingParams()).ok());
  SamplingParams params;
  params.temperature = 0.0;
  params.top_k = 0;
  params.top_p = 1.0;
  params.min_p = 0.0;
  params.repetition_penalty = 1e-6;
  EXPECT_TRUE(ValidateSamplingParams(params).ok());
  params.temperature = 1e6;
  params.top_k = 1 << 30;
  params.top_p = 1e-12;
  params.min_p = 0.999;
  params.repetition_penalty = 1e6;
  EXPECT_TRUE(ValidateSamplingParams(params).ok());
}

TEST(ValidateSamplingParamsTest, RejectsEachInvalidFieldByName) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  struct Case {
    std::string field;
    void (*mutate)(SamplingParams&, double);
    std::vector<double> bad;
  };
  const std::vector<Case> cases = {
      {"temperature",
       [](SamplingParams& p, double v) { p.temperature = v; },
       {-1e-9, -1.0, nan, inf, -inf}},
      {"top_k", [](SamplingParams& p, double v) { p.top_k = static_cast<int>(v); }, {-1, -100}},
      {"top_p",
       [](SamplingParams& p, double v) { p.top_p = v; },
       {0.0, -0.5, 1.0000001, 2.0, nan, inf}},
      {"min_p", [](SamplingParams& p, double v) { p.min_p = v; }, {-1e-9, 1.0, 1.5, nan, inf}},
      {"repetition_penalty",
       [](SamplingParams& p, double v) { p.repetition_penalty = v; },
       {0.0, -1.0, nan, inf}},
  };
  for (const Case& c : cases) {
    for (double value : c.bad) {
      SamplingParams params;
      c.mutate(params, value);
      const absl::Status status = ValidateSamplingParams(params);
      EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.field << "=" << value;
      EXPECT_THAT(status.message(), HasSubstr(c.field)) << c.field << "=" << value;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Greedy

TEST(SamplerTest, GreedyPicksArgMax) {
  Sampler sampler(Greedy());
  EXPECT_EQ(sampler.Sample({0.1f, 3.0f, -2.0f, 2.9f}, {}), 1);
  EXPECT_EQ(sampler.Sample({-5.0f, -4.0f, -6.0f}, {}), 1);
  EXPECT_EQ(sampler.Sample({7.0f}, {}), 0);
  for (uint64_t seed = 0; seed < 20; ++seed) {
    const std::vector<float> logits = RandomLogits(1000, seed);
    EXPECT_EQ(sampler.Sample(logits, {}), ArgMax(logits));
  }
}

TEST(SamplerTest, GreedyBreaksTiesTowardTheLowestId) {
  Sampler sampler(Greedy());
  EXPECT_EQ(sampler.Sample({1.0f, 5.0f, 2.0f, 5.0f, 5.0f}, {}), 1);
  EXPECT_EQ(sampler.Sample({0.0f, 0.0f, 0.0f}, {}), 0);
}

TEST(SamplerTest, TinyTemperatureIsGreedyAndHugeTemperatureIsFinite) {
  SamplingParams params;
  params.temperature = 1e-300;
  Sampler cold(params);
  const std::vector<float> logits = RandomLogits(500, 7);
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(cold.Sample(logits, {}), ArgMax(logits));
  }

  params.temperature = 1e300;  // effectively uniform
  Sampler hot(params);
  std::set<int32_t> seen;
  for (int i = 0; i < 2000; ++i) {
    seen.insert(hot.Sample({100.0f, -100.0f, 0.0f, 50.0f}, {}));
  }
  EXPECT_EQ(seen.size(), 4u);
}

// ---------------------------------------------------------------------------------------------
// Determinism

TEST(SamplerTest, SameSeedGivesTheSameDraws) {
  SamplingParams params;
  params.seed = 42;
  params.top_p = 0.95;
  params.top_k = 50;
  Sampler a(params);
  Sampler b(params);
  const std::vector<float> logits = RandomLogits(300, 1);
  std::vector<int32_t> draws_a;
  std::vector<int32_t> draws_b;
  for (int i = 0; i < 200; ++i) {
    draws_a.push_back(a.Sample(logits, {}));
    draws_b.push_back(b.Sample(logits, {}));
  }
  EXPECT_EQ(draws_a, draws_b);

  params.seed = 43;
  Sampler c(params);
  std::vector<int32_t> draws_c;
  draws_c.reserve(200);
  for (int i = 0; i < 200; ++i) {
    draws_c.push_back(c.Sample(logits, {}));
  }
  EXPECT_NE(draws_a, draws_c);
  // And the draws do vary within one sequence.
  EXPECT_GT(std::set<int32_t>(draws_a.begin(), draws_a.end()).size(), 5u);
}

// ---------------------------------------------------------------------------------------------
// Filters

TEST(SamplerTest, TopKOneEqualsGreedy) {
  SamplingParams params;
  params.top_k = 1;
  params.seed = 5;
  Sampler sampler(params);
  for (uint64_t seed = 0; seed < 50; ++seed) {
    const std::vector<float> logits = RandomLogits(2000, seed);
    EXPECT_EQ(sampler.Sample(logits, {}), ArgMax(logits));
  }
  // Ties keep the lowest id, as greedy does.
  EXPECT_EQ(sampler.Sample({1.0f, 4.0f, 4.0f, 4.0f}, {}), 1);
}

TEST(SamplerTest, TopKKeepsOnlyTheKBest) {
  SamplingParams params;
  params.top_k = 3;
  params.seed = 9;
  Sampler sampler(params);
  const std::vector<float> logits = {0.0f, 2.0f, 1.9f, -1.0f, 1.8f, 1.7f};
  const std::vector<int> counts = Counts(sampler, logits, 3000);
  EXPECT_EQ(counts[0] + counts[3] + counts[5], 0);
  EXPECT_GT(counts[1], 0);
  EXPECT_GT(counts[2], 0);
  EXPECT_GT(counts[4], 0);
}

TEST(SamplerTest, TinyTopPEqualsGreedy) {
  SamplingParams params;
  params.top_p = 1e-9;
  params.seed = 11;
  Sampler sampler(params);
  for (uint64_t seed = 0; seed < 50; ++seed) {
    const std::vector<float> logits = RandomLogits(5000, seed + 100);
    EXPECT_EQ(sampler.Sample(logits, {}), ArgMax(logits));
  }
}

TEST(SamplerTest, TopPKeepsTheSmallestPrefixReachingTheMass) {
  // Probabilities 0.5, 0.3, 0.15, 0.05.
  const std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.15f),
                                     std::log(0.05f)};
  SamplingParams params;
  params.seed = 3;
  params.top_p = 0.75;  // {0, 1}
  Sampler two(params);
  std::vector<int> counts = Counts(two, logits, 4000);
  EXPECT_GT(counts[0], 0);
  EXPECT_GT(counts[1], 0);
  EXPECT_EQ(counts[2] + counts[3], 0);
  EXPECT_NEAR(counts[0] / 4000.0, 0.5 / 0.8, 0.03);

  params.top_p = 0.85;  // {0, 1, 2}
  Sampler three(params);
  counts = Counts(three, logits, 4000);
  EXPECT_GT(counts[2], 0);
  EXPECT_EQ(counts[3], 0);
}

TEST(SamplerTest, TopPDrawsOnlyFromTheReferenceNucleus) {
  for (uint64_t seed = 0; seed < 30; ++seed) {
    const std::vector<float> logits = RandomLogits(3000, seed + 500);
    const double top_p = 0.05 + 0.03 * static_cast<double>(seed);
    // Reference: sort everything, take the smallest prefix reaching top_p.
    const std::vector<double> probs = Softmax(logits, 1.0);
    std::vector<int> order(logits.size());
    for (size_t i = 0; i < order.size(); ++i) {
      order[i] = static_cast<int>(i);
    }
    std::sort(order.begin(), order.end(), [&](int a, int b) {
      return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
    });
    std::set<int32_t> nucleus;
    double mass = 0.0;
    for (int id : order) {
      nucleus.insert(id);
      mass += probs[id];
      if (mass >= top_p) {
        break;
      }
    }
    SamplingParams params;
    params.top_p = top_p;
    params.seed = seed;
    Sampler sampler(params);
    for (int i = 0; i < 200; ++i) {
      const int32_t id = sampler.Sample(logits, {});
      ASSERT_EQ(nucleus.count(id), 1u) << "seed " << seed << " id " << id;
    }
  }
}

// The other side of the nucleus: top_p keeps every token it needs, the last one included.
// 50 tokens of slightly falling probability; top_p between the mass of the first 24 and of
// the first 25: all 25 are drawn, none after.
TEST(SamplerTest, TopPKeepsTheWholeNucleusUpToItsLastToken) {
  std::vector<float> logits(50);
  for (int i = 0; i < 50; ++i) logits[i] = -0.01f * static_cast<float>(i);
  const std::vector<double> probs = Softmax(logits, 1.0);
  double mass24 = 0.0;
  for (int i = 0; i < 24; ++i) mass24 += probs[i];
  SamplingParams params;
  params.top_p = mass24 + probs[24] / 2;
  params.seed = 11;
  Sampler sampler(params);
  const std::vector<int> counts = Counts(sampler, logits, 5000);
  for (int id = 0; id < 25; ++id) EXPECT_GT(counts[id], 100) << "id " << id;
  for (int id = 25; id < 50; ++id) EXPECT_EQ(counts[id], 0) << "id " << id;
}

TEST(SamplerTest, TopPOverManyEqualTokensKeepsTheLowestIds) {
  // 10000 equal logits: top_p 0.5 keeps ids [0, 5000), found through several sorted chunks.
  const std::vector<float> logits(10000, 0.25f);
  SamplingParams params;
  params.top_p = 0.5;
  params.seed = 8;
  Sampler sampler(params);
  int32_t max_seen = 0;
  for (int i = 0; i < 3000; ++i) {
    const int32_t id = sampler.Sample(logits, {});
    ASSERT_GE(id, 0);
    ASSERT_LT(id, 5000);
    max_seen = std::max(max_seen, id);
  }
  EXPECT_GT(max_seen, 4000);
}

TEST(SamplerTest, MinPFiltersRelativeToTheMostLikelyToken) {
  // Probabilities 0.5, 0.3, 0.15, 0.05; min_p 0.5 keeps p >= 0.25, i.e. {0, 1}.
  const std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.15f),
                                     std::log(0.05f)};
  SamplingParams params;
  params.min_p = 0.5;
  params.seed = 21;
  Sampler sampler(params);
  const std::vector<int> counts = Counts(sampler, logits, 4000);
  EXPECT_GT(counts[0], 0);
  EXPECT_GT(counts[1], 0);
  EXPECT_EQ(counts[2] + counts[3], 0);
  EXPECT_NEAR(counts[0] / 4000.0, 0.5 / 0.8, 0.03);

  params.min_p = 0.2;  // keeps p >= 0.1: {0, 1, 2}
  Sampler looser(params);
  const std::vector<int> looser_counts = Counts(looser, logits, 4000);
  EXPECT_GT(looser_counts[2], 0);
  EXPECT_EQ(looser_counts[3], 0);
}

// ---------------------------------------------------------------------------------------------
// Repetition penalty

TEST(SamplerTest, RepetitionPenaltyChangesTheArgMax) {
  SamplingParams params = Greedy();
  params.repetition_penalty = 2.0;
  Sampler sampler(params);
  // Positive logit divided: 2.0 -> 1.0 < 1.5.
  EXPECT_EQ(sampler.Sample({2.0f, 1.5f}, {}), 0);
  EXPECT_EQ(sampler.Sample({2.0f, 1.5f}, {0}), 1);
  // Negative logit multiplied: -1.0 -> -2.0 < -1.5.
  EXPECT_EQ(sampler.Sample({-1.0f, -1.5f}, {}), 0);
  EXPECT_EQ(sampler.Sample({-1.0f, -1.5f}, {0}), 1);
  // Applied once per distinct id: 2.0 -> 1.0 stays above 0.8 however often 0 repeats.
  EXPECT_EQ(sampler.Sample({2.0f, 0.8f}, {0, 0, 0, 0}), 0);
  // Ids outside [0, V) are ignored.
  EXPECT_EQ(sampler.Sample({2.0f, 1.5f}, {-1, 2, 1000, -2147483647 - 1}), 0);

  params.repetition_penalty = 1.0;  // off
  Sampler off(params);
  EXPECT_EQ(off.Sample({2.0f, 1.5f}, {0}), 0);
}

TEST(SamplerTest, RepetitionPenaltyAppliesWhenSampling) {
  // Penalty 2 on token 0: logits {2, 0} become {1, 0}, so p0 = e / (1 + e) ~ 0.731 instead of
  // e^2 / (1 + e^2) ~ 0.881.
  SamplingParams params;
  params.repetition_penalty = 2.0;
  params.seed = 4;
  Sampler sampler(params);
  constexpr int kDraws = 10000;
  int zeros = 0;
  for (int i = 0; i < kDraws; ++i) {
    zeros += sampler.Sample({2.0f, 0.0f}, {0}) == 0 ? 1 : 0;
  }
  EXPECT_NEAR(zeros / static_cast<double>(kDraws), std::exp(1.0) / (1.0 + std::exp(1.0)), 0.02);
}

// ---------------------------------------------------------------------------------------------
// Distribution

TEST(SamplerTest, EmpiricalDistributionMatchesSoftmax) {
  const std::vector<float> logits = {1.0f, 0.0f, -1.0f, 2.0f, 0.5f, -3.0f};
  for (double temperature : {1.0, 0.7, 2.0}) {
    SamplingParams params;
    params.temperature = temperature;
    params.seed = 20240601;
    Sampler sampler(params);
    constexpr int kDraws = 20000;
    const std::vector<int> counts = Counts(sampler, logits, kDraws);
    const std::vector<double> expected = Softmax(logits, temperature);
    for (size_t i = 0; i < logits.size(); ++i) {
      // About five standard deviations of a binomial frequency at p = 0.5.
      EXPECT_NEAR(counts[i] / static_cast<double>(kDraws), expected[i], 0.018)
          << "token " << i << " temperature " << temperature;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Non-finite logits

TEST(SamplerTest, NaNLogitsAreNeverChosen) {
  const std::vector<float> logits = {kNaN, 0.0f, kNaN, 0.1f, kNaN, -0.2f, kNaN};
  SamplingParams params;
  params.seed = 77;
  Sampler sampler(params);
  const std::vector<int> counts = Counts(sampler, logits, 3000);
  EXPECT_EQ(counts[0] + counts[2] + counts[4] + counts[6], 0);
  EXPECT_GT(counts[1], 0);
  EXPECT_GT(counts[3], 0);
  EXPECT_GT(counts[5], 0);

  params.top_k = 2;
  params.top_p = 0.9;
  params.min_p = 0.1;
  Sampler filtered(params);
  const std::vector<int> filtered_counts = Counts(filtered, logits, 1000);
  EXPECT_EQ(filtered_counts[0] + filtered_counts[2] + filtered_counts[4] + filtered_counts[6], 0);

  Sampler greedy(Greedy());
  EXPECT_EQ(greedy.Sample({kNaN, -1.0f, kNaN}, {}), 1);
  EXPECT_EQ(greedy.Sample({-1.0f, kNaN, 3.0f}, {}), 2);

  SamplingParams penalised = Greedy();
  penalised.repetition_penalty = 1.5;
  Sampler greedy_penalised(penalised);
  EXPECT_EQ(greedy_penalised.Sample({kNaN, -1.0f, kNaN}, {0, 1, 2}), 1);
}

TEST(SamplerTest, DegenerateLogits) {
  SamplingParams params;
  params.seed = 1;
  Sampler sampler(params);
  Sampler greedy(Greedy());
  // Nothing above -inf: 0.
  EXPECT_EQ(sampler.Sample({kNaN, kNaN, kNaN}, {}), 0);
  EXPECT_EQ(sampler.Sample({-kInf, -kInf}, {}), 0);
  EXPECT_EQ(greedy.Sample({kNaN, kNaN}, {}), 0);
  // No logits at all: -1.
  EXPECT_EQ(sampler.Sample({}, {}), -1);
  EXPECT_EQ(greedy.Sample({}, {}), -1);
  // +inf logits share all the mass.
  std::set<int32_t> seen;
  for (int i = 0; i < 500; ++i) {
    seen.insert(sampler.Sample({0.0f, kInf, 1e30f, kInf}, {}));
  }
  EXPECT_EQ(seen, (std::set<int32_t>{1, 3}));
  EXPECT_EQ(greedy.Sample({0.0f, kInf, kInf}, {}), 1);
  // Huge finite logits do not overflow.
  for (int i = 0; i < 100; ++i) {
    const int32_t id = sampler.Sample({3e38f, -3e38f, 3e38f}, {});
    EXPECT_TRUE(id == 0 || id == 2) << id;
  }
}

TEST(SamplerTest, LargeVocabularyWithAllFilters) {
  const std::vector<float> logits = RandomLogits(65536, 123);
  std::vector<float> sorted = logits;
  std::sort(sorted.begin(), sorted.end(), std::greater<float>());
  const float kth_best = sorted[39];
  SamplingParams params;
  params.top_k = 40;
  params.top_p = 0.9;
  params.min_p = 0.01;
  params.repetition_penalty = 1.1;
  params.temperature = 0.8;
  params.seed = 99;
  Sampler sampler(params);
  const std::vector<int32_t> history = {1, 2, 3, 4, 5};
  for (int i = 0; i < 200; ++i) {
    const int32_t id = sampler.Sample(logits, history);
    ASSERT_GE(id, 0);
    ASSERT_LT(id, 65536);
    EXPECT_GE(logits[id], kth_best);
  }
}

}  // namespace
}  // namespace infmem::model
