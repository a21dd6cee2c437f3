// ConversationsApi: OpenAI's Conversations API over durable sessions.
//   POST   /v1/conversations              a conversation, optionally with first `items`
//   GET    /v1/conversations/{id}         it
//   POST   /v1/conversations/{id}         replaces its metadata
//   DELETE /v1/conversations/{id}         deletes it and its session
//   GET    /v1/conversations/{id}/items   its items, oldest first
//   POST   /v1/conversations/{id}/items   appends messages (no answer is generated)
// A conversation is one session (its messages rendered with the chat template, as they come)
// and a record of its items beside the stored responses. A response created with
// `conversation` (responses_api.h) runs on that session directly and appends its input and
// its output to the items, in order. Ids are per tenant. Thread-safe; one call at a time per
// conversation (a concurrent one gets 409).
#ifndef INFMEM_SERVER_HTTP_CONVERSATIONS_API_H_
#define INFMEM_SERVER_HTTP_CONVERSATIONS_API_H_

#include <functional>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "server/http/http_server.h"
#include "server/http/response_store.h"
#include "server/service/service_context.h"
#include "server/session/session_manager.h"

namespace infmem::http {

class ConversationsApi {
 public:
  ConversationsApi(const service::ServiceContext& context, const ResponseStore& store,
                   std::function<std::string(const char*)> new_id, size_t max_body_bytes)
      : context_(context),
        store_(store),
        new_id_(std::move(new_id)),
        max_body_bytes_(max_body_bytes) {}

  // Serves any /v1/conversations route.
  void Route(HttpExchange& exchange, const service::Caller& caller);

  // Appends `items` (each gets an id) to the record of conversation `id` (the caller holds its
  // session's lease, so no other call changes it meanwhile).
  absl::Status AppendItems(const service::Caller& caller, const std::string& id,
                           nlohmann::ordered_json items) const;

 private:
  void Create(HttpExchange& exchange, const service::Caller& caller);
  void AddItems(HttpExchange& exchange, const service::Caller& caller, const std::string& id);
  // The record of `id`, or nullopt after sending the error (404 when there is none).
  std::optional<nlohmann::ordered_json> RecordOrRespond(HttpExchange& exchange,
                                                        const service::Caller& caller,
                                                        const std::string& id) const;
  // Renders `messages` after what `lease`'s session holds, feeds and journals them.
  absl::Status AppendMessages(session::SessionLease& lease,
                              const nlohmann::ordered_json& messages) const;

  const service::ServiceContext& context_;
  const ResponseStore& store_;
  std::function<std::string(const char*)> new_id_;
  size_t max_body_bytes_;
};

}  // namespace infmem::http

#endif  // INFMEM_SERVER_HTTP_CONVERSATIONS_API_H_
