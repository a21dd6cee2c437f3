// Tests of Hugging Face checkpoint import and export (server/formats/hf_checkpoint.h) on tiny
// checkpoints the tests write themselves: random tensor bytes (never interpreted, only
// copied), configs as JSON text, and the Brown model's SentencePiece tokenizer (vocab 4096).
#include "server/formats/hf_checkpoint.h"

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/common/file_io.h"
#include "server/common/hash.h"
#include "server/formats/safetensors.h"
#include "server/model/config.h"
#include "server/tokenizer/tokenizer.h"

namespace infmem::formats {
namespace {

using model::ModelConfig;
using model::ReadModelConfig;
using model::RopeLayout;

namespace fs = std::filesystem;
using Json = nlohmann::json;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr int kVocab = 4096;  // the Brown tokenizer's
constexpr int kDim = 16;
constexpr int kHeads = 4;  // head_dim 4
constexpr int kKvHeads = 2;
constexpr int kLayers = 2;
constexpr int kFfn = 24;
constexpr int kHeadDim = kDim / kHeads;

std::string TokenizerPath() {
  return absl::StrCat(INFMEM_SOURCE_DIR, "/models/brown-lm/tokenizer.model");
}

// A fresh, empty directory for one test.
std::string FreshDir(const std::string& name) {
  const std::string dir = absl::StrCat(::testing::TempDir(), "/hf_checkpoint_test/", name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  ASSERT_TRUE(out.good()) << path;
}

std::string ReadOrDie(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  EXPECT_TRUE(text.ok()) << text.status();
  return text.ok() ? *text : std::string();
}

// A tensor of a fake checkpoint: random bytes of the right size.
struct FakeTensor {
  DType dtype;
  std::vector<int64_t> shape;
  std::string bytes;
};
using TensorMap = std::map<std::string, FakeTensor>;

FakeTensor RandomTensor(DType dtype, std::vector<int64_t> shape, uint64_t* rng) {
  int64_t numel = 1;
  for (int64_t d : shape) numel *= d;
  std::string bytes(static_cast<size_t>(numel) * DTypeSize(dtype), '\0');
  for (char& c : bytes) c = static_cast<char>(SplitMix64(*rng) & 0xff);
  return {dtype, std::move(shape), std::move(bytes)};
}

// The config.json of a tiny grouped-query LLaMA.
Json TinyHfConfig() {
  return Json{{"architectures", {"LlamaForCausalLM"}},
              {"model_type", "llama"},
              {"hidden_size", kDim},
              {"intermediate_size", kFfn},
              {"num_attention_heads", kHeads},
              {"num_key_value_heads", kKvHeads},
              {"num_hidden_layers", kLayers},
              {"vocab_size", kVocab},
              {"rms_norm_eps", 1e-5},
              {"rope_theta", 500000.0},
              {"rope_scaling",
               {{"rope_type", "llama3"},
                {"factor", 8.0},
                {"low_freq_factor", 1.0},
                {"high_freq_factor", 4.0},
                {"original_max_position_embeddings", 8192}}},
              {"tie_word_embeddings", false},
              {"hidden_act", "silu"},
              {"attention_bias", false},
              {"mlp_bias", false},
              {"head_dim", kHeadDim},
              {"sliding_window", nullptr},
              {"bos_token_id", 1},
              {"eos_token_id", 2},
              {"torch_dtype", "bfloat16"}};
}

// The Hugging Face tensors of TinyHfConfig (with lm_head).
TensorMap TinyHfTensors(DType dtype) {
  uint64_t rng = 7;
  const int64_t kv = kKvHeads * kHeadDim;
  TensorMap t;
  t["model.embed_tokens.weight"] = RandomTensor(dtype, {kVocab, kDim}, &rng);
  for (int i = 0; i < kLayers; ++i) {
    const std::string p = absl::StrCat("model.layers.", i, ".");
    t[p + "input_layernorm.weight"] = RandomTensor(dtype, {kDim}, &rng);
    t[p + "post_attention_layernorm.weight"] = RandomTensor(dtype, {kDim}, &rng);
    t[p + "self_attn.q_proj.weight"] = RandomTensor(dtype, {kDim, kDim}, &rng);
    t[p + "self_attn.k_proj.weight"] = RandomTensor(dtype, {kv, kDim}, &rng);
    t[p + "self_attn.v_proj.weight"] = RandomTensor(dtype, {kv, kDim}, &rng);
    t[p + "self_attn.o_proj.weight"] = RandomTensor(dtype, {kDim, kDim}, &rng);
    t[p + "mlp.gate_proj.weight"] = RandomTensor(dtype, {kFfn, kDim}, &rng);
    t[p + "mlp.up_proj.weight"] = RandomTensor(dtype, {kFfn, kDim}, &rng);
    t[p + "mlp.down_proj.weight"] = RandomTensor(dtype, {kDim, kFfn}, &rng);
  }
  t["model.norm.weight"] = RandomTensor(dtype, {kDim}, &rng);
  t["lm_head.weight"] = RandomTensor(dtype, {kVocab, kDim}, &rng);
  return t;
}

// Writes `tensors` as one safetensors file at `path`.
void WriteSafetensors(const std::string& path, const TensorMap& tensors) {
  std::vector<TensorToWrite> list;
  for (const auto& [name, t] : tensors) {
    list.push_back({name, t.dtype, t.shape, t.bytes.data(), t.bytes.size()});
  }
  absl::StatusOr<std::string> image = SerializeSafetensors(list, {{"format", "pt"}});
  ASSERT_TRUE(image.ok()) << image.status();
  WriteText(path, *image);
}

std::string ShardName(int i, int n) {
  return absl::StrCat("model-0000", i, "-of-0000", n, ".safetensors");
}

// Writes a Hugging Face directory: config.json, generation_config.json, the weights (one
// file, or two shards and an index) and tokenizer.model.
void WriteHfCheckpoint(const std::string& dir, const Json& config, const TensorMap& tensors,
                       int num_shards) {
  WriteText(dir + "/config.json", config.dump(2));
  WriteText(dir + "/generation_config.json",
            Json{{"bos_token_id", 1}, {"eos_token_id", {3, 2}}}.dump());
  fs::copy_file(TokenizerPath(), dir + "/tokenizer.model");
  if (num_shards == 1) {
    WriteSafetensors(dir + "/model.safetensors", tensors);
    return;
  }
  // Layer 0 and the embeddings in the first shard, the rest in the second.
  TensorMap shards[2];
  Json weight_map = Json::object();
  for (const auto& [name, t] : tensors) {
    const int shard =
        (name.find("layers.0.") != std::string::npos || name == "model.embed_tokens.weight") ? 0
                                                                                             : 1;
    shards[shard][name] = t;
    weight_map[name] = ShardName(shard + 1, 2);
  }
  WriteSafetensors(dir + "/" + ShardName(1, 2), shards[0]);
  WriteSafetensors(dir + "/" + ShardName(2, 2), shards[1]);
  WriteText(dir + "/model.safetensors.index.json",
            Json{{"metadata", {{"total_size", 0}}}, {"weight_map", weight_map}}.dump(2));
}

ImportOptions Options(const std::string& hf_dir, const std::string& out_dir, MemoryMode memory) {
  ImportOptions options;
  options.hf_dir = hf_dir;
  options.out_dir = out_dir;
  options.memory = memory;
  options.segment_length = 64;
  options.ltm.num_basis = 32;
  options.ltm.num_samples = 32;
  options.check_tokenizer = [](const std::string& dir, const std::string& kind,
                               const std::string& file, int vocab) {
    return tokenizer::MakeTokenizer(kind, dir, file, vocab).status();
  };
  return options;
}

// The infmem names of the Hugging Face tensors.
std::map<std::string, std::string> InfmemNames() {
  std::map<std::string, std::string> names = {
      {"model.embed_tokens.weight", "tok_embeddings.weight"},
      {"model.norm.weight", "norm.weight"},
      {"lm_head.weight", "output.weight"}};
  for (int i = 0; i < kLayers; ++i) {
    const std::string hf = absl::StrCat("model.layers.", i, ".");
    const std::string ours = absl::StrCat("layers.", i, ".");
    names[hf + "input_layernorm.weight"] = ours + "attention_norm.weight";
    names[hf + "post_attention_layernorm.weight"] = ours + "ffn_norm.weight";
    names[hf + "self_attn.q_proj.weight"] = ours + "attention.wq.weight";
    names[hf + "self_attn.k_proj.weight"] = ours + "attention.wk.weight";
    names[hf + "self_attn.v_proj.weight"] = ours + "attention.wv.weight";
    names[hf + "self_attn.o_proj.weight"] = ours + "attention.wo.weight";
    names[hf + "mlp.gate_proj.weight"] = ours + "feed_forward.w1.weight";
    names[hf + "mlp.up_proj.weight"] = ours + "feed_forward.w3.weight";
    names[hf + "mlp.down_proj.weight"] = ours + "feed_forward.w2.weight";
  }
  return names;
}

std::string Bytes(const TensorView& view) {
  return std::string(reinterpret_cast<const char*>(view.data), view.size_bytes);
}

class ImportModeTest : public ::testing::TestWithParam<MemoryMode> {};

TEST_P(ImportModeTest, ShardedBf16GqaCheckpointConvertsByteForByte) {
  const MemoryMode memory = GetParam();
  const std::string name = absl::StrCat("happy_", MemoryModeName(memory));
  const std::string hf_dir = FreshDir(name + "_hf");
  const std::string out_dir = FreshDir(name + "_out");
  const TensorMap tensors = TinyHfTensors(DType::kBF16);
  WriteHfCheckpoint(hf_dir, TinyHfConfig(), tensors, 2);

  absl::StatusOr<ConversionSummary> summary = ImportHfCheckpoint(Options(hf_dir, out_dir, memory));
  ASSERT_TRUE(summary.ok()) << summary.status();

  absl::StatusOr<ModelConfig> config = ReadModelConfig(out_dir + "/config.json");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->memory, memory);
  EXPECT_EQ(config->n_kv_heads, kKvHeads);
  EXPECT_EQ(config->rope_layout, RopeLayout::kHalf);
  EXPECT_EQ(config->rope_theta, 500000.0);
  EXPECT_EQ(config->rope_scaling.kind, "llama3");
  EXPECT_EQ(config->rope_scaling.factor, 8.0);
  EXPECT_EQ(config->rope_scaling.original_max_position_embeddings, 8192);
  EXPECT_EQ(config->norm_eps, 1e-5);
  EXPECT_FALSE(config->tie_embeddings);
  EXPECT_EQ(config->bos_id, 1);
  EXPECT_EQ(config->eos_id, 3);  // generation_config.json's first
  EXPECT_EQ(config->segment_length, 64);
  EXPECT_EQ(config->tokenizer.file, "tokenizer.model");
  EXPECT_EQ(config->name, name + "_hf");
  EXPECT_TRUE(fs::exists(out_dir + "/tokenizer.model"));
  EXPECT_FALSE(fs::exists(out_dir + "/model.safetensors.tmp"));

  absl::StatusOr<SafetensorsFile> file = SafetensorsFile::Read(out_dir + "/model.safetensors");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(summary->bytes_written, fs::file_size(out_dir + "/model.safetensors"));
  for (const auto& [hf_name, ours] : InfmemNames()) {
    absl::StatusOr<TensorView> view = file->Get(ours);
    ASSERT_TRUE(view.ok()) << ours;
    EXPECT_EQ(view->dtype, DType::kBF16) << ours;
    EXPECT_EQ(view->shape, tensors.at(hf_name).shape) << ours;
    EXPECT_EQ(Bytes(*view), tensors.at(hf_name).bytes) << ours;
  }
  const size_t ltm_count = memory == MemoryMode::kInfinite ? 7 * kLayers : 0;
  EXPECT_EQ(file->Names().size(), InfmemNames().size() + ltm_count);
  if (memory == MemoryMode::kInfinite) {
    for (int i = 0; i < kLayers; ++i) {
      const std::string p = absl::StrCat("layers.", i, ".ltm.");
      absl::StatusOr<TensorView> wo = file->Get(p + "wo.weight");
      ASSERT_TRUE(wo.ok());
      EXPECT_EQ(wo->dtype, DType::kF32);
      EXPECT_EQ(wo->shape, (std::vector<int64_t>{kDim, kDim}));
      EXPECT_EQ(Bytes(*wo), std::string(wo->size_bytes, '\0'));
      absl::StatusOr<TensorView> gate = file->Get(p + "gate.weight");
      ASSERT_TRUE(gate.ok());
      EXPECT_EQ(gate->shape, (std::vector<int64_t>{kDim, kDim, 3}));
      EXPECT_NE(Bytes(*gate), std::string(gate->size_bytes, '\0'));
      absl::StatusOr<TensorView> mu = file->Get(p + "w_mu");
      ASSERT_TRUE(mu.ok());
      EXPECT_EQ(mu->shape, (std::vector<int64_t>{32}));
    }
  } else {
    for (const std::string& n : file->Names()) EXPECT_THAT(n, ::testing::Not(HasSubstr("ltm")));
  }
}

INSTANTIATE_TEST_SUITE_P(AllModes, ImportModeTest,
                         ::testing::Values(MemoryMode::kFull, MemoryMode::kWindow,
                                           MemoryMode::kInfinite),
                         [](const auto& info) { return std::string(MemoryModeName(info.param)); });

TEST(ImportTest, LtmWeightsDependOnlyOnTheSeed) {
  const std::string hf_dir = FreshDir("seed_hf");
  WriteHfCheckpoint(hf_dir, TinyHfConfig(), TinyHfTensors(DType::kF32), 1);
  std::string images[3];
  for (int run = 0; run < 3; ++run) {
    const std::string out_dir = FreshDir(absl::StrCat("seed_out", run));
    ImportOptions options = Options(hf_dir, out_dir, MemoryMode::kInfinite);
    options.seed = run < 2 ? 5 : 6;
    ASSERT_TRUE(ImportHfCheckpoint(options).ok());
    images[run] = ReadOrDie(out_dir + "/model.safetensors");
  }
  EXPECT_EQ(images[0], images[1]);
  EXPECT_NE(images[0], images[2]);
}

TEST(ImportTest, TiedCheckpointNeedsNoLmHead) {
  const std::string hf_dir = FreshDir("tied_hf");
  const std::string out_dir = FreshDir("tied_out");
  Json config = TinyHfConfig();
  config["tie_word_embeddings"] = true;
  TensorMap tensors = TinyHfTensors(DType::kF16);
  tensors.erase("lm_head.weight");
  WriteHfCheckpoint(hf_dir, config, tensors, 1);
  absl::StatusOr<ConversionSummary> summary =
      ImportHfCheckpoint(Options(hf_dir, out_dir, MemoryMode::kWindow));
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_TRUE(summary->config.tie_embeddings);
  absl::StatusOr<SafetensorsFile> file = SafetensorsFile::Read(out_dir + "/model.safetensors");
  ASSERT_TRUE(file.ok());
  EXPECT_FALSE(file->Has("output.weight"));
}

// Writes a valid checkpoint, lets `mutate` break it, imports it and returns the status.
template <typename Mutate>
absl::Status ImportBroken(const std::string& name, Mutate mutate, int num_shards = 2) {
  const std::string hf_dir = FreshDir(name + "_hf");
  const std::string out_dir = FreshDir(name + "_out");
  Json config = TinyHfConfig();
  TensorMap tensors = TinyHfTensors(DType::kBF16);
  mutate(hf_dir, &config, &tensors, /*before_write=*/true);
  WriteHfCheckpoint(hf_dir, config, tensors, num_shards);
  mutate(hf_dir, &config, &tensors, /*before_write=*/false);
  absl::Status status = ImportHfCheckpoint(Options(hf_dir, out_dir, MemoryMode::kWindow)).status();
  EXPECT_FALSE(fs::exists(out_dir + "/model.safetensors")) << name;
  EXPECT_FALSE(fs::exists(out_dir + "/model.safetensors.tmp")) << name;
  return status;
}

// A mutation of config.json alone.
auto ConfigChange(std::function<void(Json*)> change) {
  return [change](const std::string&, Json* config, TensorMap*, bool before) {
    if (before) change(config);
  };
}

TEST(ImportErrorTest, OtherArchitecture) {
  const absl::Status status = ImportBroken(
      "arch", ConfigChange([](Json* c) { (*c)["architectures"] = {"GPT2LMHeadModel"}; }));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), AllOf(HasSubstr("config.json"), HasSubstr("'architectures'"),
                                      HasSubstr("GPT2LMHeadModel"),
                                      HasSubstr("LlamaForCausalLM, MistralForCausalLM")));
}

