#include "server/tokenizer/tokenizer.h"

#include <stdlib.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/tokenizer/sentencepiece_tokenizer.h"
#include "server/tokenizer/sentencepiece_trainer.h"
#include "server/tokenizer/symbol_tokenizer.h"

namespace infmem::tokenizer {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Concatenates TokenText over `ids`, failing the test on an error.
std::string StreamText(const Tokenizer& tokenizer, const std::vector<int32_t>& ids) {
  std::string text;
  for (int32_t id : ids) {
    absl::StatusOr<std::string> piece = tokenizer.TokenText(id);
    EXPECT_TRUE(piece.ok()) << piece.status();
    if (piece.ok()) {
      text += *piece;
    }
  }
  return text;
}

// ---------------------------------------------------------------------------------------------
// ValidateUtf8

TEST(Utf8Test, AcceptsWellFormedText) {
  const std::vector<std::string> valid = {
      "",
      "hello, world",
      std::string("nul\0inside", 10),
      "\x7F",              // U+007F, last one-byte
      "\xC2\x80",          // U+0080, first two-byte
      "h\xC3\xA9llo",      // é
      "\xDF\xBF",          // U+07FF
      "\xE0\xA0\x80",      // U+0800, first three-byte
      "\xE2\x82\xAC",      // €
      "\xED\x9F\xBF",      // U+D7FF, just below the surrogates
      "\xEE\x80\x80",      // U+E000, just above the surrogates
      "\xEF\xBF\xBF",      // U+FFFF
      "\xF0\x90\x80\x80",  // U+10000, first four-byte
      "\xF0\x9D\x84\x9E",  // 𝄞
      "\xF4\x8F\xBF\xBF",  // U+10FFFF, the last code point
      "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E and ascii",
  };
  for (const std::string& text : valid) {
    EXPECT_TRUE(ValidateUtf8(text).ok()) << absl::CEscape(text);
  }
}

TEST(Utf8Test, RejectsMalformedTextNamingTheByte) {
  struct Case {
    std::string text;
    int byte;
  };
  const std::vector<Case> cases = {
      {"\x80", 0},                            // lone continuation byte
      {"ab\xBF", 2},                          // lone continuation byte after ASCII
      {"\xC0\x80", 0},                        // overlong NUL
      {"\xC1\xBF", 0},                        // overlong U+007F
      {"\xE0\x80\x80", 0},                    // overlong three-byte
      {"\xE0\x9F\xBF", 0},                    // overlong U+07FF
      {"\xF0\x80\x80\x80", 0},                // overlong four-byte
      {"\xF0\x8F\xBF\xBF", 0},                // overlong U+FFFF
      {"\xED\xA0\x80", 0},                    // U+D800, high surrogate
      {"\xED\xBF\xBF", 0},                    // U+DFFF, low surrogate
      {"x\xED\xB0\x80y", 1},                  // surrogate mid-text
      {"\xF4\x90\x80\x80", 0},                // U+110000
      {"\xF5\x80\x80\x80", 0},                // lead byte above F4
      {"\xF8\x88\x80\x80\x80", 0},            // five-byte form
      {"\xFE", 0},                            // never valid
      {"\xFF", 0},                            // never valid
      {"a\xC3", 1},                           // truncated two-byte
      {"\xE2\x82", 0},                        // truncated three-byte
      {"\xF0\x9D\x84", 0},                    // truncated four-byte
      {"\xC3\x28", 0},                        // bad continuation
      {"\xE2\x28\xA1", 0},                    // bad second byte
      {"\xE2\x82\x28", 0},                    // bad third byte
      {"ok\xE2\x82\xAC\xF0\x28\x8C\xBC", 5},  // valid then bad
      {"\xC3\xA9\xC3\xA9\xE9", 4},            // truncated at the end after valid text
  };
  for (const Case& c : cases) {
    const absl::Status status = ValidateUtf8(c.text);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << absl::CEscape(c.text);
    EXPECT_EQ(status.message(), absl::StrCat("invalid UTF-8 at byte ", c.byte))
        << absl::CEscape(c.text);
  }
}

// ---------------------------------------------------------------------------------------------
// SymbolTokenizer

TEST(SymbolTokenizerTest, EncodesWhitespaceSeparatedIds) {
  SymbolTokenizer tokenizer(20);
  EXPECT_EQ(tokenizer.vocab_size(), 20);
  EXPECT_EQ(tokenizer.bos_id(), -1);
  EXPECT_EQ(tokenizer.eos_id(), -1);

  absl::StatusOr<std::vector<int32_t>> ids = tokenizer.Encode("  3 1  2\n0\t19\r\n007 ");
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_THAT(*ids, ElementsAre(3, 1, 2, 0, 19, 7));

  ASSERT_TRUE(tokenizer.Encode("").ok());
  EXPECT_THAT(*tokenizer.Encode(""), IsEmpty());
  EXPECT_THAT(*tokenizer.Encode(" \t\n "), IsEmpty());
}

TEST(SymbolTokenizerTest, RoundTrips) {
  SymbolTokenizer tokenizer(20);
  const std::vector<int32_t> ids = {5, 0, 19, 19, 7, 12};
  absl::StatusOr<std::string> text = tokenizer.Decode(ids);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, "5 0 19 19 7 12");
  absl::StatusOr<std::vector<int32_t>> again = tokenizer.Encode(*text);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, ids);

  EXPECT_EQ(*tokenizer.Decode({}), "");
  EXPECT_EQ(*tokenizer.Decode({4}), "4");
}

