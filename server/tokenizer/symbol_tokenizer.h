// SymbolTokenizer: for synthetic tasks (sorting, copying) whose tokens are plain integers.
// Text is whitespace-separated (ASCII space, \t, \n, \v, \f, \r) decimal ids in
// [0, vocab_size); "007" is read as 7. Decode writes the ids in decimal joined by single
// spaces. TokenText(id) is " <id>" (with a leading space), so concatenating the TokenText of
// a stream of ids gives Decode's text with one extra leading space.
#ifndef INFMEM_SERVER_TOKENIZER_SYMBOL_TOKENIZER_H_
#define INFMEM_SERVER_TOKENIZER_SYMBOL_TOKENIZER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "server/tokenizer/tokenizer.h"

namespace infmem::tokenizer {

class SymbolTokenizer : public Tokenizer {
 public:
  // `vocab_size` must be > 0 (MakeTokenizer checks it).
  explicit SymbolTokenizer(int vocab_size);

  // InvalidArgument for invalid UTF-8 ("invalid UTF-8 at byte N"), for a symbol that is not a
  // decimal integer ("unknown symbol 'abc' at position 3") and for an integer outside the
  // vocabulary ("symbol '99' at position 3 out of range [0, 20)"). The position is the
  // 0-based index of the symbol among the whitespace-separated symbols.
  absl::StatusOr<std::vector<int32_t>> Encode(absl::string_view text) const override;
  absl::StatusOr<std::string> Decode(absl::Span<const int32_t> ids) const override;
  absl::StatusOr<std::string> TokenText(int32_t id) const override;
  int vocab_size() const override { return vocab_size_; }
  int bos_id() const override { return -1; }
  int eos_id() const override { return -1; }

 private:
  int vocab_size_;
};

}  // namespace infmem::tokenizer

#endif  // INFMEM_SERVER_TOKENIZER_SYMBOL_TOKENIZER_H_