TEST(ImportErrorTest, MalformedTokenizerJson) {
  // Without a tokenizer.model the importer takes tokenizer.json, and checks it before the
  // long weight copy.
  const absl::Status status =
      ImportBroken("tokjson", [](const std::string& dir, Json*, TensorMap*, bool before) {
        if (before) return;
        fs::remove(dir + "/tokenizer.model");
        WriteText(dir + "/tokenizer.json", "{}");
      });
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), AllOf(HasSubstr("tokenizer.json"), HasSubstr("field 'model'")));
}

TEST(ImportErrorTest, NoTokenizer) {
  const absl::Status status =
      ImportBroken("notok", [](const std::string& dir, Json*, TensorMap*, bool before) {
        if (!before) fs::remove(dir + "/tokenizer.model");
      });
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr("no tokenizer.model or tokenizer.json"));
}

// A tokenizer.json whose BPE vocabulary has `tokens` entries ("t0", "t1", ...).
std::string TokenizerJson(int tokens) {
  Json vocab = Json::object();
  for (int i = 0; i < tokens; ++i) vocab[absl::StrCat("t", i)] = i;
  return Json{{"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", Json::array()}}}}.dump();
}

TEST(ImportTest, ATokenizerJsonCheckpointBringsItsConfigAndChatTemplate) {
  const std::string hf_dir = FreshDir("tokjson_ok_hf");
  const std::string out_dir = FreshDir("tokjson_ok_out");
  WriteHfCheckpoint(hf_dir, TinyHfConfig(), TinyHfTensors(DType::kF32), 1);
  fs::remove(hf_dir + "/tokenizer.model");
  WriteText(hf_dir + "/tokenizer.json", TokenizerJson(kVocab));
  WriteText(
      hf_dir + "/tokenizer_config.json",
      R"({"chat_template": "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}"})");
  absl::StatusOr<ConversionSummary> summary =
      ImportHfCheckpoint(Options(hf_dir, out_dir, MemoryMode::kWindow));
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->config.tokenizer.kind, "huggingface");
  EXPECT_EQ(summary->config.tokenizer.file, "tokenizer.json");
  EXPECT_EQ(ReadOrDie(out_dir + "/tokenizer.json"), ReadOrDie(hf_dir + "/tokenizer.json"));
  EXPECT_EQ(ReadOrDie(out_dir + "/tokenizer_config.json"),
            ReadOrDie(hf_dir + "/tokenizer_config.json"));
  auto tokenizer = tokenizer::MakeTokenizer("huggingface", out_dir, "tokenizer.json", kVocab);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  EXPECT_EQ((*tokenizer)->vocab_size(), kVocab);
}

