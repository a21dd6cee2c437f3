#include "server/http/responses_api.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "glog/logging.h"
#include "nlohmann/json.hpp"
#include "server/common/work_queue.h"
#include "server/http/generation.h"
#include "server/http/openai_api.h"
#include "server/http/openai_request.h"
#include "server/service/chat_turn.h"

namespace infmem::http {
namespace {

using Json = nlohmann::ordered_json;

// What a finished (or failed) turn produced, for the response object.
struct Outcome {
  std::string text;
  engine::FinishReason reason = engine::FinishReason::kLength;
  int64_t cached_tokens = 0;  // already in the session's state: not computed again
  int64_t input_tokens = 0;   // the conversation so far and the new input
  int64_t output_tokens = 0;
};

absl::Status NoSuchResponse(absl::string_view param, absl::string_view id) {
  absl::Status status =
      absl::NotFoundError(absl::StrCat("no response with id '", id.substr(0, 128), "'"));
  status.SetPayload(kParamPayload, absl::Cord(param));
  return status;
}

// The Response object (OpenAI's shape) of a turn; `status` "in_progress" while streaming.
Json ResponseObject(const std::string& id, int64_t created, const ResponsesRequest& request,
                    const std::string& model, const std::string& message_id,
                    const std::string& status, const Outcome* outcome) {
  Json response = {
      {"id", id},
      {"object", "response"},
      {"created_at", created},
      {"status", status},
      {"error", nullptr},
      {"incomplete_details", nullptr},
      {"instructions", request.instructions.empty() ? Json(nullptr) : Json(request.instructions)},
      {"max_output_tokens", request.max_output_tokens},
      {"model", model},
      {"output", Json::array()},
      {"parallel_tool_calls", false},
      {"previous_response_id",
       request.previous_response_id.empty() ? Json(nullptr) : Json(request.previous_response_id)},
      {"reasoning", {{"effort", nullptr}, {"summary", nullptr}}},
      {"store", request.store},
      {"temperature", request.sampling.temperature},
      {"text", {{"format", {{"type", "text"}}}}},
      {"tool_choice", "auto"},
      {"tools", Json::array()},
      {"top_p", request.sampling.top_p},
      {"truncation", "disabled"},
      {"usage", nullptr},
      {"user", request.user.empty() ? Json(nullptr) : Json(request.user)},
      {"metadata", request.metadata}};
  if (!request.conversation.empty()) response["conversation"] = {{"id", request.conversation}};
  if (outcome == nullptr) return response;
  const bool incomplete = outcome->reason == engine::FinishReason::kLength;
  if (incomplete) response["incomplete_details"] = {{"reason", "max_output_tokens"}};
  response["output"] = Json::array({{{"type", "message"},
                                     {"id", message_id},
                                     {"status", incomplete ? "incomplete" : "completed"},
                                     {"role", "assistant"},
                                     {"content", Json::array({{{"type", "output_text"},
                                                               {"text", outcome->text},
                                                               {"annotations", Json::array()},
                                                               {"logprobs", Json::array()}}})}}});
  response["usage"] = {{"input_tokens", outcome->input_tokens},
                       {"input_tokens_details", {{"cached_tokens", outcome->cached_tokens}}},
                       {"output_tokens", outcome->output_tokens},
                       {"output_tokens_details", {{"reasoning_tokens", 0}}},
                       {"total_tokens", outcome->input_tokens + outcome->output_tokens}};
  return response;
}

std::string SseEvent(const std::string& type, Json data, int* sequence) {
  data["type"] = type;
  data["sequence_number"] = (*sequence)++;
  return absl::StrCat("event: ", type,
                      "\ndata: ", data.dump(-1, ' ', false, Json::error_handler_t::replace),
                      "\n\n");
}

}  // namespace

void ResponsesApi::Create(HttpExchange& exchange, const service::Caller& caller) {
  const std::optional<std::string> body = ReadBodyOrRespond(exchange, max_body_bytes_);
  if (!body.has_value()) return;
  auto request = ParseResponsesRequest(*body, context_.limits, absl::BitGen()() | 1);
  if (!request.ok()) {
    RespondError(exchange, request.status());
    return;
  }
  if (context_.chat_template == nullptr) {
    RespondError(exchange, absl::FailedPreconditionError("this server has no chat template"));
    return;
  }
  const std::string id = new_id_("resp_");
  const std::string key = caller.Key(id);
  session::SessionManager& sessions = context_.sessions;

  // Session work (loads, forks, journal syncs, snapshots, releases that may evict) runs on
  // the work queue: it calls into BLAS, whose kernels overflow an HTTP worker's small stack.
  WorkQueue& work = context_.work;
  const auto on_work = [&](auto f) { return work.RunAndWait(f); };
  const auto release = [&](session::SessionLease& l) {
    on_work([&] {
      l.Reset();
      return 0;
    });
  };

  // The session the turn runs on: a fork of the previous response's, a new one, or (store:
  // false) a copy in memory.
  session::SessionLease lease;
  std::unique_ptr<session::Session> scratch;
  const bool in_conversation = !request->conversation.empty();
  if (in_conversation) {  // the turn runs on the conversation's own session
    auto acquired = on_work([&] { return sessions.Acquire(caller.Key(request->conversation)); });
    if (!acquired.ok()) {
      absl::Status status = acquired.status();
      if (absl::IsNotFound(status)) {
        status = absl::NotFoundError(
            absl::StrCat("no conversation with id '", request->conversation.substr(0, 128), "'"));
        status.SetPayload(kParamPayload, absl::Cord("conversation"));
      }
      RespondError(exchange, status);
      return;
    }
    lease = *std::move(acquired);
  } else if (!request->previous_response_id.empty()) {
    auto previous =
        on_work([&] { return sessions.Acquire(caller.Key(request->previous_response_id)); });
    if (!previous.ok()) {
      RespondError(exchange,
                   previous.status().code() == absl::StatusCode::kNotFound
                       ? NoSuchResponse("previous_response_id", request->previous_response_id)
                       : previous.status());
      return;
    }
    absl::Status copied = on_work([&]() -> absl::Status {
      if (request->store) return sessions.Fork(*previous, key).status();
      const session::Session& source = previous->session();
      scratch =
          std::make_unique<session::Session>(source.record, context_.model.Clone(*source.state));
      scratch->pending = source.pending;
      return absl::OkStatus();
    });
    release(*previous);
    if (!copied.ok()) {
      RespondError(exchange, copied);
      return;
    }
  } else if (request->store) {
    auto created = on_work([&] { return sessions.CreateSession(key, 0); });
    if (!created.ok()) {
      RespondError(exchange, created.status());
      return;
    }
    lease = *std::move(created);
  } else {
    on_work([&] {
      scratch = std::make_unique<session::Session>(
          store::SessionRecord{"response", request->sampling.seed, absl::ToUnixMillis(absl::Now())},
          context_.model.NewSession(request->sampling.seed));
      return 0;
    });
    if (context_.tokenizer.bos_id() >= 0) scratch->pending.push_back(context_.tokenizer.bos_id());
  }
  if (request->store && !lease.valid()) {
    auto acquired = on_work([&] { return sessions.Acquire(key); });
    if (!acquired.ok()) {
      RespondError(exchange, acquired.status());
      return;
    }
    lease = *std::move(acquired);
  }
  session::Session& session = lease.valid() ? lease.session() : *scratch;
  // A stored turn that fails leaves nothing: its session is dropped and deleted (a
  // conversation's is only dropped from memory: the store still holds it as it was).
  const auto abandon = [&]() {
    if (!lease.valid()) return;
    sessions.Discard(lease);
    release(lease);
    if (in_conversation) return;
    absl::Status deleted = on_work([&] { return sessions.Delete(key); });
    if (!deleted.ok()) {
      LOG(WARNING) << "deleting the session of failed response " << key << ": " << deleted;
    }
  };

  v1::ChatTurn turn;
  for (const auto& message : request->messages) {
    v1::ChatMessage* m = turn.add_messages();
    m->set_role(message["role"].get<std::string>());
    m->set_content(message["content"].get<std::string>());
  }
  turn.set_add_generation_prompt(true);
  auto prompt = service::ChatTurnTokens(context_, turn, true, session);
  if (!prompt.ok()) {
    abandon();
    RespondError(exchange, prompt.status().code() == absl::StatusCode::kInvalidArgument
                               ? ParamError("input", prompt.status().message())
                               : prompt.status());
    return;
  }
  if (static_cast<int64_t>(prompt->size()) > context_.limits.max_token_ids) {
    abandon();
    RespondError(exchange, ParamError("input",
                                      absl::StrCat("the input is ", prompt->size(),
                                                   " tokens, over the limit of ",
                                                   context_.limits.max_token_ids),
                                      "context_length_exceeded"));
    return;
  }

  Outcome outcome;
  outcome.cached_tokens = session.state->tokens_seen();
  outcome.input_tokens =
      session.state->tokens_seen() + static_cast<int64_t>(session.pending.size() + prompt->size());
  CompletionRequest run;
  run.model = request->model;
  run.max_tokens = request->max_output_tokens;
  run.sampling = request->sampling;
  Generation generation(context_, run, *prompt, absl::InfiniteFuture(), &session);
  if (absl::Status started = generation.Start(); !started.ok()) {
    abandon();
    RespondError(exchange, started);
    return;
  }
  const int64_t created = absl::ToUnixSeconds(absl::Now());
  const std::string& model_name = context_.model.config().name;
  const std::string message_id = new_id_("msg_");
  int sequence = 0;
  bool client_gone = false;
  const auto send = [&](const std::string& type, Json data) {
    if (client_gone) return;
    if (!exchange.Write(SseEvent(type, std::move(data), &sequence))) {
      client_gone = true;
      generation.Cancel();
    }
  };
  const Json item_ref = {{"item_id", message_id}, {"output_index", 0}, {"content_index", 0}};
  if (request->stream) {
    exchange.StartStream(200, "text/event-stream");
    const Json pending =
        ResponseObject(id, created, *request, model_name, message_id, "in_progress", nullptr);
    send("response.created", {{"response", pending}});
    send("response.in_progress", {{"response", pending}});
    send("response.output_item.added", {{"output_index", 0},
                                        {"item",
                                         {{"type", "message"},
                                          {"id", message_id},
                                          {"status", "in_progress"},
                                          {"role", "assistant"},
                                          {"content", Json::array()}}}});
    Json added = item_ref;
    added["part"] = {{"type", "output_text"},
                     {"text", ""},
                     {"annotations", Json::array()},
                     {"logprobs", Json::array()}};
    send("response.content_part.added", added);
  }
  Generation::Event event;
  absl::Status failure;
  std::vector<int32_t> added_tokens;
  while (generation.Next(&event)) {
    outcome.text += event.text;
    if (request->stream && !event.text.empty()) {
      Json delta = item_ref;
      delta["delta"] = event.text;
      delta["logprobs"] = Json::array();
      send("response.output_text.delta", delta);
    }
    if (event.finished) {
      failure = event.status;
      outcome.reason = event.reason;
      outcome.output_tokens = event.generated;
      added_tokens = std::move(event.added);
    }
  }
  if (client_gone && failure.ok()) failure = absl::CancelledError("the client went away");
  if (failure.ok() && lease.valid()) {
    // Durable before acknowledged: the tokens (journal, synced), then the state (so that the
    // next turn computes only its own tokens, even after a crash), then the record.
    failure = on_work([&] {
      absl::Status committed = sessions.Commit(lease, added_tokens);
      if (committed.ok()) {
        if (absl::Status snap = sessions.Snapshot(lease); !snap.ok()) {
          LOG(WARNING) << "snapshot of response " << key << ": " << snap;
        }
      }
      return committed;
    });
  }
  const Json final_response = ResponseObject(
      id, created, *request, model_name, message_id,
      outcome.reason == engine::FinishReason::kLength ? "incomplete" : "completed", &outcome);
  if (failure.ok() && in_conversation) {  // the input and the answer join its items
    Json items = request->input_items;
    items.push_back(final_response["output"][0]);
    failure = conversations_->AppendItems(caller, request->conversation, std::move(items));
  }
  if (failure.ok() && request->store) {
    failure =
        store_.Put(key, Json{{"response", final_response}, {"input_items", request->input_items}});
  }
  if (!failure.ok()) {
    abandon();
    if (request->stream) {
      Json failed =
          ResponseObject(id, created, *request, model_name, message_id, "failed", nullptr);
      failed["error"] = {{"code", "server_error"}, {"message", std::string(failure.message())}};
      send("response.failed", {{"response", failed}});
    } else {
      RespondError(exchange, failure);
    }
    return;
  }
  release(lease);
  if (!request->stream) {
    exchange.Respond(200, "application/json",
                     final_response.dump(-1, ' ', false, Json::error_handler_t::replace));
    return;
  }
  const Json& item = final_response["output"][0];
  Json text_done = item_ref;
  text_done["text"] = outcome.text;
  text_done["logprobs"] = Json::array();
  send("response.output_text.done", text_done);
  Json part_done = item_ref;
  part_done["part"] = item["content"][0];
  send("response.content_part.done", part_done);
  send("response.output_item.done", {{"output_index", 0}, {"item", item}});
  send(final_response["status"] == "completed" ? "response.completed" : "response.incomplete",
       {{"response", final_response}});
}

std::optional<Json> ResponsesApi::RecordOrRespond(HttpExchange& exchange,
                                                  const service::Caller& caller,
                                                  const std::string& id) const {
  auto record = store_.Get(caller.Key(id));
  if (record.ok()) return *std::move(record);
  RespondError(exchange, record.status().code() == absl::StatusCode::kNotFound
                             ? NoSuchResponse("response_id", id)
                             : record.status());
  return std::nullopt;
}

void ResponsesApi::Get(HttpExchange& exchange, const service::Caller& caller,
                       const std::string& id) {
  const std::optional<Json> record = RecordOrRespond(exchange, caller, id);
  if (!record.has_value()) return;
  exchange.Respond(200, "application/json",
                   record->value("response", Json::object())
                       .dump(-1, ' ', false, Json::error_handler_t::replace));
}

void ResponsesApi::Delete(HttpExchange& exchange, const service::Caller& caller,
                          const std::string& id) {
  const std::string key = caller.Key(id);
  absl::Status status = store_.Delete(key);
  if (status.code() == absl::StatusCode::kNotFound) {
    RespondError(exchange, NoSuchResponse("response_id", id));
    return;
  }
  if (status.ok()) {
    status = context_.work.RunAndWait([&] { return context_.sessions.Delete(key); });
    if (status.code() == absl::StatusCode::kNotFound) status = absl::OkStatus();
  }
  if (!status.ok()) {
    RespondError(exchange, status);
    return;
  }
  exchange.Respond(200, "application/json",
                   Json{{"id", id}, {"object", "response"}, {"deleted", true}}.dump());
}

void ResponsesApi::InputItems(HttpExchange& exchange, const service::Caller& caller,
                              const std::string& id) {
  const std::optional<Json> record = RecordOrRespond(exchange, caller, id);
  if (!record.has_value()) return;
  Json items = Json::array();
  int n = 0;
  for (const Json& item : record->value("input_items", Json::array())) {
    Json copy = item;
    copy["id"] = absl::StrCat("msg_", id.size() > 5 ? id.substr(5) : id, "_", n++);
    items.push_back(std::move(copy));
  }
  Json page = {{"object", "list"},
               {"data", items},
               {"first_id", items.empty() ? Json(nullptr) : items.front()["id"]},
               {"last_id", items.empty() ? Json(nullptr) : items.back()["id"]},
               {"has_more", false}};
  exchange.Respond(200, "application/json",
                   page.dump(-1, ' ', false, Json::error_handler_t::replace));
}

}  // namespace infmem::http
