#include "server/tokenizer/unicode_text.h"

#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/regex.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/utext.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace infmem::tokenizer {
namespace {

// Oniguruma's Unicode \s: U+0009..U+000D, U+0085 and the separators (Zs, Zl, Zp).
constexpr absl::string_view kSpaceMembers = "\\t-\\r\\x{85}\\p{Z}";

}  // namespace

absl::StatusOr<std::string> Normalize(absl::string_view text, NormalForm form) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* normalizer = nullptr;
  switch (form) {
    case NormalForm::kNfc:
      normalizer = icu::Normalizer2::getNFCInstance(status);
      break;
    case NormalForm::kNfd:
      normalizer = icu::Normalizer2::getNFDInstance(status);
      break;
    case NormalForm::kNfkc:
      normalizer = icu::Normalizer2::getNFKCInstance(status);
      break;
    case NormalForm::kNfkd:
      normalizer = icu::Normalizer2::getNFKDInstance(status);
      break;
  }
  if (U_FAILURE(status) || normalizer == nullptr) {
    return absl::InternalError(absl::StrCat("ICU normalizer unavailable: ", u_errorName(status)));
  }
  const icu::UnicodeString source = icu::UnicodeString::fromUTF8(
      icu::StringPiece(text.data(), static_cast<int32_t>(text.size())));
  if (normalizer->isNormalized(source, status) && U_SUCCESS(status)) {
    return std::string(text);
  }
  status = U_ZERO_ERROR;
  const icu::UnicodeString normalized = normalizer->normalize(source, status);
  if (U_FAILURE(status)) {
    return absl::InternalError(absl::StrCat("ICU normalization failed: ", u_errorName(status)));
  }
  std::string out;
  normalized.toUTF8String(out);
  return out;
}

namespace {

icu::UnicodeString FromUtf8(absl::string_view text) {
  return icu::UnicodeString::fromUTF8(
      icu::StringPiece(text.data(), static_cast<int32_t>(text.size())));
}

std::string ToUtf8(const icu::UnicodeString& value) {
  std::string out;
  value.toUTF8String(out);
  return out;
}

}  // namespace

std::string Lowercase(absl::string_view text) {
  return ToUtf8(FromUtf8(text).toLower(icu::Locale::getRoot()));
}

std::string Uppercase(absl::string_view text) {
  return ToUtf8(FromUtf8(text).toUpper(icu::Locale::getRoot()));
}

bool IsWhitespace(char32_t c) {
  return u_hasBinaryProperty(static_cast<UChar32>(c), UCHAR_WHITE_SPACE) != 0;
}

bool IsAlphanumeric(char32_t c) {
  if (u_hasBinaryProperty(static_cast<UChar32>(c), UCHAR_ALPHABETIC)) return true;
  const int8_t type = u_charType(static_cast<UChar32>(c));
  return type == U_DECIMAL_DIGIT_NUMBER || type == U_LETTER_NUMBER || type == U_OTHER_NUMBER;
}

std::string OnigurumaWhitespace(absl::string_view pattern) {
  std::string out;
  out.reserve(pattern.size() + 32);
  int class_depth = 0;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char next = pattern[i + 1];
      ++i;
      if (next == 's') {
        absl::StrAppend(&out, class_depth > 0 ? "" : "[", kSpaceMembers,
                        class_depth > 0 ? "" : "]");
      } else if (next == 'S') {
        absl::StrAppend(&out, "[^", kSpaceMembers, "]");
      } else {
        out.push_back(c);
        out.push_back(next);
      }
      continue;
    }
    if (c == '[') {
      ++class_depth;
    } else if (c == ']' && class_depth > 0) {
      --class_depth;
    }
    out.push_back(c);
  }
  return out;
}

struct UnicodeRegex::Impl {
  std::unique_ptr<icu::RegexPattern> pattern;
};

UnicodeRegex::UnicodeRegex(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
UnicodeRegex::~UnicodeRegex() = default;

absl::StatusOr<std::unique_ptr<UnicodeRegex>> UnicodeRegex::Compile(absl::string_view pattern) {
  const std::string rewritten = OnigurumaWhitespace(pattern);
  UErrorCode status = U_ZERO_ERROR;
  UParseError parse_error;
  auto impl = std::make_unique<Impl>();
  impl->pattern.reset(
      icu::RegexPattern::compile(icu::UnicodeString::fromUTF8(icu::StringPiece(
                                     rewritten.data(), static_cast<int32_t>(rewritten.size()))),
                                 0, parse_error, status));
  if (U_FAILURE(status) || impl->pattern == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("regular expression '", pattern.substr(0, 200),
                                                   "' does not compile (", u_errorName(status),
                                                   " at offset ", parse_error.offset, ")"));
  }
  return std::unique_ptr<UnicodeRegex>(new UnicodeRegex(std::move(impl)));
}

std::vector<std::pair<size_t, size_t>> UnicodeRegex::FindAll(absl::string_view text) const {
  std::vector<std::pair<size_t, size_t>> matches;
  UErrorCode status = U_ZERO_ERROR;
  // A UTF-8 UText: ICU's native indexes are then byte offsets into `text`.
  UText* utext = utext_openUTF8(nullptr, text.data(), static_cast<int64_t>(text.size()), &status);
  std::unique_ptr<icu::RegexMatcher> matcher(impl_->pattern->matcher(status));
  if (U_FAILURE(status) || matcher == nullptr) {
    utext_close(utext);
    return matches;
  }
  matcher->reset(utext);
  while (matcher->find(status) && U_SUCCESS(status)) {
    const int64_t begin = matcher->start64(status);
    const int64_t end = matcher->end64(status);
    if (U_FAILURE(status)) break;
    if (end > begin) matches.emplace_back(static_cast<size_t>(begin), static_cast<size_t>(end));
  }
  matcher.reset();
  utext_close(utext);
  return matches;
}

}  // namespace infmem::tokenizer
