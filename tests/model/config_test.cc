#include "server/model/config.h"

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace infmem::model {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using Json = nlohmann::json;
using std::string_literals::operator""s;

constexpr char kValidConfig[] = R"json({
  "architecture": "infformer-llama",
  "name": "tiny-test",
  "vocab_size": 320,
  "dim": 64,
  "n_layers": 2,
  "n_heads": 4,
  "ffn_dim": 172,
  "segment_length": 32,
  "norm_eps": 1e-6,
  "rope_theta": 500000.0,
  "tie_embeddings": true,
  "memory": "window",
  "bos_id": 1,
  "eos_id": 2,
  "ltm": {"num_basis": 64, "num_samples": 48, "tau": 0.75, "ridge_lambda": 0.25,
          "widths": [0.01, 0.05], "sticky": false, "sticky_bins": 16, "sigma0": 0.1,
          "kl_weight": 0.0},
  "tokenizer": {"kind": "symbol", "file": ""}
})json";

Json ValidJson() { return Json::parse(kValidConfig); }

// Field-by-field equality, with doubles compared exactly.
void ExpectSameConfig(const ModelConfig& a, const ModelConfig& b) {
  EXPECT_EQ(a.architecture, b.architecture);
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  EXPECT_EQ(a.dim, b.dim);
  EXPECT_EQ(a.n_layers, b.n_layers);
  EXPECT_EQ(a.n_heads, b.n_heads);
  EXPECT_EQ(a.ffn_dim, b.ffn_dim);
  EXPECT_EQ(a.segment_length, b.segment_length);
  EXPECT_EQ(a.norm_eps, b.norm_eps);
  EXPECT_EQ(a.rope_theta, b.rope_theta);
  EXPECT_EQ(a.tie_embeddings, b.tie_embeddings);
  EXPECT_EQ(a.explicit_head_dim, b.explicit_head_dim);
  EXPECT_EQ(a.attention_bias, b.attention_bias);
  EXPECT_EQ(a.qk_norm, b.qk_norm);
  EXPECT_EQ(a.memory, b.memory);
  EXPECT_EQ(a.bos_id, b.bos_id);
  EXPECT_EQ(a.eos_id, b.eos_id);
  EXPECT_EQ(a.ltm.num_basis, b.ltm.num_basis);
  EXPECT_EQ(a.ltm.num_samples, b.ltm.num_samples);
  EXPECT_EQ(a.ltm.tau, b.ltm.tau);
  EXPECT_EQ(a.ltm.ridge_lambda, b.ltm.ridge_lambda);
  EXPECT_EQ(a.ltm.widths, b.ltm.widths);
  EXPECT_EQ(a.ltm.sticky, b.ltm.sticky);
  EXPECT_EQ(a.ltm.sticky_bins, b.ltm.sticky_bins);
  EXPECT_EQ(a.ltm.sigma0, b.ltm.sigma0);
  EXPECT_EQ(a.ltm.kl_weight, b.ltm.kl_weight);
  EXPECT_EQ(a.tokenizer.kind, b.tokenizer.kind);
  EXPECT_EQ(a.tokenizer.file, b.tokenizer.file);
}

// Expects `text` to be rejected with InvalidArgument and a message containing every one of
// `substrings` (after the "config.json: " prefix).
void ExpectInvalid(const std::string& text, const std::vector<std::string>& substrings) {
  absl::StatusOr<ModelConfig> config = ParseModelConfig(text);
  ASSERT_FALSE(config.ok()) << text;
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument) << config.status();
  EXPECT_THAT(std::string(config.status().message()), StartsWith("config.json: "));
  for (const std::string& s : substrings) {
    EXPECT_THAT(std::string(config.status().message()), HasSubstr(s)) << text;
  }
}

// One field of a valid config set to a bad value, and the message substring expected.
struct FieldCase {
  std::vector<std::string> path;  // one or two keys
  Json value;
  std::string message;
};

// Sets each case's field in a valid config and expects the parse to fail naming it.
void ExpectEachRejected(const std::vector<FieldCase>& cases) {
  for (const FieldCase& c : cases) {
    SCOPED_TRACE(c.message);
    Json j = ValidJson();
    if (c.path.size() == 1) {
      j[c.path[0]] = c.value;
    } else {
      j[c.path[0]][c.path[1]] = c.value;
    }
    ExpectInvalid(j.dump(), {c.message});
  }
}

