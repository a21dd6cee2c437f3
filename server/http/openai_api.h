// OpenAiApi: the OpenAI-compatible HTTP routes of infmem-server, over the same session and
// engine layers as the gRPC service (never a gRPC client of its own process):
//   GET  /health, /v1/models, /v1/models/{id}
//   POST /v1/chat/completions   messages rendered with the model's chat template
//   POST /v1/completions        a plain prompt
//   /v1/responses...            the Responses API over durable sessions (responses_api.h)
//   /v1/conversations...        conversations of items on a session (conversations_api.h)
// Both POST routes stream as Server-Sent Events with "stream": true, in the shapes the
// official openai clients parse (chunks, the usage chunk with "choices": [] when
// stream_options.include_usage is set, then "data: [DONE]"). Errors are
// {"error": {"message", "type", "param", "code"}} with a 4xx status for bad input, never 5xx.
// Authentication: the gRPC service's bearer tokens (Authorization: Bearer ...).
// Thread-safety: Handle runs concurrently on the HTTP server's threads.
#ifndef INFMEM_SERVER_HTTP_OPENAI_API_H_
#define INFMEM_SERVER_HTTP_OPENAI_API_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "server/http/conversations_api.h"
#include "server/http/http_server.h"
#include "server/http/prefix_cache.h"
#include "server/http/response_store.h"
#include "server/http/responses_api.h"
#include "server/service/service_context.h"

namespace infmem::http {

struct OpenAiOptions {
  size_t max_body_bytes = 4 << 20;           // a request body larger than this is refused (413)
  const ResponseStore* responses = nullptr;  // stored responses; null: /v1/responses is off
  int prefix_cache = 0;  // reusable conversation states of stateless calls (prefix_cache.h)
};

class OpenAiApi {
 public:
  // `context` must outlive this object.
  OpenAiApi(const service::ServiceContext& context, OpenAiOptions options);

  // Serves one request.
  void Handle(HttpExchange& exchange);
  // Answers every later request 503 (the server is draining).
  void Drain() { draining_ = true; }

 private:
  void Route(HttpExchange& exchange, const std::string& route, const service::Caller& caller);
  void RouteResponses(HttpExchange& exchange, const service::Caller& caller);
  void Models(HttpExchange& exchange, const std::string& id);
  // Chat completions (`chat`) or completions.
  void Complete(HttpExchange& exchange, const service::Caller& caller, bool chat);
  std::string NewId(const char* prefix);

  const service::ServiceContext& context_;
  OpenAiOptions options_;
  std::atomic<uint64_t> counter_{0};
  std::atomic<bool> draining_{false};
  uint64_t nonce_;
  std::unique_ptr<ConversationsApi> conversations_;  // null without a ResponseStore
  std::unique_ptr<ResponsesApi> responses_;          // null without a ResponseStore
  PrefixCache prefix_cache_;
};

// Reads the request body (at most `max_bytes`); on failure sends the error (413 for a body
// too large) and returns nullopt.
std::optional<std::string> ReadBodyOrRespond(HttpExchange& exchange, size_t max_bytes);
// Sends 405 naming the method and path, with an Allow header of `allowed`.
void RespondMethodNotAllowed(HttpExchange& exchange, absl::string_view allowed);
// Sends `status` as an OpenAI-style error with the HTTP status its code maps to.
void RespondError(HttpExchange& exchange, const absl::Status& status);
// Returns the HTTP status an absl::Status maps to (bad input is 4xx, never 5xx).
int HttpStatusOf(const absl::Status& status);

}  // namespace infmem::http

#endif  // INFMEM_SERVER_HTTP_OPENAI_API_H_
