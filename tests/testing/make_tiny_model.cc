// make-tiny-model: writes a model directory with random weights (never committed; made at
// test or run time so nothing depends on trained weights). With --tokenizer=sentencepiece it
// also trains a small SentencePiece model on a built-in English paragraph.
//   make-tiny-model --out=build/tiny-model --memory=infinite --seed=1
#include <filesystem>
#include <fstream>
#include <iostream>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "server/model/model.h"
#include "server/tokenizer/sentencepiece_trainer.h"
#include "server/tokenizer/tokenizer.h"
#include "tests/testing/tiny_model.h"

ABSL_FLAG(std::string, out, "", "Output model directory (required).");
ABSL_FLAG(std::string, memory, "infinite", "infinite, window or full.");
ABSL_FLAG(std::string, tokenizer, "sentencepiece", "sentencepiece, symbol or huggingface.");
ABSL_FLAG(std::string, tokenizer_dir, "",
          "huggingface: the directory whose tokenizer.json (and tokenizer_config.json, "
          "generation_config.json) the model takes; its vocabulary sets vocab_size.");
ABSL_FLAG(uint64_t, seed, 1, "Weight seed.");
ABSL_FLAG(int, vocab_size, 256, "Vocabulary size.");
ABSL_FLAG(int, dim, 64, "Model width.");
ABSL_FLAG(int, layers, 2, "Layers.");
ABSL_FLAG(int, heads, 4, "Heads.");
ABSL_FLAG(int, segment_length, 32, "Segment length L.");
ABSL_FLAG(int, num_basis, 32, "LTM basis functions N (= samples M).");

namespace {

constexpr char kText[] =
    "The quick brown fox jumps over the lazy dog. A long memory keeps what a short one loses.\n"
    "Sessions append text and ask for continuations, streamed token by token.\n"
    "Everything older than the last segment is compressed into a continuous signal.\n"
    "The cat sat on the mat, and the dog sat on the log, and the bird sang in the tree.\n"
    "In the morning the market opened early; by noon the streets were full of people.\n"
    "She read the letter twice, folded it, and put it back into the drawer by the window.\n"
    "Numbers like one, two, three and four appear in many sentences of ordinary English.\n";

int Fail(const std::string& msg) {
  std::cerr << "make-tiny-model: " << msg << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string out = absl::GetFlag(FLAGS_out);
  if (out.empty()) return Fail("--out is required");
  infmem::model::ModelConfig c = infmem::testing::TinyConfig();
  const std::string memory = absl::GetFlag(FLAGS_memory);
  if (memory == "infinite") {
    c.memory = infmem::model::MemoryMode::kInfinite;
  } else if (memory == "window") {
    c.memory = infmem::model::MemoryMode::kWindow;
  } else if (memory == "full") {
    c.memory = infmem::model::MemoryMode::kFull;
  } else {
    return Fail("--memory must be infinite, window or full");
  }
  c.name = absl::StrCat("tiny-random-", memory);
  c.vocab_size = absl::GetFlag(FLAGS_vocab_size);
  c.dim = absl::GetFlag(FLAGS_dim);
  c.n_layers = absl::GetFlag(FLAGS_layers);
  c.n_heads = absl::GetFlag(FLAGS_heads);
  c.ffn_dim = 2 * c.dim;
  c.segment_length = absl::GetFlag(FLAGS_segment_length);
  c.ltm.num_basis = c.ltm.num_samples = absl::GetFlag(FLAGS_num_basis);
  std::filesystem::create_directories(out);
  if (absl::GetFlag(FLAGS_tokenizer) == "sentencepiece") {
    const std::string corpus = out + "/corpus.txt";
    std::ofstream(corpus) << kText;
    const std::string error = infmem::tokenizer::TrainSentencePiece(absl::StrCat(
        "--input=", corpus, " --model_prefix=", out, "/tokenizer --vocab_size=", c.vocab_size,
        " --model_type=bpe --character_coverage=1.0 --hard_vocab_limit=false --minloglevel=2",
        " --num_threads=1"));
    std::filesystem::remove(corpus);
    std::filesystem::remove(out + "/tokenizer.vocab");
    if (!error.empty()) return Fail(error);
    // A small corpus may give fewer pieces than asked for: the model follows the tokenizer.
    auto tok = infmem::tokenizer::MakeTokenizer("sentencepiece", out, "tokenizer.model", 0);
    if (!tok.ok()) return Fail(tok.status().ToString());
    c.vocab_size = (*tok)->vocab_size();
    c.tokenizer.kind = "sentencepiece";
    c.tokenizer.file = "tokenizer.model";
    c.bos_id = (*tok)->bos_id();
    c.eos_id = (*tok)->eos_id();
  } else if (absl::GetFlag(FLAGS_tokenizer) == "huggingface") {
    const std::string from = absl::GetFlag(FLAGS_tokenizer_dir);
    if (from.empty()) return Fail("--tokenizer=huggingface needs --tokenizer_dir");
    for (const char* file : {"tokenizer.json", "tokenizer_config.json", "generation_config.json"}) {
      if (!std::filesystem::exists(from + "/" + file)) continue;
      std::filesystem::copy_file(from + "/" + file, out + "/" + file,
                                 std::filesystem::copy_options::overwrite_existing);
    }
    auto tok = infmem::tokenizer::MakeTokenizer("huggingface", out, "tokenizer.json", 0);
    if (!tok.ok()) return Fail(tok.status().ToString());
    c.vocab_size = (*tok)->vocab_size();
    c.tokenizer.kind = "huggingface";
    c.tokenizer.file = "tokenizer.json";
    c.bos_id = (*tok)->bos_id();
    c.eos_id = (*tok)->eos_id();
  } else if (absl::GetFlag(FLAGS_tokenizer) == "symbol") {
    c.tokenizer.kind = "symbol";
    c.tokenizer.file = "";
  } else {
    return Fail("--tokenizer must be sentencepiece, symbol or huggingface");
  }
  auto model =
      infmem::model::Model::CreateRandom(c, absl::GetFlag(FLAGS_seed), {"cpu", "float32", 1});
  if (!model.ok()) return Fail(model.status().ToString());
  if (auto s = (*model)->Save(out, infmem::model::WeightStorage::kFloat32); !s.ok()) {
    return Fail(s.ToString());
  }
  std::cout << "wrote " << out << " (" << (*model)->ParameterCount() << " parameters, " << memory
            << ")\n";
  return 0;
}