TEST(MemoryModeNameTest, Names) {
  EXPECT_EQ(MemoryModeName(MemoryMode::kInfinite), "infinite");
  EXPECT_EQ(MemoryModeName(MemoryMode::kWindow), "window");
  EXPECT_EQ(MemoryModeName(MemoryMode::kFull), "full");
}

TEST(ParseModelConfigTest, ParsesEveryField) {
  absl::StatusOr<ModelConfig> config = ParseModelConfig(kValidConfig);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->architecture, "infformer-llama");
  EXPECT_EQ(config->name, "tiny-test");
  EXPECT_EQ(config->vocab_size, 320);
  EXPECT_EQ(config->dim, 64);
  EXPECT_EQ(config->n_layers, 2);
  EXPECT_EQ(config->n_heads, 4);
  EXPECT_EQ(config->head_dim(), 16);
  EXPECT_EQ(config->ffn_dim, 172);
  EXPECT_EQ(config->segment_length, 32);
  EXPECT_EQ(config->norm_eps, 1e-6);
  EXPECT_EQ(config->rope_theta, 500000.0);
  EXPECT_TRUE(config->tie_embeddings);
  EXPECT_EQ(config->memory, MemoryMode::kWindow);
  EXPECT_EQ(config->bos_id, 1);
  EXPECT_EQ(config->eos_id, 2);
  EXPECT_EQ(config->ltm.num_basis, 64);
  EXPECT_EQ(config->ltm.num_samples, 48);
  EXPECT_EQ(config->ltm.tau, 0.75);
  EXPECT_EQ(config->ltm.ridge_lambda, 0.25);
  EXPECT_THAT(config->ltm.widths, ElementsAre(0.01, 0.05));
  EXPECT_FALSE(config->ltm.sticky);
  EXPECT_EQ(config->ltm.sticky_bins, 16);
  EXPECT_EQ(config->ltm.sigma0, 0.1);
  EXPECT_EQ(config->ltm.kl_weight, 0.0);
  EXPECT_EQ(config->tokenizer.kind, "symbol");
  EXPECT_EQ(config->tokenizer.file, "");
}

TEST(ParseModelConfigTest, OptionalFieldsTakeStructDefaults) {
  absl::StatusOr<ModelConfig> config = ParseModelConfig(R"({
    "architecture": "infformer-llama", "vocab_size": 100, "dim": 32, "n_layers": 1,
    "n_heads": 2, "ffn_dim": 64, "segment_length": 8})");
  ASSERT_TRUE(config.ok()) << config.status();
  ModelConfig expected;
  expected.vocab_size = 100;
  expected.dim = 32;
  expected.n_layers = 1;
  expected.n_heads = 2;
  expected.ffn_dim = 64;
  expected.segment_length = 8;
  ExpectSameConfig(*config, expected);
}

TEST(ParseModelConfigTest, AcceptsEachMemoryModeAndIntegerValuedDoubles) {
  for (const char* mode : {"infinite", "window", "full"}) {
    Json j = ValidJson();
    j["memory"] = mode;
    j["rope_theta"] = 10000;  // a JSON integer is a valid number
    absl::StatusOr<ModelConfig> config = ParseModelConfig(j.dump());
    ASSERT_TRUE(config.ok()) << config.status();
    EXPECT_EQ(MemoryModeName(config->memory), mode);
    EXPECT_EQ(config->rope_theta, 10000.0);
  }
}

TEST(ModelConfigToJsonTest, RoundTripsExactly) {
  absl::StatusOr<ModelConfig> config = ParseModelConfig(kValidConfig);
  ASSERT_TRUE(config.ok()) << config.status();
  // Doubles that have no short decimal form must survive too.
  config->norm_eps = 1.0 / 3.0 * 1e-5;
  config->ltm.tau = 0.1 + 0.2;
  config->ltm.widths = {1.0 / 7.0, 2.0 / 3.0};
  config->ltm.kl_weight = 5e-324;  // the smallest denormal
  config->name = "name with \"quotes\", \\ and \xC3\xA9";
  // Qwen-style attention: its own head width, biases, per-head norms.
  config->explicit_head_dim = 24;
  config->attention_bias = true;
  config->qk_norm = true;
  // Qwen-style attention: its own head width, biases, per-head norms.
  config->explicit_head_dim = 24;
  config->attention_bias = true;
  config->qk_norm = true;

  const std::string text = ModelConfigToJson(*config);
  absl::StatusOr<ModelConfig> again = ParseModelConfig(text);
  ASSERT_TRUE(again.ok()) << again.status() << "\n" << text;
  ExpectSameConfig(*again, *config);
  EXPECT_EQ(ModelConfigToJson(*again), text);
}

