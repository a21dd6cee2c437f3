#include "train/text_task.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "tests/testing/tiny_model.h"

namespace infmem::train {
namespace {

using ::testing::HasSubstr;

std::unique_ptr<tokenizer::Tokenizer> Symbols() {
  return tokenizer::MakeTokenizer("symbol", "", "", 64).value();
}

TEST(TokenizeDocumentsTest, EncodesEachDocument) {
  auto docs = TokenizeDocuments(*Symbols(), {"1 2 3", "4\n5"}).value();
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0], (TokenizedDocument{1, 2, 3}));  // the symbol tokenizer has no BOS
  EXPECT_EQ(docs[1], (TokenizedDocument{4, 5}));
}

TEST(TokenizeDocumentsTest, NamesTheBadDocument) {
  auto docs = TokenizeDocuments(*Symbols(), {"1 2", "3 99"});
  ASSERT_EQ(docs.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(docs.status().message()), HasSubstr("document 1"));
}

TEST(CutSequencesTest, WindowsStayInsideDocumentsAndCoverTails) {
  const std::vector<TokenizedDocument> docs = {
      {0, 1, 2, 3, 4}, {10, 11, 12, 13, 14, 15, 16, 17, 18, 19}, {20, 21, 22}, {30, 31, 32, 33}};
  const auto seqs = CutSequences(docs, 4);
  const std::vector<TokenizedDocument> want = {{0, 1, 2, 3},     {1, 2, 3, 4},
                                               {10, 11, 12, 13}, {14, 15, 16, 17},
                                               {16, 17, 18, 19}, {30, 31, 32, 33}};
  EXPECT_EQ(seqs, want);
  EXPECT_TRUE(CutSequences(docs, 0).empty());
  EXPECT_TRUE(CutSequences(docs, 11).empty());
}

TEST(SwapPrefixesTest, KeepsEachDocumentsTailAfterTheNextOnesPrefix) {
  const std::vector<TokenizedDocument> docs = {{1, 2, 3, 4}, {5, 6}, {7, 8, 9}, {10, 11, 12, 13}};
  const auto swapped = SwapPrefixes(docs, 2);  // {5, 6} is too short to take part
  const std::vector<TokenizedDocument> want = {{7, 8, 3, 4}, {10, 11, 9}, {1, 2, 12, 13}};
  EXPECT_EQ(swapped, want);
  const std::vector<TokenizedDocument> want3 = {{10, 11, 12, 4}, {1, 2, 3, 13}};
  EXPECT_EQ(SwapPrefixes(docs, 3), want3);
  EXPECT_TRUE(SwapPrefixes({{1, 2, 3}}, 1).empty());  // one document has no partner
  EXPECT_TRUE(SwapPrefixes(docs, 0).empty());
}

// Scores a document token by token through the serving path (Prefill one token at a time).
double ServingNll(const model::Model& model, const TokenizedDocument& doc) {
  auto state = model.NewSession(0);
  double nll = 0;
  for (size_t i = 0; i + 1 < doc.size(); ++i) {
    const std::vector<float> logits = model.Prefill(*state, {doc[i]}).value();
    double max = logits[0], sum = 0;
    for (float v : logits) max = std::max<double>(max, v);
    for (float v : logits) sum += std::exp(v - max);
    nll -= logits[doc[i + 1]] - max - std::log(sum);
  }
  return nll;
}

TEST(EvaluatePerplexityTest, MatchesTokenByTokenScoringAcrossSegments) {
  auto model = model::Model::CreateRandom(testing::TinyConfig(), 3, {"cpu", "float32", 1}).value();
  std::vector<TokenizedDocument> docs(3);
  uint64_t x = 7;
  for (size_t d = 0; d < docs.size(); ++d) {
    for (int i = 0; i < 40 + 30 * static_cast<int>(d); ++i) {  // 40..100 tokens, L = 16
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      docs[d].push_back(static_cast<int32_t>((x >> 33) % 64));
    }
  }
  docs.push_back({5});  // too short to predict anything: skipped
  const Perplexity p = EvaluatePerplexity(*model, docs).value();
  double nll = 0;
  int64_t tokens = 0;
  for (size_t d = 0; d < 3; ++d) {
    nll += ServingNll(*model, docs[d]);
    tokens += static_cast<int64_t>(docs[d].size()) - 1;
  }
  EXPECT_EQ(p.documents, 3);
  EXPECT_EQ(p.tokens, tokens);
  EXPECT_NEAR(p.mean_nll, nll / tokens, 1e-4);
  EXPECT_NEAR(p.perplexity, std::exp(nll / tokens), 1e-3 * p.perplexity);
  EXPECT_GT(p.perplexity, 1.0);
}

TEST(EvaluatePerplexityTest, PositionBucketsPartitionThePredictedTokens) {
  auto model = model::Model::CreateRandom(testing::TinyConfig(), 3, {"cpu", "float32", 1}).value();
  const std::vector<TokenizedDocument> docs = {std::vector<int32_t>(30, 7),
                                               std::vector<int32_t>(70, 9)};
  const Perplexity p = EvaluatePerplexity(*model, docs, {20, 50}).value();
  ASSERT_EQ(p.by_position.size(), 3u);
  EXPECT_EQ(p.by_position[0].begin, 1);
  EXPECT_EQ(p.by_position[0].end, 20);
  EXPECT_EQ(p.by_position[0].tokens, 19 + 19);  // positions 1..19 of both documents
  EXPECT_EQ(p.by_position[1].tokens, 10 + 30);  // 20..29 of the first, 20..49 of the second
  EXPECT_EQ(p.by_position[2].tokens, 20);       // 50..69 of the second
  double weighted = 0;
  for (const PositionBucket& b : p.by_position) weighted += b.mean_nll * b.tokens;
  EXPECT_NEAR(weighted / p.tokens, p.mean_nll, 1e-9);
  EXPECT_EQ(EvaluatePerplexity(*model, docs, {20, 20}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EvaluatePerplexity(*model, docs, {1}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(EvaluatePerplexityTest, RejectsEmptyAndOutOfVocabularyInput) {
  auto model = model::Model::CreateRandom(testing::TinyConfig(), 3, {"cpu", "float32", 1}).value();
  EXPECT_EQ(EvaluatePerplexity(*model, {}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EvaluatePerplexity(*model, {{1}}).status().code(), absl::StatusCode::kInvalidArgument);
  auto bad = EvaluatePerplexity(*model, {{1, 2, 3}, {1, 64}});
  ASSERT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("document 1"));
}

}  // namespace
}  // namespace infmem::train
