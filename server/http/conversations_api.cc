#include "server/http/conversations_api.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "glog/logging.h"
#include "server/common/status_macros.h"
#include "server/http/generation.h"
#include "server/http/openai_api.h"
#include "server/http/openai_request.h"
#include "server/service/chat_turn.h"

namespace infmem::http {
namespace {

using Json = nlohmann::ordered_json;
constexpr char kRoute[] = "/v1/conversations";

absl::Status NoSuchConversation(absl::string_view id) {
  absl::Status status =
      absl::NotFoundError(absl::StrCat("no conversation with id '", id.substr(0, 128), "'"));
  status.SetPayload(kParamPayload, absl::Cord("conversation_id"));
  return status;
}

Json Page(const Json& items) {
  return Json{{"object", "list"},
              {"data", items},
              {"first_id", items.empty() ? Json(nullptr) : items.front()["id"]},
              {"last_id", items.empty() ? Json(nullptr) : items.back()["id"]},
              {"has_more", false}};
}

void RespondJson(HttpExchange& exchange, const Json& body) {
  exchange.Respond(200, "application/json",
                   body.dump(-1, ' ', false, Json::error_handler_t::replace));
}

}  // namespace

absl::Status ConversationsApi::AppendMessages(session::SessionLease& lease,
                                              const Json& messages) const {
  v1::ChatTurn turn;
  for (const auto& message : messages) {
    v1::ChatMessage* m = turn.add_messages();
    m->set_role(message["role"].get<std::string>());
    m->set_content(message["content"].get<std::string>());
  }
  auto tokens = service::ChatTurnTokens(context_, turn, false, lease.session());
  if (!tokens.ok()) {
    return tokens.status().code() == absl::StatusCode::kInvalidArgument
               ? ParamError("items", tokens.status().message())
               : tokens.status();
  }
  if (static_cast<int64_t>(tokens->size()) > context_.limits.max_token_ids) {
    return ParamError("items",
                      absl::StrCat("the items are ", tokens->size(), " tokens, over the limit of ",
                                   context_.limits.max_token_ids),
                      "context_length_exceeded");
  }
  absl::Status fed = RunPrefill(context_, &lease.session(), *tokens);
  if (!fed.ok()) {
    context_.sessions.Discard(lease);
    return fed;
  }
  return context_.work.RunAndWait([&] { return context_.sessions.Commit(lease, *tokens); });
}

absl::Status ConversationsApi::AppendItems(const service::Caller& caller, const std::string& id,
                                           Json items) const {
  const std::string key = caller.Key(id);
  auto record = store_.Get(key);
  if (!record.ok()) {
    return absl::IsNotFound(record.status()) ? NoSuchConversation(id) : record.status();
  }
  Json& stored = (*record)["items"];
  if (!stored.is_array()) stored = Json::array();
  for (Json& item : items) {
    if (!item.contains("id")) item["id"] = new_id_("msg_");
    item["status"] = "completed";
    stored.push_back(std::move(item));
  }
  return store_.Put(key, *record);
}

std::optional<Json> ConversationsApi::RecordOrRespond(HttpExchange& exchange,
                                                      const service::Caller& caller,
                                                      const std::string& id) const {
  auto record = store_.Get(caller.Key(id));
  if (record.ok()) return *std::move(record);
  RespondError(exchange,
               absl::IsNotFound(record.status()) ? NoSuchConversation(id) : record.status());
  return std::nullopt;
}

void ConversationsApi::Create(HttpExchange& exchange, const service::Caller& caller) {
  const std::optional<std::string> body = ReadBodyOrRespond(exchange, max_body_bytes_);
  if (!body.has_value()) return;
  auto request = ParseConversationRequest(*body, context_.limits, /*items_required=*/false);
  if (!request.ok()) {
    RespondError(exchange, request.status());
    return;
  }
  if (context_.chat_template == nullptr) {
    RespondError(exchange, absl::FailedPreconditionError("this server has no chat template"));
    return;
  }
  const std::string id = new_id_("conv_");
  const std::string key = caller.Key(id);
  auto lease = context_.work.RunAndWait([&] { return context_.sessions.CreateSession(key, 0); });
  if (!lease.ok()) {
    RespondError(exchange, lease.status());
    return;
  }
  absl::Status status;
  if (!request->messages.empty()) status = AppendMessages(*lease, request->messages);
  const Json conversation = {{"id", id},
                             {"object", "conversation"},
                             {"created_at", absl::ToUnixSeconds(absl::Now())},
                             {"metadata", request->metadata}};
  if (status.ok()) {
    status = store_.Put(key, Json{{"conversation", conversation}, {"items", Json::array()}});
  }
  if (status.ok() && !request->items.empty()) status = AppendItems(caller, id, request->items);
  context_.work.RunAndWait([&] {
    lease->Reset();
    return 0;
  });
  if (!status.ok()) {
    (void)store_.Delete(key);
    (void)context_.work.RunAndWait([&] { return context_.sessions.Delete(key); });
    RespondError(exchange, status);
    return;
  }
  RespondJson(exchange, conversation);
}

void ConversationsApi::AddItems(HttpExchange& exchange, const service::Caller& caller,
                                const std::string& id) {
  const std::optional<std::string> body = ReadBodyOrRespond(exchange, max_body_bytes_);
  if (!body.has_value()) return;
  auto request = ParseConversationRequest(*body, context_.limits, /*items_required=*/true);
  if (!request.ok()) {
    RespondError(exchange, request.status());
    return;
  }
  if (request->has_metadata) {
    RespondError(exchange, ParamError("metadata", "set metadata with POST /v1/conversations/{id}"));
    return;
  }
  if (!RecordOrRespond(exchange, caller, id).has_value()) return;
  auto lease = context_.work.RunAndWait([&] { return context_.sessions.Acquire(caller.Key(id)); });
  if (!lease.ok()) {
    RespondError(exchange,
                 absl::IsNotFound(lease.status()) ? NoSuchConversation(id) : lease.status());
    return;
  }
  absl::Status status = AppendMessages(*lease, request->messages);
  Json items = request->items;
  for (Json& item : items) item["id"] = new_id_("msg_");
  if (status.ok()) status = AppendItems(caller, id, items);
  context_.work.RunAndWait([&] {
    lease->Reset();
    return 0;
  });
  if (!status.ok()) {
    RespondError(exchange, status);
    return;
  }
  for (Json& item : items) item["status"] = "completed";
  RespondJson(exchange, Page(items));
}

void ConversationsApi::Route(HttpExchange& exchange, const service::Caller& caller) {
  const std::string& method = exchange.method();
  const std::string& path = exchange.path();
  const auto allow = [&](const char* allowed) { RespondMethodNotAllowed(exchange, allowed); };
  if (path == kRoute) {
    if (method == "POST") {
      Create(exchange, caller);
    } else {
      allow("POST");
    }
    return;
  }
  std::string id = path.substr(std::string(kRoute).size() + 1);
  const bool items = absl::EndsWith(id, "/items");
  if (items) id = id.substr(0, id.size() - std::string("/items").size());
  if (!service::ValidateIdField("conversation_id", id).ok()) {
    RespondError(exchange, NoSuchConversation(id));
    return;
  }
  if (items) {
    if (method == "GET") {
      const std::optional<Json> record = RecordOrRespond(exchange, caller, id);
      if (record.has_value()) RespondJson(exchange, Page(record->value("items", Json::array())));
    } else if (method == "POST") {
      AddItems(exchange, caller, id);
    } else {
      allow("GET, POST");
    }
    return;
  }
  if (method == "GET") {
    const std::optional<Json> record = RecordOrRespond(exchange, caller, id);
    if (record.has_value()) RespondJson(exchange, record->value("conversation", Json::object()));
  } else if (method == "POST") {  // metadata update
    const std::optional<std::string> body = ReadBodyOrRespond(exchange, max_body_bytes_);
    if (!body.has_value()) return;
    auto request = ParseConversationRequest(*body, context_.limits, false);
    if (!request.ok()) {
      RespondError(exchange, request.status());
      return;
    }
    if (!request->messages.empty()) {
      RespondError(exchange,
                   ParamError("items", "add items with POST /v1/conversations/{id}/items"));
      return;
    }
    std::optional<Json> record = RecordOrRespond(exchange, caller, id);
    if (!record.has_value()) return;
    (*record)["conversation"]["metadata"] = request->metadata;
    if (absl::Status put = store_.Put(caller.Key(id), *record); !put.ok()) {
      RespondError(exchange, put);
      return;
    }
    RespondJson(exchange, (*record)["conversation"]);
  } else if (method == "DELETE") {
    const std::string key = caller.Key(id);
    absl::Status status = store_.Delete(key);
    if (absl::IsNotFound(status)) {
      RespondError(exchange, NoSuchConversation(id));
      return;
    }
    if (status.ok()) {
      status = context_.work.RunAndWait([&] { return context_.sessions.Delete(key); });
      if (absl::IsNotFound(status)) status = absl::OkStatus();
    }
    if (!status.ok()) {
      RespondError(exchange, status);
      return;
    }
    RespondJson(exchange, Json{{"id", id}, {"object", "conversation.deleted"}, {"deleted", true}});
  } else {
    allow("GET, POST, DELETE");
  }
}

}  // namespace infmem::http
