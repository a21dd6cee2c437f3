#include "server/store/session_store.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "server/common/status_macros.h"
#include "server/store/local_session_store.h"

namespace infmem::store {

absl::StatusOr<std::unique_ptr<SessionStore>> SessionStore::Open(const std::string& root) {
  ASSIGN_OR_RETURN(std::unique_ptr<LocalSessionStore> store, LocalSessionStore::Open(root));
  return std::unique_ptr<SessionStore>(std::move(store));
}

absl::Status ValidateSessionId(absl::string_view id) {
  if (id.empty() || id.size() > 128) {
    return absl::InvalidArgumentError(
        absl::StrCat("session id must be 1 to 128 characters, got ", id.size()));
  }
  for (size_t i = 0; i < id.size(); ++i) {
    const char c = id[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrCat(
          "session id may hold only A-Z a-z 0-9 _ -; character ", i, " is not allowed"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateTenant(absl::string_view tenant) {
  const bool ok = !tenant.empty() && tenant.size() <= 64 &&
                  std::all_of(tenant.begin(), tenant.end(), [](char c) {
                    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                           (c >= '0' && c <= '9') || c == '_';
                  });
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("tenant '", tenant, "' must be 1 to 64 of A-Z a-z 0-9 _"));
}

absl::Status ValidateStoredId(absl::string_view key) {
  const size_t dot = key.find('.');
  if (dot == absl::string_view::npos) return ValidateSessionId(key);
  RETURN_IF_ERROR(ValidateTenant(key.substr(0, dot)));
  return ValidateSessionId(key.substr(dot + 1));
}

}  // namespace infmem::store