TEST(ImportErrorTest, ATokenizerLargerThanTheVocabularyIsRefused) {
  // The fault found from outside: a tokenizer with more ids than the checkpoint's vocab_size
  // was imported, and a session then took an id its model could not embed.
  const absl::Status status =
      ImportBroken("tokbig", [](const std::string& dir, Json*, TensorMap*, bool before) {
        if (before) return;
        fs::remove(dir + "/tokenizer.model");
        WriteText(dir + "/tokenizer.json", TokenizerJson(kVocab + 5));
      });
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr("tokenizer.json"),
                    HasSubstr("4101 tokens, more than the model's vocab_size 4096")));
}

TEST(ImportErrorTest, SlidingWindowShorterThanTwoSegments) {
  // L = 64: window mode attends up to 127 tokens back, more than a 100-token window.
  const absl::Status status = ImportBroken("sliding", ConfigChange([](Json* c) {
                                             (*c)["architectures"] = {"MistralForCausalLM"};
                                             (*c)["sliding_window"] = 100;
                                           }));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr("config.json"), HasSubstr("'sliding_window' is 100"),
                    HasSubstr("segment_length 64"), HasSubstr("at most 50")));
}

TEST(ImportTest, SlidingWindowModelsImportInWindowModeOnlyWhereTheWindowCoversTwoSegments) {
  const std::string hf_dir = FreshDir("sliding_ok_hf");
  Json config = TinyHfConfig();
  config["architectures"] = {"MistralForCausalLM"};
  config["sliding_window"] = 128;
  WriteHfCheckpoint(hf_dir, config, TinyHfTensors(DType::kBF16), 1);
  EXPECT_TRUE(
      ImportHfCheckpoint(Options(hf_dir, FreshDir("sliding_ok_w"), MemoryMode::kWindow)).ok());
  const absl::Status full =
      ImportHfCheckpoint(Options(hf_dir, FreshDir("sliding_ok_f"), MemoryMode::kFull)).status();
  EXPECT_EQ(full.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(full.message(), AllOf(HasSubstr("'sliding_window' is 128"), HasSubstr("full mode")));
  // Qwen's window applies only where use_sliding_window says so.
  config["architectures"] = {"Qwen2ForCausalLM"};
  config["sliding_window"] = 32768;
  config["use_sliding_window"] = false;
  TensorMap tensors = TinyHfTensors(DType::kBF16);
  for (int i = 0; i < kLayers; ++i) {
    for (const char* p : {"q", "k", "v"}) {
      const std::string weight = absl::StrCat("model.layers.", i, ".self_attn.", p, "_proj.weight");
      const std::string bias = absl::StrCat("model.layers.", i, ".self_attn.", p, "_proj.bias");
      tensors[bias] = tensors.at(weight);
      tensors[bias].shape = {tensors.at(weight).shape[0]};
      tensors[bias].bytes.resize(tensors[bias].shape[0] * 2);
    }
  }
  const std::string qwen_dir = FreshDir("sliding_qwen_hf");
  WriteHfCheckpoint(qwen_dir, config, tensors, 1);
  auto summary = ImportHfCheckpoint(Options(qwen_dir, FreshDir("sliding_qwen"), MemoryMode::kFull));
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_TRUE(summary->config.attention_bias);
}

TEST(ImportErrorTest, MissingShard) {
  const absl::Status status =
      ImportBroken("noshard", [](const std::string& dir, Json*, TensorMap*, bool before) {
        if (!before) fs::remove(dir + "/" + ShardName(2, 2));
      });
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), AllOf(HasSubstr("model.safetensors.index.json"),
                                      HasSubstr(ShardName(2, 2)), HasSubstr("missing")));
}

