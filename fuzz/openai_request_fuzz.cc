// Fuzzes the OpenAI-style request parsers (server/http/openai_request.h): the input is a
// request body for /v1/chat/completions, /v1/completions, /v1/responses and
// /v1/conversations. Every input gets a
// request or an InvalidArgument/ResourceExhausted error; crashes and sanitizer reports are
// failures.
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
  auto responses = infmem::http::ParseResponsesRequest(body, limits, 1);
  if (responses.ok()) {
    // Every accepted input becomes chat messages with a role and a string content.
    for (const auto& m : responses->messages) {
      if (!m["role"].is_string() || !m["content"].is_string()) __builtin_trap();
    }
  } else if (responses.status().code() != absl::StatusCode::kInvalidArgument &&
             responses.status().code() != absl::StatusCode::kResourceExhausted) {
    __builtin_trap();
  }
  for (const bool items_required : {true, false}) {
    auto conversation = infmem::http::ParseConversationRequest(body, limits, items_required);
    if (conversation.ok()
            ? conversation->messages.size() != conversation->items.size()
            : conversation.status().code() != absl::StatusCode::kInvalidArgument &&
                  conversation.status().code() != absl::StatusCode::kResourceExhausted) {
      __builtin_trap();
    }
  }
  return 0;
}
