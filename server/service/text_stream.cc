#include "server/service/text_stream.h"

#include <algorithm>

namespace infmem::service {
namespace {

constexpr absl::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Returns the length of the well-formed UTF-8 sequence at the start of `s` (RFC 3629: no
// overlongs, no surrogates, at most U+10FFFF), 0 when it is invalid, or -1 when `s` ends
// inside a sequence that could still become valid.
int SequenceLength(absl::string_view s) {
  const auto b = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = b(0);
  if (c < 0x80) return 1;
  int n;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  for (int i = 1; i < n; ++i) {
    if (static_cast<size_t>(i) >= s.size()) return -1;
    const unsigned char min = i == 1 ? lo : 0x80, max = i == 1 ? hi : 0xBF;
    if (b(i) < min || b(i) > max) return 0;
  }
  return n;
}

}  // namespace

size_t AppendSanitizedUtf8(absl::string_view bytes, bool final, std::string* out) {
  size_t i = 0;
  while (i < bytes.size()) {
    const int n = SequenceLength(bytes.substr(i));
    if (n > 0) {
      out->append(bytes.data() + i, static_cast<size_t>(n));
      i += static_cast<size_t>(n);
    } else if (n == -1 && !final) {
      break;  // may complete with the next token
    } else {
      // An invalid byte, or (final) an unfinished character: one U+FFFD each.
      out->append(kReplacement.data(), kReplacement.size());
      i = n == -1 ? bytes.size() : i + 1;
    }
  }
  return i;
}

bool TextStream::Add(absl::string_view bytes) {
  if (stopped_) return true;
  const size_t from = buffer_.size();
  buffer_.append(bytes.data(), bytes.size());
  // Held-back bytes never contain a whole stop, so a new match ends in the new bytes.
  size_t cut = std::string::npos;
  for (const std::string& stop : stops_) {
    const size_t start = from >= stop.size() ? from - stop.size() + 1 : 0;
    const size_t at = buffer_.find(stop, start);
    if (at != std::string::npos) cut = std::min(cut, at);
  }
  if (cut != std::string::npos) {
    buffer_.resize(cut);
    stopped_ = true;
  }
  return stopped_;
}

size_t TextStream::HeldForStops() const {
  if (stopped_) return 0;
  size_t held = 0;
  for (const std::string& stop : stops_) {
    for (size_t len = std::min(stop.size() - 1, buffer_.size()); len > held; --len) {
      if (absl::string_view(buffer_).substr(buffer_.size() - len) ==
          absl::string_view(stop).substr(0, len)) {
        held = len;
        break;
      }
    }
  }
  return held;
}

std::string TextStream::Take() {
  const size_t ready = buffer_.size() - HeldForStops();
  std::string out;
  const size_t used = AppendSanitizedUtf8(absl::string_view(buffer_).substr(0, ready),
                                          /*final=*/false, &out);
  buffer_.erase(0, used);
  return out;
}

std::string TextStream::TakeRest() {
  std::string out;
  AppendSanitizedUtf8(buffer_, /*final=*/true, &out);
  buffer_.clear();
  return out;
}

}  // namespace infmem::service
