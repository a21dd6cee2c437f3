// The shipped paper-task sorting model answers through the server exactly as infmem-train's
// evaluation decodes it in process: the content and separator appended as text, then a greedy
// Generate of 20 symbols, for 20 test sequences.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/model/model.h"
#include "tests/integration/integration_env.h"
#include "train/sorting_eval.h"
#include "train/sorting_task.h"

namespace infmem::testing {
namespace {

constexpr char kModel[] = "sorting-paper-4k";

class SortingServingTest : public ServerTest {};

TEST_F(SortingServingTest, GreedyGenerateGivesTheEvaluationsFreeRunningAnswers) {
  auto model = model::Model::Load(ModelDir(kModel), {"cpu", "float32", 1});
  ASSERT_TRUE(model.ok()) << model.status();
  ASSERT_FALSE((*model)->config().ltm.sticky) << "answers would depend on the session seed";
  auto server = StartServer({"--model_dir=" + ModelDir(kModel)});
  ASSERT_NE(server, nullptr);
  auto stub = server->NewStub();
  // Lengths at several phases of a segment, around the model's training length.
  const int64_t lengths[] = {4096, 4100, 4351, 4500, 4700};
  std::set<int32_t> symbols_answered;
  for (int i = 0; i < 20; ++i) {
    const int64_t length = lengths[i % 5];
    const train::SortingExample ex = train::MakeSortingExample(
        train::Split::kTest, static_cast<uint64_t>(i), length, 0, train::SortingData::kPaper);
    auto expected = train::GreedySortingAnswer(**model, ex);
    ASSERT_TRUE(expected.ok()) << expected.status();
    const std::string id = absl::StrCat("sort", i);
    const std::vector<int32_t> prompt(ex.tokens.begin(), ex.tokens.begin() + length + 1);
    ASSERT_TRUE(Create(*stub, id).ok());
    const grpc::Status appended = Append(*stub, id, absl::StrJoin(prompt, " "));
    ASSERT_TRUE(appended.ok()) << appended.error_message();
    const Generation g = Greedy(*stub, id, train::kSortingSymbols);
    ASSERT_TRUE(g.status.ok()) << g.status.error_message();
    EXPECT_EQ(g.ids, *expected) << "example " << i << ", length " << length;
    symbols_answered.insert(g.ids.begin(), g.ids.end());
  }
  // The comparison is only worth something if the answers are not one symbol repeated.
  EXPECT_GE(symbols_answered.size(), 10u);
}

}  // namespace
}  // namespace infmem::testing
