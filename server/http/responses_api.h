// ResponsesApi: OpenAI's Responses API over durable sessions.
//   POST   /v1/responses                    a turn: `input` (and `instructions`) rendered with
//                                           the chat template and answered
//   GET    /v1/responses/{id}               the stored response
//   DELETE /v1/responses/{id}               deletes it and its session
//   GET    /v1/responses/{id}/input_items   the input it was given
// A stored response (`store`, the default) is a session: the conversation up to and including
// its answer. `previous_response_id` forks that session, so a turn computes only its new
// tokens (usage.input_tokens_details.cached_tokens counts the rest), two turns from the same
// response branch, and a chain survives kill -9 and restarts (the session is journaled and
// snapshotted before the response is acknowledged, its record written durably). `store:
// false` runs on a copy in memory and keeps nothing. Ids are per tenant: another tenant's
// response is 404. Streaming sends the Responses events in order with sequence numbers.
// Thread-safety: handlers run concurrently on the HTTP server's threads.
#ifndef INFMEM_SERVER_HTTP_RESPONSES_API_H_
#define INFMEM_SERVER_HTTP_RESPONSES_API_H_

#include <functional>
#include <optional>
#include <string>

#include "nlohmann/json.hpp"
#include "server/http/conversations_api.h"
#include "server/http/http_server.h"
#include "server/http/response_store.h"
#include "server/service/service_context.h"

namespace infmem::http {

class ResponsesApi {
 public:
  // `context`, `store` and `conversations` (which receives the items of turns in a
  // conversation) must outlive this object. `new_id` makes unique ids.
  ResponsesApi(const service::ServiceContext& context, const ResponseStore& store,
               std::function<std::string(const char*)> new_id, size_t max_body_bytes,
               const ConversationsApi* conversations)
      : context_(context),
        store_(store),
        new_id_(std::move(new_id)),
        max_body_bytes_(max_body_bytes),
        conversations_(conversations) {}

  void Create(HttpExchange& exchange, const service::Caller& caller);
  void Get(HttpExchange& exchange, const service::Caller& caller, const std::string& id);
  void Delete(HttpExchange& exchange, const service::Caller& caller, const std::string& id);
  void InputItems(HttpExchange& exchange, const service::Caller& caller, const std::string& id);

 private:
  // The stored record of `id`, or nullopt after sending the error (404 when there is none).
  std::optional<nlohmann::ordered_json> RecordOrRespond(HttpExchange& exchange,
                                                        const service::Caller& caller,
                                                        const std::string& id) const;

  const service::ServiceContext& context_;
  const ResponseStore& store_;
  std::function<std::string(const char*)> new_id_;
  size_t max_body_bytes_;
  const ConversationsApi* conversations_;
};

}  // namespace infmem::http

#endif  // INFMEM_SERVER_HTTP_RESPONSES_API_H_
