// Parsing and validation of OpenAI-style request bodies (/v1/chat/completions,
// /v1/completions, /v1/responses) into what the engine runs. Strict: unknown fields, and known
// fields infmem does not support (tools, logprobs, non-zero presence/frequency penalties, ...), are
// refused by name rather than ignored. Errors are InvalidArgument (ResourceExhausted for sizes)
// whose payload kParamPayload names the offending field. Stateless; thread-safe.
#ifndef INFMEM_SERVER_HTTP_OPENAI_REQUEST_H_
#define INFMEM_SERVER_HTTP_OPENAI_REQUEST_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"
#include "server/model/sampler.h"
#include "server/service/request_convert.h"

namespace infmem::http {

// The Status payload URL under which errors carry the name of the offending field.
inline constexpr absl::string_view kParamPayload = "infmem/param";
// The Status payload URL under which errors carry an OpenAI error code.
inline constexpr absl::string_view kCodePayload = "infmem/code";

// Returns InvalidArgument `message` naming `param` (and an OpenAI error `code`).
absl::Status ParamError(absl::string_view param, absl::string_view message,
                        absl::string_view code = "invalid_value");

struct CompletionRequest {
  bool chat = false;
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();  // chat: [{role, content}]
  std::string prompt;                                                 // completions
  nlohmann::ordered_json template_variables = nlohmann::ordered_json::object();
  std::string model;
  int n = 1;
  bool stream = false;
  bool include_usage = false;
  bool echo = false;  // completions
  int32_t max_tokens = 0;
  std::vector<std::string> stop;
  model::SamplingParams sampling;
};

// A POST /v1/responses body.
struct ResponsesRequest {
  std::string model;
  // The input as chat messages [{role, content}] (a string input is one user message);
  // `instructions` comes first as a system message.
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  nlohmann::ordered_json input_items = nlohmann::ordered_json::array();  // as the client sent them
  std::string instructions;
  std::string previous_response_id;
  std::string conversation;  // a conversation the turn joins (instead of previous_response_id)
  bool store = true;
  bool stream = false;
  int32_t max_output_tokens = 0;
  model::SamplingParams sampling;
  nlohmann::ordered_json metadata = nlohmann::ordered_json::object();
  std::string user;
};

// A POST /v1/conversations or /v1/conversations/{id}[/items] body: messages to append
// (`items`) and, for a conversation, its `metadata`.
struct ConversationRequest {
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();  // [{role, content}]
  nlohmann::ordered_json items = nlohmann::ordered_json::array();     // as stored and listed
  nlohmann::ordered_json metadata = nlohmann::ordered_json::object();
  bool has_metadata = false;
};

// Parses such a body; `items_required` for /items.
absl::StatusOr<ConversationRequest> ParseConversationRequest(absl::string_view body,
                                                             const service::RequestLimits& limits,
                                                             bool items_required);

// Parses `input` (a string, or a list of messages; `param` names it in errors) into chat
// messages [{role, content}] and the items as the API lists them.
absl::Status ParseItems(const nlohmann::json& input, const std::string& param,
                        const service::RequestLimits& limits, nlohmann::ordered_json* messages,
                        nlohmann::ordered_json* items);

// Parses a /v1/responses body.
absl::StatusOr<ResponsesRequest> ParseResponsesRequest(absl::string_view body,
                                                       const service::RequestLimits& limits,
                                                       uint64_t default_seed);

// Parses a /v1/chat/completions body. `default_seed` is used when none is given.
absl::StatusOr<CompletionRequest> ParseChatCompletionRequest(absl::string_view body,
                                                             const service::RequestLimits& limits,
                                                             uint64_t default_seed);
// Parses a /v1/completions body.
absl::StatusOr<CompletionRequest> ParseCompletionRequest(absl::string_view body,
                                                         const service::RequestLimits& limits,
                                                         uint64_t default_seed);

}  // namespace infmem::http

#endif  // INFMEM_SERVER_HTTP_OPENAI_REQUEST_H_