TEST(ModelConfigToJsonTest, IsPrettyWithTwoSpaceIndent) {
  absl::StatusOr<ModelConfig> config = ParseModelConfig(kValidConfig);
  ASSERT_TRUE(config.ok()) << config.status();
  const std::string text = ModelConfigToJson(*config);
  EXPECT_THAT(text, StartsWith("{\n  \"architecture\": \"infformer-llama\",\n"));
  EXPECT_THAT(text, HasSubstr("\n  \"ltm\": {\n    \"num_basis\": 64,"));
}

TEST(ModelConfigToJsonTest, DefaultsRoundTrip) {
  ModelConfig config;
  config.vocab_size = 7;
  config.dim = 8;
  config.n_layers = 1;
  config.n_heads = 1;
  config.ffn_dim = 8;
  config.segment_length = 4;
  absl::StatusOr<ModelConfig> again = ParseModelConfig(ModelConfigToJson(config));
  ASSERT_TRUE(again.ok()) << again.status();
  ExpectSameConfig(*again, config);
}

TEST(ParseModelConfigTest, RejectsBadJson) {
  ExpectInvalid("", {"invalid JSON"});
  ExpectInvalid("{", {"invalid JSON"});
  ExpectInvalid(R"({"architecture": "infformer-llama",})", {"invalid JSON"});
  ExpectInvalid("{\"name\": \"\xff\"}", {"invalid JSON"});
  ExpectInvalid(R"({"a": 1} trailing)", {"invalid JSON"});
  ExpectInvalid(std::string(100000, '['), {"invalid JSON"});
  ExpectInvalid(std::string(kValidConfig) + "\0junk"s, {"NUL byte"});
}

TEST(ParseModelConfigTest, RejectsNonObjectTopLevel) {
  ExpectInvalid("[]", {"top level must be a JSON object", "array"});
  ExpectInvalid("42", {"top level must be a JSON object"});
  ExpectInvalid("null", {"top level must be a JSON object"});
}

TEST(ParseModelConfigTest, RejectsUnknownArchitecture) {
  Json j = ValidJson();
  j["architecture"] = "llama";
  ExpectInvalid(j.dump(), {"unknown architecture 'llama'"});
}

TEST(ParseModelConfigTest, RejectsMissingRequiredField) {
  for (const char* field :
       {"architecture", "vocab_size", "dim", "n_layers", "n_heads", "ffn_dim", "segment_length"}) {
    SCOPED_TRACE(field);
    Json j = ValidJson();
    j.erase(field);
    ExpectInvalid(j.dump(), {absl::StrCat("missing field '", field, "'")});
  }
}

