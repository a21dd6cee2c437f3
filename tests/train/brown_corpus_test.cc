#include "train/brown_corpus.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>

namespace infmem::train {
namespace {

constexpr char kTagged[] =
    "\n\n\tThe/at Fulton/np-tl County/nn-tl Grand/jj-tl Jury/nn-tl said/vbd Friday/nr an/at "
    "investigation/nn of/in Atlanta's/np$ recent/jj primary/nn election/nn produced/vbd ``/`` "
    "no/at evidence/nn ''/'' that/cs any/dti irregularities/nns took/vbd place/nn ./.\n\n\n"
    "\tIt/pps cost/vbd 1/2/cd ,/, (/( about/rb )/) the/at same/ap ;/. done/vbn !/.\n";

TEST(BrownCorpusTest, CleaningRemovesTagsAndKeepsEveryWord) {
  const std::string clean = CleanBrownDocument(kTagged);
  EXPECT_EQ(clean,
            "The Fulton County Grand Jury said Friday an investigation of Atlanta's recent "
            "primary election produced \"no evidence\" that any irregularities took place.\n"
            "It cost 1/2, (about) the same; done!\n");
  EXPECT_FALSE(std::regex_search(clean, std::regex("/[a-z]+")));
}

TEST(BrownCorpusTest, SplitIsByDocumentFixedAndDisjoint) {
  const std::string dir = ::testing::TempDir() + "/brown_fixture";
  std::filesystem::create_directories(dir);
  for (int i = 1; i <= 20; ++i) {
    char name[8];
    std::snprintf(name, sizeof(name), "ca%02d", i);
    std::ofstream(dir + "/" + name) << "Document/nn " << name << "/np ./.\n";
  }
  std::ofstream(dir + "/README") << "not a document";
  const auto train = ReadBrownSplit(dir, Split::kTrain).value();
  const auto valid = ReadBrownSplit(dir, Split::kValid).value();
  const auto test = ReadBrownSplit(dir, Split::kTest).value();
  EXPECT_EQ(train.size(), 16u);
  ASSERT_EQ(valid.size(), 2u);
  ASSERT_EQ(test.size(), 2u);
  EXPECT_EQ(valid[0], "Document ca09.\n");  // documents stay whole
  EXPECT_EQ(test[1], "Document ca20.\n");
  for (const auto& d : train) {
    EXPECT_NE(d, valid[0]);
    EXPECT_NE(d, test[0]);
  }
  EXPECT_EQ(ReadBrownSplit(::testing::TempDir() + "/no_such_corpus", Split::kTrain).status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace infmem::train
