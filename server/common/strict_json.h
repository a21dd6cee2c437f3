// Strict JSON parsing for files from outside (config.json, safetensors headers): on top of
// nlohmann's parser, rejects NUL bytes (nlohmann stops at one, silently dropping the rest)
// and duplicate keys in any object (nlohmann keeps the last). Never throws. Thread-safe.
#ifndef INFMEM_SERVER_COMMON_STRICT_JSON_H_
#define INFMEM_SERVER_COMMON_STRICT_JSON_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace infmem {

// Why a strict parse failed; callers turn it into a message in their own terms.
struct JsonProblem {
  enum Kind { kNone, kNulByte, kSyntax, kDuplicateKey } kind = kNone;
  size_t nul_offset = 0;  // kNulByte: where
  std::string detail;     // kSyntax: the parser's message (at most 300 bytes);
                          // kDuplicateKey: the key
};

// Parses `text` into `*out`. Returns a problem of kind kNone on success.
JsonProblem ParseStrictJson(absl::string_view text, nlohmann::json* out);

// Returns a short description of `value` for error messages: never dumps arrays or objects
// (which may be huge or deeply nested), and truncates strings to 64 characters.
std::string DescribeJson(const nlohmann::json& value);

}  // namespace infmem

#endif  // INFMEM_SERVER_COMMON_STRICT_JSON_H_