TEST(ParseModelConfigTest, RejectsWrongTypes) {
  const std::vector<FieldCase> cases = {
      {{"architecture"}, 1, "field 'architecture' must be a string, got 1"},
      {{"name"}, Json::array(), "field 'name' must be a string, got an array"},
      {{"dim"}, "64", "field 'dim' must be an integer, got \"64\""},
      {{"dim"}, 64.0, "field 'dim' must be an integer, got 64.0"},
      {{"dim"}, 64.5, "field 'dim' must be an integer"},
      {{"vocab_size"}, true, "field 'vocab_size' must be an integer, got true"},
      {{"n_layers"}, nullptr, "field 'n_layers' must be an integer, got null"},
      {{"n_heads"}, Json::object(), "field 'n_heads' must be an integer, got an object"},
      {{"ffn_dim"}, 4294967296LL, "field 'ffn_dim' must be an integer that fits in 32 bits"},
      {{"segment_length"}, -4294967296LL, "field 'segment_length' must be an integer that fits"},
      {{"norm_eps"}, "1e-5", "field 'norm_eps' must be a number"},
      {{"rope_theta"}, false, "field 'rope_theta' must be a number"},
      {{"tie_embeddings"}, 1, "field 'tie_embeddings' must be a boolean, got 1"},
      {{"memory"}, 0, "field 'memory' must be a string"},
      {{"bos_id"}, 1.5, "field 'bos_id' must be an integer"},
      {{"eos_id"}, "2", "field 'eos_id' must be an integer"},
      {{"ltm"}, 3, "field 'ltm' must be an object, got 3"},
      {{"tokenizer"}, "symbol", "field 'tokenizer' must be an object"},
      {{"ltm", "num_basis"}, 64.0, "field 'ltm.num_basis' must be an integer"},
      {{"ltm", "num_samples"}, "48", "field 'ltm.num_samples' must be an integer"},
      {{"ltm", "tau"}, "0.5", "field 'ltm.tau' must be a number"},
      {{"ltm", "ridge_lambda"}, nullptr, "field 'ltm.ridge_lambda' must be a number"},
      {{"ltm", "widths"}, 0.01, "field 'ltm.widths' must be an array of exactly 2"},
      {{"ltm", "widths"}, Json::array({0.01, "x"}), "field 'ltm.widths' must be an array"},
      {{"ltm", "sticky"}, "yes", "field 'ltm.sticky' must be a boolean"},
      {{"ltm", "sticky_bins"}, 1.5, "field 'ltm.sticky_bins' must be an integer"},
      {{"ltm", "sigma0"}, Json::array(), "field 'ltm.sigma0' must be a number"},
      {{"ltm", "kl_weight"}, true, "field 'ltm.kl_weight' must be a number"},
      {{"tokenizer", "kind"}, 1, "field 'tokenizer.kind' must be a string"},
      {{"head_dim"}, "24", "field 'head_dim' must be an integer"},
      {{"attention_bias"}, 1, "field 'attention_bias' must be a boolean"},
      {{"qk_norm"}, "yes", "field 'qk_norm' must be a boolean"},
      {{"tokenizer", "file"}, Json::array(), "field 'tokenizer.file' must be a string"},
  };
  ExpectEachRejected(cases);
}

TEST(ParseModelConfigTest, RejectsNonFiniteNumbers) {
  // JSON has no NaN or infinity, and nlohmann rejects literals that overflow a double.
  std::string text = ValidJson().dump();
  const std::string needle = "\"rope_theta\":500000.0";
  const size_t pos = text.find(needle);
  ASSERT_NE(pos, std::string::npos) << text;
  text.replace(pos, needle.size(), "\"rope_theta\":1e999");
  ExpectInvalid(text, {"1e999"});
}

TEST(ParseModelConfigTest, RejectsBadValues) {
  const std::vector<FieldCase> cases = {
      {{"vocab_size"}, 0, "field 'vocab_size' must be a positive integer, got 0"},
      {{"dim"}, -3, "field 'dim' must be a positive integer, got -3"},
      {{"n_layers"}, 0, "field 'n_layers' must be a positive integer"},
      {{"n_heads"}, -1, "field 'n_heads' must be a positive integer"},
      {{"ffn_dim"}, 0, "field 'ffn_dim' must be a positive integer"},
      {{"segment_length"}, 0, "field 'segment_length' must be a positive integer"},
      {{"n_heads"}, 5, "field 'dim' (64) must be divisible by field 'n_heads' (5)"},
      {{"n_heads"}, 64, "head dimension 1 (field 'head_dim', or 'dim' / 'n_heads') must be even"},
      {{"head_dim"}, 7, "head dimension 7 (field 'head_dim', or 'dim' / 'n_heads') must be even"},
      {{"head_dim"}, -2, "field 'head_dim' must be 0 (dim / n_heads) or positive, got -2"},
      {{"norm_eps"}, 0.0, "field 'norm_eps' must be > 0"},
      {{"rope_theta"}, -1.0, "field 'rope_theta' must be > 0"},
      {{"memory"}, "infinte", "field 'memory' must be one of \"infinite\", \"window\", \"full\""},
      {{"bos_id"}, -2, "field 'bos_id' must be -1 (none) or in [0, vocab_size=320), got -2"},
      {{"eos_id"}, 320, "field 'eos_id' must be -1 (none) or in [0, vocab_size=320), got 320"},
      {{"ltm", "num_basis"}, 63, "field 'ltm.num_basis' must be an even integer >= 2, got 63"},
      {{"ltm", "num_basis"}, 0, "field 'ltm.num_basis' must be an even integer >= 2, got 0"},
      {{"ltm", "num_samples"}, 0, "field 'ltm.num_samples' must be a positive integer"},
      {{"ltm", "tau"}, 0.0, "field 'ltm.tau' must be in (0, 1), got 0"},
      {{"ltm", "tau"}, 1.0, "field 'ltm.tau' must be in (0, 1), got 1"},
      {{"ltm", "ridge_lambda"}, 0.0, "field 'ltm.ridge_lambda' must be > 0"},
      {{"ltm", "widths"}, Json::array({0.01}), "field 'ltm.widths' must be an array of exactly 2"},
      {{"ltm", "widths"}, Json::array({0.01, 0.02, 0.03}), "field 'ltm.widths' must be"},
      {{"ltm", "widths"}, Json::array({0.01, 0.0}), "field 'ltm.widths' must be"},
      {{"ltm", "widths"}, Json::array({-0.01, 0.1}), "field 'ltm.widths' must be"},
      {{"ltm", "sticky_bins"}, 0, "field 'ltm.sticky_bins' must be a positive integer"},
      {{"ltm", "sigma0"}, 0.0, "field 'ltm.sigma0' must be > 0"},
      {{"ltm", "kl_weight"}, -1e-9, "field 'ltm.kl_weight' must be >= 0"},
      {{"tokenizer", "kind"}, "bpe", "field 'tokenizer.kind' must be one of"},
  };
  ExpectEachRejected(cases);
}

