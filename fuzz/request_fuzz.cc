// Fuzzes request conversion: the input, parsed as each request message the service
// validates (Generate, Append, ListSessions' page token), goes through the validation and
// conversion the service runs before any session is touched.
#include <cstddef>
#include <cstdint>
#include <string>

#include "infmem/v1/infmem.pb.h"
#include "server/service/request_convert.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  infmem::service::RequestLimits limits;
  limits.max_text_bytes = 4096;
  limits.max_token_ids = 512;
  infmem::v1::GenerateRequest generate;
  if (generate.ParseFromArray(data, static_cast<int>(size))) {
    (void)infmem::service::ValidateText("text", generate.text(), limits);
    (void)infmem::service::GenerateOptionsFromProto(generate, limits, 1);
  }
  infmem::v1::AppendRequest append;
  if (append.ParseFromArray(data, static_cast<int>(size))) {
    (void)infmem::service::ValidateText("text", append.text(), limits);
    (void)infmem::service::TokenIdsFromProto("token_ids.ids", append.token_ids().ids(), 4096,
                                             limits);
  }
  const std::string token(reinterpret_cast<const char*>(data), size);
  auto id = infmem::service::DecodePageToken(token);
  if (id.ok() && infmem::service::EncodePageToken(*id) != token) __builtin_trap();
  return 0;
}
