// Unicode services for the tokenizer.json pipeline, backed by ICU (Debian's libicu, the
// Unicode library every major platform ships): normalization forms, case mapping, and regular
// expressions with the Unicode properties (\p{L}, \p{N}), lookahead and inline flags that
// Hugging Face's pre-tokenizer patterns use and RE2 cannot express.
//
// All text is UTF-8 in and out; callers validate it first (ValidateUtf8).
// Thread-safety: UnicodeRegex is immutable after Compile and safe to share; each Split call
// makes its own matcher.
#ifndef INFMEM_SERVER_TOKENIZER_UNICODE_TEXT_H_
#define INFMEM_SERVER_TOKENIZER_UNICODE_TEXT_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace infmem::tokenizer {

enum class NormalForm { kNfc, kNfd, kNfkc, kNfkd };

// Returns `text` in the normalization form. Internal on ICU failure.
absl::StatusOr<std::string> Normalize(absl::string_view text, NormalForm form);

// Returns `text` lower- or uppercased by Unicode's full case mapping (root locale).
std::string Lowercase(absl::string_view text);
std::string Uppercase(absl::string_view text);

// A compiled regular expression with Oniguruma's meaning of \s and \S (the engine behind
// Hugging Face's tokenizers): ICU's \s lacks U+000B and U+0085, so both are rewritten to an
// explicit class before compiling.
class UnicodeRegex {
 public:
  // InvalidArgument naming the pattern and ICU's error for a pattern ICU cannot compile.
  static absl::StatusOr<std::unique_ptr<UnicodeRegex>> Compile(absl::string_view pattern);
  ~UnicodeRegex();
  UnicodeRegex(const UnicodeRegex&) = delete;
  UnicodeRegex& operator=(const UnicodeRegex&) = delete;

  // Returns the [begin, end) byte ranges of the successive non-empty matches in `text`.
  std::vector<std::pair<size_t, size_t>> FindAll(absl::string_view text) const;

 private:
  struct Impl;
  explicit UnicodeRegex(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Unicode properties of one code point, as Rust's char methods define them (the language of
// Hugging Face's tokenizers): White_Space; Alphabetic or a number (Nd, Nl, No).
bool IsWhitespace(char32_t c);
bool IsAlphanumeric(char32_t c);

// Returns `pattern` with \s and \S spelled as Oniguruma's Unicode classes (see UnicodeRegex).
std::string OnigurumaWhitespace(absl::string_view pattern);

}  // namespace infmem::tokenizer

#endif  // INFMEM_SERVER_TOKENIZER_UNICODE_TEXT_H_
