// Fuzzes the tokenizers' text and id paths: the input as text (Encode, then Decode of the
// result) and as little-endian int32 ids (Decode, TokenText), for the SentencePiece model
// of models/brown-lm and the symbol tokenizer. Invalid ids and text get errors, not crashes.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "server/tokenizer/tokenizer.h"

namespace {

const std::vector<std::unique_ptr<infmem::tokenizer::Tokenizer>>& Tokenizers() {
  static const auto* all = [] {
    auto* v = new std::vector<std::unique_ptr<infmem::tokenizer::Tokenizer>>();
    v->push_back(infmem::tokenizer::MakeTokenizer(
                     "sentencepiece", std::string(INFMEM_SOURCE_DIR) + "/models/brown-lm",
                     "tokenizer.model", 4096)
                     .value());
    v->push_back(infmem::tokenizer::MakeTokenizer("symbol", "", "", 21).value());
    return v;
  }();
  return *all;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<int32_t> ids(size / 4);
  if (!ids.empty()) std::memcpy(ids.data(), data, ids.size() * 4);
  for (const auto& tokenizer : Tokenizers()) {
    auto encoded = tokenizer->Encode(text);
    if (encoded.ok()) (void)tokenizer->Decode(*encoded);
    (void)tokenizer->Decode(ids);
    for (size_t i = 0; i < ids.size() && i < 8; ++i) (void)tokenizer->TokenText(ids[i]);
  }
  return 0;
}
