// A model directory end to end in one process: a SentencePiece tokenizer trained here, random
// weights saved and loaded, text in, greedy text out. Also proves SentencePiece and LibTorch
// (each with its own protobuf) coexist in one process.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "server/model/model.h"
#include "server/model/sampler.h"
#include "server/tokenizer/sentencepiece_trainer.h"
#include "server/tokenizer/tokenizer.h"
#include "tests/testing/tiny_model.h"

namespace infmem::model {
namespace {

std::string Generate(const Model& model, const tokenizer::Tokenizer& tok, const std::string& prompt,
                     int n) {
  auto ids = tok.Encode(prompt).value();
  auto state = model.NewSession(1);
  auto logits = model.Prefill(*state, ids).value();
  Sampler greedy(SamplingParams{0.0, 0, 1.0, 0.0, 1.0, 0});
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(greedy.Sample(logits, out));
    SessionState* rows[] = {state.get()};
    logits = model.DecodeStep(rows, {out.back()}).value();
  }
  return tok.Decode(out).value();
}

TEST(ModelDirTest, SentencePieceModelDirectoryLoadsAndGenerates) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "sanitizer runtimes refuse RTLD_DEEPBIND, without which SentencePiece's "
                  "embedded protobuf 3.14 cannot share a process with LibTorch's 3.21";
#endif
  const std::string dir = ::testing::TempDir() + "/spm_model_dir";
  std::filesystem::create_directories(dir);
  {
    std::ofstream corpus(dir + "/corpus.txt");
    for (int i = 0; i < 200; ++i) {
      corpus << "the cat sat on the mat number " << i << " and the dog ran to the park\n";
    }
  }
  const std::string error = tokenizer::TrainSentencePiece(absl::StrCat(
      "--input=", dir, "/corpus.txt --model_prefix=", dir,
      "/tokenizer --vocab_size=80 --model_type=bpe --hard_vocab_limit=false --minloglevel=2"));
  ASSERT_EQ(error, "");
  auto tok = tokenizer::MakeTokenizer("sentencepiece", dir, "tokenizer.model", 0);
  ASSERT_TRUE(tok.ok()) << tok.status();

  ModelConfig c = testing::TinyConfig();
  c.vocab_size = (*tok)->vocab_size();
  c.tokenizer = {"sentencepiece", "tokenizer.model"};
  auto original = Model::CreateRandom(c, 3, {"cpu", "float32", 1}).value();
  ASSERT_TRUE(original->Save(dir, WeightStorage::kFloat32).ok());

  auto model = Model::Load(dir, {"cpu", "float32", 1});
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->config().tokenizer.kind, "sentencepiece");
  const std::string a = Generate(**model, **tok, "the cat sat", 20);
  EXPECT_EQ(a, Generate(**model, **tok, "the cat sat", 20)) << "greedy generation is deterministic";
  // The directory holds the model: the loaded copy continues as the one that was saved.
  EXPECT_EQ(a, Generate(*original, **tok, "the cat sat", 20));
  EXPECT_TRUE(tokenizer::ValidateUtf8(a).ok());
  EXPECT_FALSE(a.empty());
}

}  // namespace
}  // namespace infmem::model
