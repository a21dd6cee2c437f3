// Importing a Hugging Face LLaMA checkpoint, end to end and against an independent reference:
// tests/model/hf_llama_reference.py (Debian's python3-torch) writes a random-weight checkpoint
// (grouped-query attention, untied embeddings, rope_theta 500000 with llama3 scaling, two
// bfloat16 shards) and computes its logits with a forward pass written from Hugging Face's
// documented semantics; infmem-convert imports it, and infmem's logits must agree by prefill
// and token by token. Then the memory modes: `infinite` equals `window` until fine-tuned, and
// fine-tuning with --freeze=backbone moves only the long-term memory. Then each architecture
// beside LLaMA (Qwen2, Qwen3, Phi-3, Llama 3.2, SmolLM2), from its own reference checkpoint.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/formats/safetensors.h"
#include "server/model/model.h"

namespace infmem::model {

using formats::DType;
using formats::SafetensorsFile;
using formats::TensorView;
namespace {

const ModelOptions kCpu{"cpu", "float32", 2};
constexpr int kTokens = 300;

int RunCommand(const std::string& command) {
  const int rc = std::system((command + " >/dev/null 2>&1").c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// A directory of this process: ctest runs the two tests as two processes, maybe at once.
std::string Dir(const std::string& name) {
  return absl::StrCat(::testing::TempDir(), "/hf_import_", getpid(), "_", name);
}

// Reads a float tensor of any float dtype as float32 values.
std::vector<float> Floats(const TensorView& t) {
  std::vector<float> out(static_cast<size_t>(t.numel()));
  for (size_t i = 0; i < out.size(); ++i) {
    if (t.dtype == DType::kF32) {
      std::memcpy(&out[i], t.data + 4 * i, 4);
    } else {  // bfloat16: the high half of a float32
      EXPECT_EQ(t.dtype, DType::kBF16);
      uint16_t half;
      std::memcpy(&half, t.data + 2 * i, 2);
      const uint32_t bits = static_cast<uint32_t>(half) << 16;
      std::memcpy(&out[i], &bits, 4);
    }
  }
  return out;
}

// Max |a - b| within 1e-3 of the logit range of `b`, and the same argmax.
void ExpectClose(const std::vector<float>& a, const std::vector<float>& b,
                 const std::string& where) {
  ASSERT_EQ(a.size(), b.size());
  float diff = 0, lo = b[0], hi = b[0];
  for (size_t j = 0; j < a.size(); ++j) {
    diff = std::max(diff, std::fabs(a[j] - b[j]));
    lo = std::min(lo, b[j]);
    hi = std::max(hi, b[j]);
  }
  EXPECT_LE(diff, 1e-3 * (hi - lo)) << where;
  EXPECT_EQ(std::max_element(a.begin(), a.end()) - a.begin(),
            std::max_element(b.begin(), b.end()) - b.begin())
      << where;
}

std::string ReferenceScript() {
  return std::string(INFMEM_SOURCE_DIR) + "/tests/model/hf_llama_reference.py";
}

class HfImportTest : public ::testing::Test {
 protected:
  // Writes the checkpoint, the tokens and the reference logits once for the suite.
  static void SetUpTestSuite() {
    const std::string script = ReferenceScript();
    std::filesystem::remove_all(Dir("hf"));
    ASSERT_EQ(RunCommand(absl::StrCat("/usr/bin/python3 ", script, " write --out ", Dir("hf"),
                                      " --seed 3 --shape tiny --dtype bfloat16 --shards 2"
                                      " --rope_scaling llama3 --tokenizer ",
                                      INFMEM_SOURCE_DIR, "/models/brown-lm/tokenizer.model")),
              0)
        << "writing the checkpoint failed (is python3-torch installed? scripts/install-deps.sh)";
    std::mt19937 rng(5);
    tokens_ = new std::vector<int32_t>();
    for (int i = 0; i < kTokens; ++i) tokens_->push_back(static_cast<int32_t>(rng() % 4096));
    std::ofstream(Dir("tokens.txt")) << absl::StrJoin(*tokens_, " ") << "\n";
    ASSERT_EQ(RunCommand(absl::StrCat("/usr/bin/python3 ", script, " logits --model ", Dir("hf"),
                                      " --tokens ", Dir("tokens.txt"), " --out ",
                                      Dir("ref.safetensors"))),
              0);
    auto file = SafetensorsFile::Read(Dir("ref.safetensors"));
    ASSERT_TRUE(file.ok()) << file.status();
    reference_ = new std::vector<float>(Floats(file->Get("logits").value()));
    ASSERT_EQ(reference_->size(), static_cast<size_t>(kTokens) * 4096);
    for (const char* mode : {"full", "window", "infinite"}) {
      std::filesystem::remove_all(Dir(mode));
      ASSERT_EQ(RunCommand(absl::StrCat(INFMEM_CONVERT_BINARY, " --hf_dir=", Dir("hf"),
                                        " --out=", Dir(mode), " --memory=", mode,
                                        " --segment_length=64 --num_basis=32 --num_samples=32")),
                0)
          << mode;
    }
  }

  // Row `i` of the reference logits.
  static std::vector<float> Reference(int i) {
    return {reference_->begin() + i * 4096, reference_->begin() + (i + 1) * 4096};
  }

  static std::vector<int32_t>* tokens_;
  static std::vector<float>* reference_;
};

std::vector<int32_t>* HfImportTest::tokens_ = nullptr;
std::vector<float>* HfImportTest::reference_ = nullptr;

TEST_F(HfImportTest, FullModeMatchesTheReferenceByPrefillAndByDecode) {
  auto model = Model::Load(Dir("full"), kCpu);
  ASSERT_TRUE(model.ok()) << model.status();
  const ModelConfig& c = (*model)->config();
  EXPECT_EQ(c.kv_heads(), 2);
  EXPECT_EQ(c.n_heads, 4);
  EXPECT_EQ(c.rope_layout, RopeLayout::kHalf);
  EXPECT_EQ(c.rope_scaling.kind, "llama3");
  EXPECT_FALSE(c.tie_embeddings);
  // Prefill: the whole sequence, and prefixes ending at several positions (chunks of L = 64).
  for (int n : {1, 63, 64, 65, 150, 299, kTokens}) {
    auto state = (*model)->NewSession(0);
    auto logits = (*model)->Prefill(*state, {tokens_->data(), static_cast<size_t>(n)});
    ASSERT_TRUE(logits.ok()) << logits.status();
    ExpectClose(*logits, Reference(n - 1), absl::StrCat("prefill of ", n));
  }
  // Token by token through DecodeStep, every position.
  auto state = (*model)->NewSession(0);
  for (int i = 0; i < kTokens; ++i) {
    SessionState* rows[] = {state.get()};
    auto logits = (*model)->DecodeStep(rows, {(*tokens_)[i]});
    ASSERT_TRUE(logits.ok()) << logits.status();
    ExpectClose(*logits, Reference(i), absl::StrCat("decode at ", i));
  }
}

TEST_F(HfImportTest, InfiniteEqualsWindowUntilFineTunedAndFineTuningMovesOnlyTheMemory) {
  auto window = Model::Load(Dir("window"), kCpu).value();
  auto infinite = Model::Load(Dir("infinite"), kCpu).value();
  auto a = window->NewSession(0), b = infinite->NewSession(0);
  // 300 tokens with L = 64: three LTM updates happen on the way.
  EXPECT_EQ(window->Prefill(*a, *tokens_).value(), infinite->Prefill(*b, *tokens_).value());
  EXPECT_GT(b->ltm_updates(), 0);
  for (int i = 0; i < 100; ++i) {
    SessionState* ra[] = {a.get()};
    SessionState* rb[] = {b.get()};
    const int32_t t = (*tokens_)[i];
    ASSERT_EQ(window->DecodeStep(ra, {t}).value(), infinite->DecodeStep(rb, {t}).value()) << i;
  }
  // A few fine-tuning steps on a task that needs no corpus (symbols 0-20 are valid ids).
  std::filesystem::remove_all(Dir("tuned"));
  ASSERT_EQ(RunCommand(absl::StrCat(INFMEM_TRAIN_BINARY, " finetune --model_dir=", Dir("infinite"),
                                    " --out=", Dir("tuned"),
                                    " --freeze=backbone --task=sorting-paper --length=150 --batch=2"
                                    " --steps=3 --warmup=0 --lr=1e-2 --threads=1 --device=cpu")),
            0);
  const SafetensorsFile before =
      SafetensorsFile::Read(Dir("infinite") + "/model.safetensors").value();
  const SafetensorsFile after = SafetensorsFile::Read(Dir("tuned") + "/model.safetensors").value();
  ASSERT_EQ(before.Names(), after.Names());
  int ltm_moved = 0, ltm_total = 0;
  for (const std::string& name : before.Names()) {
    const std::vector<float> x = Floats(before.Get(name).value());
    const std::vector<float> y = Floats(after.Get(name).value());
    if (name.find(".ltm.") == std::string::npos) {
      EXPECT_EQ(std::memcmp(x.data(), y.data(), x.size() * sizeof(float)), 0) << name;
    } else {
      ++ltm_total;
      ltm_moved += x != y;
    }
  }
  EXPECT_EQ(ltm_total, 2 * 7);  // gate weight and bias, wk, wv, wo, w_mu, w_sigma per layer
  EXPECT_GE(ltm_moved, 2 * 5) << "the output projections and what feeds them must move";
}

// One architecture's reference checkpoint: the flags of hf_llama_reference.py's `write`.
struct ArchitectureCase {
  std::string name;
  std::string flags;
};

class HfArchitectureTest : public ::testing::TestWithParam<ArchitectureCase> {
 protected:
  static constexpr int kArchTokens = 160;  // two and a half segments of 64
};

TEST_P(HfArchitectureTest, MatchesTheReferenceByPrefillAndDecodeAndInfiniteEqualsWindow) {
  const ArchitectureCase& arch = GetParam();
  const std::string hf = Dir(arch.name + "_hf");
  std::filesystem::remove_all(hf);
  ASSERT_EQ(RunCommand(absl::StrCat("/usr/bin/python3 ", ReferenceScript(), " write --out ", hf,
                                    " --seed 11 --shape tiny --dtype bfloat16 ", arch.flags,
                                    " --tokenizer ", INFMEM_SOURCE_DIR,
                                    "/models/brown-lm/tokenizer.model")),
            0);
  std::mt19937 rng(7);
  std::vector<int32_t> tokens;
  for (int i = 0; i < kArchTokens; ++i) tokens.push_back(static_cast<int32_t>(rng() % 4096));
  const std::string tokens_file = Dir(arch.name + "_tokens.txt");
  std::ofstream(tokens_file) << absl::StrJoin(tokens, " ") << "\n";
  const std::string ref_file = Dir(arch.name + "_ref.safetensors");
  ASSERT_EQ(RunCommand(absl::StrCat("/usr/bin/python3 ", ReferenceScript(), " logits --model ", hf,
                                    " --tokens ", tokens_file, " --out ", ref_file)),
            0);
  const std::vector<float> reference =
      Floats(SafetensorsFile::Read(ref_file).value().Get("logits").value());
  ASSERT_EQ(reference.size(), static_cast<size_t>(kArchTokens) * 4096);
  auto row = [&](int i) {
    return std::vector<float>(reference.begin() + i * 4096, reference.begin() + (i + 1) * 4096);
  };
  for (const char* mode : {"full", "window", "infinite"}) {
    std::filesystem::remove_all(Dir(arch.name + mode));
    ASSERT_EQ(RunCommand(absl::StrCat(INFMEM_CONVERT_BINARY, " --hf_dir=", hf,
                                      " --out=", Dir(arch.name + mode), " --memory=", mode,
                                      " --segment_length=64 --num_basis=32 --num_samples=32")),
              0)
        << mode;
  }

  auto full = Model::Load(Dir(arch.name + "full"), kCpu);
  ASSERT_TRUE(full.ok()) << full.status();
  for (int n : {1, 64, 65, kArchTokens}) {
    auto state = (*full)->NewSession(0);
    auto logits = (*full)->Prefill(*state, {tokens.data(), static_cast<size_t>(n)});
    ASSERT_TRUE(logits.ok()) << logits.status();
    ExpectClose(*logits, row(n - 1), absl::StrCat(arch.name, " prefill of ", n));
  }
  auto state = (*full)->NewSession(0);
  for (int i = 0; i < kArchTokens; ++i) {
    SessionState* rows[] = {state.get()};
    auto logits = (*full)->DecodeStep(rows, {tokens[i]});
    ASSERT_TRUE(logits.ok()) << logits.status();
    ExpectClose(*logits, row(i), absl::StrCat(arch.name, " decode at ", i));
  }

  auto window = Model::Load(Dir(arch.name + "window"), kCpu).value();
  auto infinite = Model::Load(Dir(arch.name + "infinite"), kCpu).value();
  auto a = window->NewSession(0), b = infinite->NewSession(0);
  EXPECT_EQ(window->Prefill(*a, tokens).value(), infinite->Prefill(*b, tokens).value());
  EXPECT_GT(b->ltm_updates(), 0);
  for (int i = 0; i < 40; ++i) {
    SessionState* ra[] = {a.get()};
    SessionState* rb[] = {b.get()};
    ASSERT_EQ(window->DecodeStep(ra, {tokens[i]}).value(),
              infinite->DecodeStep(rb, {tokens[i]}).value())
        << arch.name << " " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Architectures, HfArchitectureTest,
    ::testing::Values(
        // Qwen2.5-0.5B's shape: q/k/v biases, tied embeddings.
        ArchitectureCase{"qwen2", "--arch Qwen2ForCausalLM --tie"},
        // Qwen3-0.6B's: per-head q/k norms and head_dim 24 with hidden 64 over 4 heads.
        ArchitectureCase{"qwen3", "--arch Qwen3ForCausalLM --head_dim 24 --tie"},
        // Phi-3-mini's: fused qkv_proj and gate_up_proj, untied.
        ArchitectureCase{"phi3", "--arch Phi3ForCausalLM"},
        // Llama 3.2-1B's: tied embeddings and llama3 RoPE scaling.
        ArchitectureCase{"llama32", "--tie --rope_scaling llama3"},
        // SmolLM2's: a tied LlamaForCausalLM without RoPE scaling, float32 weights.
        ArchitectureCase{"smollm2", "--tie --dtype float32"}),
    [](const ::testing::TestParamInfo<ArchitectureCase>& info) { return info.param.name; });

}  // namespace
}  // namespace infmem::model
