// TokenAuthenticator: bearer-token authentication. Maps the tokens of a token file to
// tenants; the service namespaces each tenant's sessions (a tenant never sees another's).
// Immutable after Load; thread-safe.
//
// Token file: one "<tenant> <token>" per line; blank lines and lines starting with '#' are
// skipped. Tenants match [A-Za-z0-9_]{1,64}; tokens are 16 to 512 printable ASCII characters
// without spaces, each used once; a tenant may have several tokens (rotation).
#ifndef INFMEM_SERVER_SERVICE_AUTH_H_
#define INFMEM_SERVER_SERVICE_AUTH_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace infmem::service {

class TokenAuthenticator {
 public:
  // Reads and parses a token file; errors name the file and line.
  static absl::StatusOr<std::unique_ptr<TokenAuthenticator>> Load(const std::string& path);
  // Parses token-file text; `source` names it in errors.
  static absl::StatusOr<std::unique_ptr<TokenAuthenticator>> Parse(absl::string_view text,
                                                                   absl::string_view source);

  // Returns the tenant of an "authorization" header value ("Bearer <token>"; empty: none
  // was sent). Unauthenticated otherwise, without saying which part was wrong beyond that.
  absl::StatusOr<std::string> Authenticate(absl::string_view authorization) const;

 private:
  std::vector<std::pair<std::string, std::string>> tokens_;  // token, tenant
};

}  // namespace infmem::service

#endif  // INFMEM_SERVER_SERVICE_AUTH_H_