TEST(ParseModelConfigTest, AcceptsBoundaryValues) {
  Json j = ValidJson();
  j["bos_id"] = -1;
  j["eos_id"] = 319;
  j["ltm"]["num_basis"] = 2;
  j["ltm"]["num_samples"] = 1;
  j["ltm"]["sticky_bins"] = 1;
  j["ltm"]["kl_weight"] = 0;
  absl::StatusOr<ModelConfig> config = ParseModelConfig(j.dump());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->bos_id, -1);
  EXPECT_EQ(config->eos_id, 319);
}

TEST(ParseModelConfigTest, RejectsUnknownKeys) {
  {
    Json j = ValidJson();
    j["n_head"] = 4;
    ExpectInvalid(j.dump(), {"unknown field 'n_head'"});
  }
  {
    Json j = ValidJson();
    j["ltm"]["sigma"] = 0.1;
    ExpectInvalid(j.dump(), {"unknown field 'ltm.sigma'"});
  }
  {
    Json j = ValidJson();
    j["tokenizer"]["path"] = "x.model";
    ExpectInvalid(j.dump(), {"unknown field 'tokenizer.path'"});
  }
}

TEST(ParseModelConfigTest, RejectsDuplicateKeys) {
  std::string text = kValidConfig;
  text.insert(text.find("\"dim\""), "\"dim\": 32, ");
  ExpectInvalid(text, {"duplicate field \"dim\""});
}

TEST(ReadModelConfigTest, ReadsFile) {
  const std::string path = ::testing::TempDir() + "/config_test_read.json";
  {
    std::ofstream out(path, std::ios::binary);
    out << kValidConfig;
  }
  absl::StatusOr<ModelConfig> config = ReadModelConfig(path);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->name, "tiny-test");
  std::remove(path.c_str());
}

TEST(ReadModelConfigTest, MissingFileIsNotFound) {
  const std::string path = ::testing::TempDir() + "/config_test_does_not_exist.json";
  absl::StatusOr<ModelConfig> config = ReadModelConfig(path);
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(config.status().message()), HasSubstr(path));
}

TEST(ReadModelConfigTest, DirectoryIsAnErrorNamingThePath) {
  const std::string path = ::testing::TempDir();
  absl::StatusOr<ModelConfig> config = ReadModelConfig(path);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInternal) << config.status();
  EXPECT_THAT(std::string(config.status().message()), HasSubstr(path));
}

TEST(ReadModelConfigTest, ParseErrorsKeepTheirCode) {
  const std::string path = ::testing::TempDir() + "/config_test_bad.json";
  {
    std::ofstream out(path, std::ios::binary);
    out << "{\"architecture\": \"infformer-llama\"}";
  }
  absl::StatusOr<ModelConfig> config = ReadModelConfig(path);
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(config.status().message()),
              AllOf(StartsWith("config.json: "), HasSubstr("missing field")));
  std::remove(path.c_str());
}

}  // namespace
}  // namespace infmem::model
