// TextStream: turns a generation's token texts into the text of its stream messages. It
// holds back bytes that may still become a stop sequence or that end in an unfinished UTF-8
// character, cuts the output where a stop sequence appears (the stop itself is not sent), and
// replaces invalid UTF-8 (a model may emit any byte token) with U+FFFD, so every message is
// valid UTF-8. One per Generate call; not thread-safe.
#ifndef INFMEM_SERVER_SERVICE_TEXT_STREAM_H_
#define INFMEM_SERVER_SERVICE_TEXT_STREAM_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace infmem::service {

class TextStream {
 public:
  explicit TextStream(std::vector<std::string> stops) : stops_(std::move(stops)) {}

  // Adds the bytes of the next token. Returns true when a stop sequence has appeared; the
  // output then ends where it began, and later calls add nothing.
  bool Add(absl::string_view bytes);
  // Returns the text that is final now and forgets it.
  std::string Take();
  // Returns all text still held (the stream has ended).
  std::string TakeRest();
  bool stopped() const { return stopped_; }

 private:
  // Returns the length of the longest suffix of buffer_ that is a proper prefix of a stop.
  size_t HeldForStops() const;

  std::vector<std::string> stops_;
  std::string buffer_;  // raw bytes not yet returned
  bool stopped_ = false;
};

// Copies the valid UTF-8 of `bytes[0, n)` into `out`, each invalid byte as U+FFFD. When
// `final` is false an unfinished character at the end is left out. Returns the bytes used.
size_t AppendSanitizedUtf8(absl::string_view bytes, bool final, std::string* out);

}  // namespace infmem::service

#endif  // INFMEM_SERVER_SERVICE_TEXT_STREAM_H_
