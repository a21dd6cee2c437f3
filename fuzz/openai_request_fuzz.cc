// Fuzzes the OpenAI-style request parsers (server/http/openai_request.h): the input is a
// request body for /v1/chat/completions and /v1/completions. Every input gets a request or an
// InvalidArgument/ResourceExhausted error; crashes and sanitizer reports are failures.
#include <cstddef>
#include <cstdint>
#include <string>

#include "server/http/openai_request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string body(reinterpret_cast<const char*>(data), size);
  const infmem::service::RequestLimits limits;
  for (const bool chat : {true, false}) {
    auto request = chat ? infmem::http::ParseChatCompletionRequest(body, limits, 1)
                        : infmem::http::ParseCompletionRequest(body, limits, 1);
    if (!request.ok() && request.status().code() != absl::StatusCode::kInvalidArgument &&
        request.status().code() != absl::StatusCode::kResourceExhausted) {
      __builtin_trap();
    }
  }
  return 0;
}
