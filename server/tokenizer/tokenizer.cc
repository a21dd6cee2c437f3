// ValidateUtf8: the well-formed byte sequences of Unicode 15, table 3-7 (no overlong forms, no
// surrogates U+D800..U+DFFF, nothing above U+10FFFF, no truncated sequences).
#include "server/tokenizer/tokenizer.h"

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace infmem::tokenizer {
namespace {

bool InRange(uint8_t byte, uint8_t lo, uint8_t hi) { return byte >= lo && byte <= hi; }

// Returns the length of the well-formed sequence starting at `text[pos]`, or 0 if none.
size_t SequenceLength(absl::string_view text, size_t pos) {
  const size_t left = text.size() - pos;
  const auto at = [&](size_t i) { return static_cast<uint8_t>(text[pos + i]); };
  const uint8_t b0 = at(0);
  if (b0 < 0x80) {
    return 1;
  }
  if (InRange(b0, 0xC2, 0xDF)) {
    return left >= 2 && InRange(at(1), 0x80, 0xBF) ? 2 : 0;
  }
  if (InRange(b0, 0xE0, 0xEF)) {
    // E0 needs A0..BF (no overlongs); ED needs 80..9F (no surrogates).
    const uint8_t lo = b0 == 0xE0 ? 0xA0 : 0x80;
    const uint8_t hi = b0 == 0xED ? 0x9F : 0xBF;
    return left >= 3 && InRange(at(1), lo, hi) && InRange(at(2), 0x80, 0xBF) ? 3 : 0;
  }
  if (InRange(b0, 0xF0, 0xF4)) {
    // F0 needs 90..BF (no overlongs); F4 needs 80..8F (nothing above U+10FFFF).
    const uint8_t lo = b0 == 0xF0 ? 0x90 : 0x80;
    const uint8_t hi = b0 == 0xF4 ? 0x8F : 0xBF;
    return left >= 4 && InRange(at(1), lo, hi) && InRange(at(2), 0x80, 0xBF) &&
                   InRange(at(3), 0x80, 0xBF)
               ? 4
               : 0;
  }
  return 0;  // 80..C1 (continuation or overlong lead) and F5..FF.
}

}  // namespace

absl::Status ValidateUtf8(absl::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    if (static_cast<uint8_t>(text[pos]) < 0x80) {
      ++pos;
      continue;
    }
    const size_t length = SequenceLength(text, pos);
    if (length == 0) {
      return absl::InvalidArgumentError(absl::StrCat("invalid UTF-8 at byte ", pos));
    }
    pos += length;
  }
  return absl::OkStatus();
}

absl::Status CheckTokenId(int32_t id, int vocab_size) {
  if (id < 0 || id >= vocab_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("token id ", id, " out of range [0, ", vocab_size, ")"));
  }
  return absl::OkStatus();
}

}  // namespace infmem::tokenizer