TEST(ImportErrorTest, TensorInNoShard) {
  const absl::Status status =
      ImportBroken("notensor", [](const std::string&, Json*, TensorMap* t, bool before) {
        if (before) t->erase("model.layers.1.mlp.up_proj.weight");
      });
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), AllOf(HasSubstr("model.safetensors.index.json"),
                                      HasSubstr("'model.layers.1.mlp.up_proj.weight'")));
}

TEST(ImportErrorTest, ShapeMismatch) {
  const absl::Status status =
      ImportBroken("shape", [](const std::string&, Json*, TensorMap* t, bool before) {
        uint64_t rng = 1;
        if (before) {
          (*t)["model.layers.0.self_attn.k_proj.weight"] =
              RandomTensor(DType::kBF16, {kDim, kDim}, &rng);
        }
      });
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr(ShardName(1, 2)),
                    HasSubstr("tensor 'model.layers.0.self_attn.k_proj.weight' has shape [16, 16]"),
                    HasSubstr("config.json implies [8, 16]")));
}

TEST(ImportErrorTest, UnsupportedDtype) {
  const absl::Status status =
      ImportBroken("dtype", [](const std::string&, Json*, TensorMap* t, bool before) {
        uint64_t rng = 1;
        if (before) (*t)["model.norm.weight"] = RandomTensor(DType::kI32, {kDim}, &rng);
      });
  EXPECT_THAT(status.message(), AllOf(HasSubstr(ShardName(2, 2)), HasSubstr("'model.norm.weight'"),
                                      HasSubstr("I32")));
}

