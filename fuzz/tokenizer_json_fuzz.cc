// Fuzzes the tokenizer.json reader and the pipeline it builds. The first byte picks a mode:
// even, the rest is a tokenizer.json (parsed; when it loads, a fixed text is encoded and
// decoded); odd, the rest is text for a small byte-level tokenizer with a regex pre-tokenizer,
// NFC, and added tokens with every flag (encoded with and without special tokens, decoded, and
// streamed token by token). Errors are fine; crashes, leaks and sanitizer reports are not.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "server/tokenizer/hf_tokenizer.h"

namespace {

std::string ByteLevelTokenizerJson() {
  std::string vocab;
  // GPT-2's byte alphabet: printable bytes map to themselves; the others to U+0100 onwards.
  int next = 0;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    const int cp = printable ? b : 256 + next++;
    std::string utf8;
    if (cp < 0x80) {
      if (cp == '"' || cp == '\\') utf8 = "\\";
      utf8 += static_cast<char>(cp);
    } else {
      utf8 += static_cast<char>(0xC0 | (cp >> 6));
      utf8 += static_cast<char>(0x80 | (cp & 0x3F));
    }
    vocab += "\"" + utf8 + "\": " + std::to_string(b) + ", ";
  }
  vocab += "\"\xC4\xA0t\": 256, \"he\": 257, \"\xC4\xA0the\": 258, \"\xC4\xA0th\": 259";
  return R"({"normalizer": {"type": "NFC"},
    "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
      {"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
       "behavior": "Isolated", "invert": false},
      {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]},
    "decoder": {"type": "ByteLevel"},
    "added_tokens": [
      {"id": 300, "content": "<|end|>", "special": true, "lstrip": false, "rstrip": false, "normalized": false, "single_word": false},
      {"id": 301, "content": "<x>", "special": false, "lstrip": true, "rstrip": true, "normalized": true, "single_word": false},
      {"id": 302, "content": "word", "special": false, "lstrip": false, "rstrip": false, "normalized": false, "single_word": true}],
    "model": {"type": "BPE", "ignore_merges": true, "vocab": {)" +
         vocab + R"(}, "merges": ["\u0120 t", "h e", "\u0120t h", "\u0120th e"]}})";
}

const infmem::tokenizer::HfTokenizer& Fixed() {
  static const auto* tokenizer =
      infmem::tokenizer::HfTokenizer::Parse(ByteLevelTokenizerJson(), "fixed").value().release();
  return *tokenizer;
}

void Exercise(const infmem::tokenizer::HfTokenizer& tokenizer, const std::string& text) {
  for (const bool specials : {false, true}) {
    auto ids = specials ? tokenizer.EncodeWithSpecialTokens(text) : tokenizer.Encode(text);
    if (!ids.ok()) continue;
    (void)tokenizer.Decode(*ids);
    for (size_t i = 0; i < ids->size() && i < 64; ++i) (void)tokenizer.TokenText((*ids)[i]);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    auto tokenizer = infmem::tokenizer::HfTokenizer::Parse(rest, "fuzz/tokenizer.json");
    if (tokenizer.ok()) Exercise(**tokenizer, "Hello  world's 123 <|end|> \xC3\xA9\n");
  } else {
    Exercise(Fixed(), rest);
  }
  return 0;
}
