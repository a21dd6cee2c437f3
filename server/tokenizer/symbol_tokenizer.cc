#include "server/tokenizer/symbol_tokenizer.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "server/common/status_macros.h"

namespace infmem::tokenizer {
namespace {

// Symbols longer than this are shortened in error messages.
constexpr size_t kMaxQuotedSymbol = 32;

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

std::string Quote(absl::string_view symbol) {
  if (symbol.size() <= kMaxQuotedSymbol) {
    return absl::StrCat("'", symbol, "'");
  }
  // Cut on a UTF-8 character boundary (the text has been validated).
  size_t cut = kMaxQuotedSymbol;
  while (cut > 0 && (static_cast<unsigned char>(symbol[cut]) & 0xC0) == 0x80) {
    --cut;
  }
  return absl::StrCat("'", symbol.substr(0, cut), "...'");
}

}  // namespace

SymbolTokenizer::SymbolTokenizer(int vocab_size) : vocab_size_(vocab_size) {}

absl::StatusOr<std::vector<int32_t>> SymbolTokenizer::Encode(absl::string_view text) const {
  RETURN_IF_ERROR(ValidateUtf8(text));
  std::vector<int32_t> ids;
  size_t pos = 0;
  int index = 0;
  while (true) {
    while (pos < text.size() && IsSpace(text[pos])) {
      ++pos;
    }
    if (pos == text.size()) {
      break;
    }
    const size_t start = pos;
    while (pos < text.size() && !IsSpace(text[pos])) {
      ++pos;
    }
    const absl::string_view symbol = text.substr(start, pos - start);

    // An optional '-' then at least one digit; anything else is not a number.
    const bool negative = symbol[0] == '-';
    const absl::string_view digits = negative ? symbol.substr(1) : symbol;
    bool numeric = !digits.empty();
    for (char c : digits) {
      numeric = numeric && IsDigit(c);
    }
    if (!numeric) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown symbol ", Quote(symbol), " at position ", index));
    }
    // Accumulate with saturation; any value >= vocab_size is out of range anyway.
    int64_t value = 0;
    for (char c : digits) {
      value = value * 10 + (c - '0');
      if (value > vocab_size_) {
        break;
      }
    }
    if (negative && value != 0) {
      value = -1;  // "-0" is 0.
    }
    if (value < 0 || value >= vocab_size_) {
      return absl::InvalidArgumentError(absl::StrCat("symbol ", Quote(symbol), " at position ",
                                                     index, " out of range [0, ", vocab_size_,
                                                     ")"));
    }
    ids.push_back(static_cast<int32_t>(value));
    ++index;
  }
  return ids;
}

absl::StatusOr<std::string> SymbolTokenizer::Decode(absl::Span<const int32_t> ids) const {
  std::string text;
  for (size_t i = 0; i < ids.size(); ++i) {
    RETURN_IF_ERROR(CheckTokenId(ids[i], vocab_size_));
    if (i > 0) {
      text.push_back(' ');
    }
    absl::StrAppend(&text, ids[i]);
  }
  return text;
}

absl::StatusOr<std::string> SymbolTokenizer::TokenText(int32_t id) const {
  RETURN_IF_ERROR(CheckTokenId(id, vocab_size_));
  return absl::StrCat(" ", id);
}

}  // namespace infmem::tokenizer