TEST(ImportErrorTest, TruncatedShard) {
  const absl::Status status =
      ImportBroken("truncated", [](const std::string& dir, Json*, TensorMap*, bool before) {
        if (before) return;
        const std::string shard = dir + "/" + ShardName(2, 2);
        fs::resize_file(shard, fs::file_size(shard) - 100);
      });
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), HasSubstr(ShardName(2, 2)));
}

TEST(ImportErrorTest, UnsupportedRopeScaling) {
  const absl::Status status =
      ImportBroken("rope", ConfigChange([](Json* c) {
                     (*c)["rope_scaling"] = {{"type", "yarn"}, {"factor", 4.0}};
                   }));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr("config.json"), HasSubstr("unsupported rope_scaling type \"yarn\""),
                    HasSubstr("'rope_scaling.type'")));
}

TEST(ImportErrorTest, WrongJsonType) {
  const absl::Status status =
      ImportBroken("type", ConfigChange([](Json* c) { (*c)["num_key_value_heads"] = "2"; }));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr("config.json: field 'num_key_value_heads' must be a positive "
                              "integer, got \"2\"")));
}

TEST(ImportErrorTest, MissingLmHeadWhenUntied) {
  for (int shards : {1, 2}) {
    const absl::Status status = ImportBroken(
        absl::StrCat("lmhead", shards),
        [](const std::string&, Json*, TensorMap* t, bool before) {
          if (before) t->erase("lm_head.weight");
        },
        shards);
    EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
    EXPECT_THAT(status.message(),
                AllOf(HasSubstr(shards == 1 ? "model.safetensors" : "index.json"),
                      HasSubstr("'lm_head.weight'"), HasSubstr("'tie_word_embeddings' false")));
  }
}

