#include "server/service/auth.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "server/common/file_io.h"
#include "server/common/status_macros.h"
#include "server/store/session_store.h"

namespace infmem::service {
namespace {

// Compares in time that depends on the lengths only, not on where the bytes differ.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TokenAuthenticator>> TokenAuthenticator::Load(
    const std::string& path) {
  ASSIGN_OR_RETURN(const std::string text, ReadFile(path));
  return Parse(text, path);
}

absl::StatusOr<std::unique_ptr<TokenAuthenticator>> TokenAuthenticator::Parse(
    absl::string_view text, absl::string_view source) {
  auto auth = std::unique_ptr<TokenAuthenticator>(new TokenAuthenticator());
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    auto bad = [&](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat(source, ":", line_number, ": ", why));
    };
    std::vector<absl::string_view> fields = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (fields.size() != 2) return bad("expected \"<tenant> <token>\"");
    if (absl::Status s = store::ValidateTenant(fields[0]); !s.ok()) return bad(s.message());
    const absl::string_view token = fields[1];
    if (token.size() < 16 || token.size() > 512) return bad("a token must be 16 to 512 characters");
    for (char c : token) {
      if (c < 0x21 || c > 0x7e) return bad("a token must be printable ASCII");
    }
    for (const auto& [known, tenant] : auth->tokens_) {
      if (known == token) return bad(absl::StrCat("this token is already given to '", tenant, "'"));
    }
    auth->tokens_.emplace_back(std::string(token), std::string(fields[0]));
  }
  if (auth->tokens_.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": no tokens"));
  }
  return auth;
}

absl::StatusOr<std::string> TokenAuthenticator::Authenticate(
    absl::string_view authorization) const {
  if (authorization.empty()) {
    return absl::UnauthenticatedError("missing \"authorization: Bearer <token>\" metadata");
  }
  absl::string_view token = authorization;
  if (!absl::ConsumePrefix(&token, "Bearer ")) {
    return absl::UnauthenticatedError("the authorization metadata is not \"Bearer <token>\"");
  }
  const std::string* tenant = nullptr;
  for (const auto& [known, owner] : tokens_) {
    if (ConstantTimeEquals(known, token)) tenant = &owner;  // no early exit
  }
  if (tenant == nullptr) return absl::UnauthenticatedError("invalid token");
  return *tenant;
}

}  // namespace infmem::service