TEST(SymbolTokenizerTest, TokenTextHasALeadingSpace) {
  SymbolTokenizer tokenizer(20);
  EXPECT_EQ(*tokenizer.TokenText(0), " 0");
  EXPECT_EQ(*tokenizer.TokenText(17), " 17");
  const std::vector<int32_t> ids = {3, 14, 15, 9};
  EXPECT_EQ(StreamText(tokenizer, ids), " " + *tokenizer.Decode(ids));
}

TEST(SymbolTokenizerTest, UnknownSymbolNamesSymbolAndPosition) {
  SymbolTokenizer tokenizer(20);
  for (const auto& [text, expected] : std::vector<std::pair<std::string, std::string>>{
           {"1 2 3 abc", "unknown symbol 'abc' at position 3"},
           {"x", "unknown symbol 'x' at position 0"},
           {"1 1x", "unknown symbol '1x' at position 1"},
           {"+1", "unknown symbol '+1' at position 0"},
           {"-", "unknown symbol '-' at position 0"},
           {"4 1.5", "unknown symbol '1.5' at position 1"},
           {"2 \xC3\xA9", "unknown symbol '\xC3\xA9' at position 1"},
       }) {
    const absl::StatusOr<std::vector<int32_t>> ids = tokenizer.Encode(text);
    EXPECT_EQ(ids.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_EQ(ids.status().message(), expected) << text;
  }
}

TEST(SymbolTokenizerTest, OutOfRangeSymbolNamesSymbolPositionAndRange) {
  SymbolTokenizer tokenizer(20);
  for (const auto& [text, expected] : std::vector<std::pair<std::string, std::string>>{
           {"1 2 3 99", "symbol '99' at position 3 out of range [0, 20)"},
           {"20", "symbol '20' at position 0 out of range [0, 20)"},
           {"0 -1", "symbol '-1' at position 1 out of range [0, 20)"},
           {"99999999999999999999999",
            "symbol '99999999999999999999999' at position 0 out of range [0, 20)"},
       }) {
    const absl::StatusOr<std::vector<int32_t>> ids = tokenizer.Encode(text);
    EXPECT_EQ(ids.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_EQ(ids.status().message(), expected) << text;
  }
}

TEST(SymbolTokenizerTest, LongSymbolIsShortenedInTheMessage) {
  SymbolTokenizer tokenizer(20);
  const absl::StatusOr<std::vector<int32_t>> ids = tokenizer.Encode(std::string(1000, 'z'));
  ASSERT_EQ(ids.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_LT(ids.status().message().size(), 100u);
  EXPECT_THAT(ids.status().message(), HasSubstr("...' at position 0"));
}

TEST(SymbolTokenizerTest, RejectsInvalidUtf8) {
  SymbolTokenizer tokenizer(20);
  const absl::StatusOr<std::vector<int32_t>> ids = tokenizer.Encode("1 \xFF 2");
  EXPECT_EQ(ids.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ids.status().message(), "invalid UTF-8 at byte 2");
}

TEST(SymbolTokenizerTest, RejectsOutOfRangeIds) {
  SymbolTokenizer tokenizer(20);
  EXPECT_EQ(tokenizer.Decode({1, 20}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(tokenizer.Decode({-1}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(tokenizer.Decode({1, 20}).status().message(), HasSubstr("20"));
  EXPECT_EQ(tokenizer.TokenText(20).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(tokenizer.TokenText(-3).status().code(), absl::StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------------------------------------------
// SentencePieceTokenizer, on models trained here from a generated corpus.

// A fresh directory under INFMEM_TEST_TMPDIR (set by CTest) or else ::testing::TempDir().
std::string MakeTempDir() {
  const char* root_env = std::getenv("INFMEM_TEST_TMPDIR");
  std::string root = root_env != nullptr && *root_env != '\0' ? root_env : ::testing::TempDir();
  std::filesystem::create_directories(root);
  std::string pattern = (std::filesystem::path(root) / "infmem_tokenizer_test_XXXXXX").string();
  char* made = mkdtemp(pattern.data());
  return made != nullptr ? std::string(made) : "";
}

// English-ish sentences from a fixed word list and a fixed linear congruential generator.
std::string MakeCorpus(int lines) {
  static const char* const kWords[] = {
      "the",    "a",     "model",  "reads",  "long",   "memory", "and",   "writes", "text",
      "of",     "in",    "to",     "server", "token",  "stream", "with",  "from",   "every",
      "slowly", "quick", "brown",  "fox",    "jumps",  "over",   "lazy",  "dog",    "river",
      "stone",  "light", "window", "garden", "letter", "number", "point", "voice",  "zebra",
  };
  constexpr int kNumWords = sizeof(kWords) / sizeof(kWords[0]);
  uint32_t state = 12345;
  const auto next = [&state](int n) {
    state = state * 1664525u + 1013904223u;
    return static_cast<int>((state >> 8) % n);
  };
  std::string corpus;
  for (int line = 0; line < lines; ++line) {
    const int length = 4 + next(8);
    for (int w = 0; w < length; ++w) {
      if (w > 0) {
        corpus += ' ';
      }
      corpus += kWords[next(kNumWords)];
    }
    corpus += next(4) == 0 ? "?\n" : ".\n";
  }
  return corpus;
}

class SentencePieceTokenizerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(MakeTempDir());
    ASSERT_FALSE(dir_->empty()) << "mkdtemp failed";
    const std::string corpus = *dir_ + "/corpus.txt";
    {
      std::ofstream out(corpus);
      out << MakeCorpus(2000);
      ASSERT_TRUE(out.good());
    }
    const std::string common =
        absl::StrCat("--input=", corpus,
                     " --model_type=bpe --character_coverage=1.0 --num_threads=1 --minloglevel=2");
    std::string error = TrainSentencePiece(
        absl::StrCat(common, " --model_prefix=", *dir_, "/small", " --vocab_size=64"));
    ASSERT_EQ(error, "");
    error = TrainSentencePiece(absl::StrCat(common, " --model_prefix=", *dir_,
                                            "/bytes --vocab_size=320 --byte_fallback=true"));
    ASSERT_EQ(error, "");
  }

  static void TearDownTestSuite() {
    if (dir_ != nullptr && !dir_->empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(*dir_, ignored);
    }
    delete dir_;
    dir_ = nullptr;
  }

  static std::unique_ptr<SentencePieceTokenizer> LoadOrFail(const std::string& name) {
    absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> tokenizer =
        SentencePieceTokenizer::Load(*dir_ + "/" + name);
    EXPECT_TRUE(tokenizer.ok()) << tokenizer.status();
    return tokenizer.ok() ? *std::move(tokenizer) : nullptr;
  }

  static std::string* dir_;
};

std::string* SentencePieceTokenizerTest::dir_ = nullptr;

TEST_F(SentencePieceTokenizerTest, LoadsTrainedModel) {
  std::unique_ptr<SentencePieceTokenizer> tokenizer = LoadOrFail("small.model");
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(tokenizer->vocab_size(), 64);
  // SentencePiece's defaults: <unk> 0, <s> 1, </s> 2.
  EXPECT_EQ(tokenizer->bos_id(), 1);
  EXPECT_EQ(tokenizer->eos_id(), 2);
}

TEST_F(SentencePieceTokenizerTest, RoundTripsText) {
  std::unique_ptr<SentencePieceTokenizer> tokenizer = LoadOrFail("small.model");
  ASSERT_NE(tokenizer, nullptr);
  for (const std::string text : {"the quick brown fox jumps over the lazy dog.",
                                 "a river of light?", "zebra", "letters and numbers"}) {
    absl::StatusOr<std::vector<int32_t>> ids = tokenizer->Encode(text);
    ASSERT_TRUE(ids.ok()) << ids.status();
    EXPECT_THAT(*ids, ::testing::Not(IsEmpty()));
    for (int32_t id : *ids) {
      EXPECT_GE(id, 0);
      EXPECT_LT(id, tokenizer->vocab_size());
    }
    absl::StatusOr<std::string> decoded = tokenizer->Decode(*ids);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(*decoded, text);
    // Streaming: the first piece carries the dummy-prefix space that Decode drops.
    EXPECT_EQ(StreamText(*tokenizer, *ids), " " + text);
  }
  EXPECT_THAT(*tokenizer->Encode(""), IsEmpty());
  EXPECT_EQ(*tokenizer->Decode({}), "");
}

TEST_F(SentencePieceTokenizerTest, TokenTextOfSpecialPiecesIsEmpty) {
  std::unique_ptr<SentencePieceTokenizer> tokenizer = LoadOrFail("small.model");
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(*tokenizer->TokenText(0), "");  // <unk>
  EXPECT_EQ(*tokenizer->TokenText(tokenizer->bos_id()), "");
  EXPECT_EQ(*tokenizer->TokenText(tokenizer->eos_id()), "");
  // No piece's text keeps the U+2581 meta symbol.
  for (int id = 0; id < tokenizer->vocab_size(); ++id) {
    EXPECT_THAT(*tokenizer->TokenText(id), ::testing::Not(HasSubstr("\xE2\x96\x81"))) << id;
  }
}

TEST_F(SentencePieceTokenizerTest, RejectsInvalidUtf8) {
  std::unique_ptr<SentencePieceTokenizer> tokenizer = LoadOrFail("small.model");
  ASSERT_NE(tokenizer, nullptr);
  const absl::StatusOr<std::vector<int32_t>> ids = tokenizer->Encode("the dog\xED\xA0\x80");
  EXPECT_EQ(ids.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ids.status().message(), "invalid UTF-8 at byte 7");
}

TEST_F(SentencePieceTokenizerTest, RejectsOutOfRangeIds) {
  std::unique_ptr<SentencePieceTokenizer> tokenizer = LoadOrFail("small.model");
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(tokenizer->Decode({3, 64}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(tokenizer->Decode({3, 64}).status().message(), HasSubstr("64"));
  EXPECT_EQ(tokenizer->Decode({-1}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(tokenizer->TokenText(64).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(tokenizer->TokenText(-1).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SentencePieceTokenizerTest, ByteFallbackPiecesStreamAsRawBytes) {
  std::unique_ptr<SentencePieceTokenizer> tokenizer = LoadOrFail("bytes.model");
  ASSERT_NE(tokenizer, nullptr);
  // "日本" and "ï" are not in the corpus, so they are spelled with byte pieces.
  const std::string text = "the na\xC3\xAFve \xE6\x97\xA5\xE6\x9C\xAC dog";
  absl::StatusOr<std::vector<int32_t>> ids = tokenizer->Encode(text);
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(*tokenizer->Decode(*ids), text);
  EXPECT_EQ(StreamText(*tokenizer, *ids), " " + text);
  bool saw_lead_byte = false;
  for (int32_t id : *ids) {
    saw_lead_byte = saw_lead_byte || *tokenizer->TokenText(id) == "\xE6";
  }
  EXPECT_TRUE(saw_lead_byte);
}

TEST_F(SentencePieceTokenizerTest, MissingFileIsNotFound) {
  const absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> tokenizer =
      SentencePieceTokenizer::Load(*dir_ + "/no_such.model");
  EXPECT_EQ(tokenizer.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(tokenizer.status().message(), HasSubstr("no_such.model"));
}

TEST_F(SentencePieceTokenizerTest, GarbageFileIsInvalidArgument) {
  const std::string garbage = *dir_ + "/garbage.model";
  {
    std::ofstream out(garbage, std::ios::binary);
    out << "this is not a sentencepiece model\n\xFF\xFE\x01\x02";
  }
  absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> tokenizer =
      SentencePieceTokenizer::Load(garbage);
  EXPECT_EQ(tokenizer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(tokenizer.status().message(), HasSubstr("garbage.model"));
  EXPECT_THAT(tokenizer.status().message(), HasSubstr("not a valid SentencePiece model"));

  const std::string empty = *dir_ + "/empty.model";
  { std::ofstream out(empty, std::ios::binary); }
  tokenizer = SentencePieceTokenizer::Load(empty);
  EXPECT_EQ(tokenizer.status().code(), absl::StatusCode::kInvalidArgument);

  tokenizer = SentencePieceTokenizer::Load(*dir_);  // a directory
  EXPECT_EQ(tokenizer.status().code(), absl::StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------------------------------------------
// MakeTokenizer

TEST_F(SentencePieceTokenizerTest, MakeTokenizerBuildsBothKinds) {
  absl::StatusOr<std::unique_ptr<Tokenizer>> sp =
      MakeTokenizer("sentencepiece", *dir_, "small.model", 0);
  ASSERT_TRUE(sp.ok()) << sp.status();
  EXPECT_EQ((*sp)->vocab_size(), 64);
  EXPECT_EQ(*(*sp)->Decode(*(*sp)->Encode("the lazy dog")), "the lazy dog");

  EXPECT_EQ(MakeTokenizer("sentencepiece", *dir_, "no_such.model", 0).status().code(),
            absl::StatusCode::kNotFound);
  {
    std::ofstream out(*dir_ + "/not_a_model.model", std::ios::binary);
    out << "garbage";
  }
  EXPECT_EQ(MakeTokenizer("sentencepiece", *dir_, "not_a_model.model", 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MakeTokenizer("sentencepiece", *dir_, "", 0).status().code(),
            absl::StatusCode::kInvalidArgument);

  absl::StatusOr<std::unique_ptr<Tokenizer>> symbol = MakeTokenizer("symbol", "", "", 12);
  ASSERT_TRUE(symbol.ok()) << symbol.status();
  EXPECT_EQ((*symbol)->vocab_size(), 12);
  EXPECT_THAT(*(*symbol)->Encode("11 0"), ElementsAre(11, 0));
}

TEST(MakeTokenizerTest, RejectsBadArguments) {
  const absl::StatusOr<std::unique_ptr<Tokenizer>> unknown = MakeTokenizer("bpe", "/x", "m", 10);
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(unknown.status().message(), HasSubstr("unknown tokenizer kind 'bpe'"));
  EXPECT_EQ(MakeTokenizer("symbol", "", "", 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MakeTokenizer("symbol", "", "", -5).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace infmem::tokenizer