TEST(ImportErrorTest, TokenIdOutOfRange) {
  const absl::Status status =
      ImportBroken("bos", [](const std::string& dir, Json*, TensorMap*, bool before) {
        if (!before) {
          WriteText(dir + "/generation_config.json", Json{{"bos_token_id", kVocab}}.dump());
        }
      });
  EXPECT_THAT(status.message(), AllOf(HasSubstr("generation_config.json"),
                                      HasSubstr("'bos_token_id'"), HasSubstr("4096")));
}

TEST(ImportErrorTest, HeadDimMismatchAndBiases) {
  EXPECT_THAT(
      ImportBroken("headdim", ConfigChange([](Json* c) { (*c)["head_dim"] = 3; })).message(),
      AllOf(HasSubstr("config.json"), HasSubstr("'head_dim' is 3; RoPE needs it even")));
  // A head_dim other than hidden/heads is a shape: q_proj must have heads * head_dim rows.
  EXPECT_THAT(
      ImportBroken("headdim8", ConfigChange([](Json* c) { (*c)["head_dim"] = 8; })).message(),
      AllOf(HasSubstr("q_proj.weight"), HasSubstr("config.json implies [32, 16]")));
  EXPECT_THAT(ImportBroken("partial", ConfigChange([](Json* c) {
                             (*c)["architectures"] = {"Phi3ForCausalLM"};
                             (*c)["partial_rotary_factor"] = 0.75;
                           }))
                  .message(),
              AllOf(HasSubstr("config.json"), HasSubstr("'partial_rotary_factor' is 0.75")));
  EXPECT_THAT(
      ImportBroken("bias", ConfigChange([](Json* c) { (*c)["attention_bias"] = true; })).message(),
      AllOf(HasSubstr("config.json"), HasSubstr("'attention_bias'")));
  EXPECT_THAT(
      ImportBroken("act", ConfigChange([](Json* c) { (*c)["hidden_act"] = "gelu"; })).message(),
      AllOf(HasSubstr("config.json"), HasSubstr("'hidden_act'"), HasSubstr("gelu")));
}

// An infmem model directory with interleaved RoPE, as infmem-train writes them.
void WriteInfmemModel(const std::string& dir, MemoryMode memory, TensorMap* tensors) {
  ModelConfig config;
  config.name = "tiny";
  config.vocab_size = kVocab;
  config.dim = kDim;
  config.n_layers = kLayers;
  config.n_heads = kHeads;
  config.n_kv_heads = kKvHeads;
  config.ffn_dim = kFfn;
  config.segment_length = 32;
  config.memory = memory;
  config.rope_layout = RopeLayout::kInterleaved;
  config.bos_id = 1;
  config.eos_id = 2;
  WriteText(dir + "/config.json", ModelConfigToJson(config));
  fs::copy_file(TokenizerPath(), dir + "/tokenizer.model");
  const TensorMap hf = TinyHfTensors(DType::kF32);
  for (const auto& [hf_name, ours] : InfmemNames()) (*tensors)[ours] = hf.at(hf_name);
  WriteSafetensors(dir + "/model.safetensors", *tensors);
}

TEST(ExportTest, InterleavedWindowModelRoundTrips) {
  const std::string model_dir = FreshDir("export_model");
  const std::string hf_dir = FreshDir("export_hf");
  const std::string back_dir = FreshDir("export_back");
  TensorMap original;
  WriteInfmemModel(model_dir, MemoryMode::kWindow, &original);

  ExportOptions export_options;
  export_options.model_dir = model_dir;
  export_options.out_dir = hf_dir;
  absl::StatusOr<ConversionSummary> exported = ExportHfCheckpoint(export_options);
  ASSERT_TRUE(exported.ok()) << exported.status();

  Json hf_config = Json::parse(ReadOrDie(hf_dir + "/config.json"));
  EXPECT_EQ(hf_config["architectures"], Json({"LlamaForCausalLM"}));
  EXPECT_EQ(hf_config["num_key_value_heads"], kKvHeads);
  EXPECT_EQ(hf_config["torch_dtype"], "float32");
  EXPECT_EQ(hf_config["tie_word_embeddings"], false);
  EXPECT_TRUE(hf_config["rope_scaling"].is_null());
  EXPECT_EQ(hf_config["max_position_embeddings"], 4096);
  Json generation = Json::parse(ReadOrDie(hf_dir + "/generation_config.json"));
  EXPECT_EQ(generation["eos_token_id"], 2);
  EXPECT_TRUE(fs::exists(hf_dir + "/tokenizer.model"));

  // Head 1 of layer 0's wq: rotate-half row j is interleaved row 2j, row d/2+j is row 2j+1.
  absl::StatusOr<SafetensorsFile> hf = SafetensorsFile::Read(hf_dir + "/model.safetensors");
  ASSERT_TRUE(hf.ok()) << hf.status();
  const size_t row = kDim * sizeof(float);
  for (const char* which : {"q", "k"}) {
    absl::StatusOr<TensorView> q =
        hf->Get(absl::StrCat("model.layers.0.self_attn.", which, "_proj.weight"));
    ASSERT_TRUE(q.ok());
    const std::string& source =
        original.at(absl::StrCat("layers.0.attention.w", which, ".weight")).bytes;
    const std::string got = Bytes(*q);
    ASSERT_EQ(got.size(), source.size());
    const int h = 1;
    for (int j = 0; j < kHeadDim / 2; ++j) {
      EXPECT_EQ(got.substr((h * kHeadDim + j) * row, row),
                source.substr((h * kHeadDim + 2 * j) * row, row));
      EXPECT_EQ(got.substr((h * kHeadDim + kHeadDim / 2 + j) * row, row),
                source.substr((h * kHeadDim + 2 * j + 1) * row, row));
    }
    EXPECT_NE(got, source);
  }

  absl::StatusOr<ConversionSummary> back =
      ImportHfCheckpoint(Options(hf_dir, back_dir, MemoryMode::kWindow));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->config.rope_layout, RopeLayout::kHalf);
  EXPECT_EQ(back->config.bos_id, 1);
  EXPECT_EQ(back->config.eos_id, 2);
  absl::StatusOr<SafetensorsFile> file = SafetensorsFile::Read(back_dir + "/model.safetensors");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->Names().size(), original.size());
  for (const auto& [name, t] : original) {
    absl::StatusOr<TensorView> view = file->Get(name);
    ASSERT_TRUE(view.ok()) << name;
    const bool is_qk = name.find("attention.wq") != std::string::npos ||
                       name.find("attention.wk") != std::string::npos;
    if (is_qk) {
      // The round trip keeps the permuted rows (and rope_layout half), not the originals.
      const std::string hf_name =
          absl::StrCat("model.layers.", name.substr(7, 1), ".self_attn.",
                       name.find("wq") != std::string::npos ? "q" : "k", "_proj.weight");
      EXPECT_EQ(Bytes(*view), Bytes(*hf->Get(hf_name))) << name;
    } else {
      EXPECT_EQ(Bytes(*view), t.bytes) << name;
    }
  }
}

TEST(ExportTest, InfiniteModelIsRefused) {
  const std::string model_dir = FreshDir("export_infinite");
  TensorMap tensors;
  WriteInfmemModel(model_dir, MemoryMode::kInfinite, &tensors);
  ExportOptions options;
  options.model_dir = model_dir;
  options.out_dir = FreshDir("export_infinite_out");
  const absl::Status status = ExportHfCheckpoint(options).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), AllOf(HasSubstr("config.json"), HasSubstr("only the backbone")));
}

}  // namespace
}  // namespace infmem::formats
