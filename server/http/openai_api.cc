#include "server/http/openai_api.h"

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "nlohmann/json.hpp"
#include "server/common/status_macros.h"
#include "server/http/generation.h"
#include "server/http/openai_request.h"
#include "server/service/auth.h"
#include "server/tokenizer/chat_template.h"

namespace infmem::http {
namespace {

using Json = nlohmann::ordered_json;

const char* ErrorType(int http_status) {
  switch (http_status) {
    case 401:
      return "authentication_error";
    case 404:
      return "not_found_error";
    case 409:
      return "conflict_error";
    case 429:
      return "rate_limit_error";
    case 503:
      return "unavailable_error";
    case 504:
      return "timeout_error";
    default:
      return http_status < 500 ? "invalid_request_error" : "server_error";
  }
}

std::string Payload(const absl::Status& status, absl::string_view url) {
  const auto payload = status.GetPayload(url);
  return payload.has_value() ? std::string(*payload) : "";
}

Json ErrorJson(const absl::Status& status) {
  const int http = HttpStatusOf(status);
  const std::string param = Payload(status, kParamPayload);
  const std::string code = Payload(status, kCodePayload);
  return Json{{"error",
               {{"message", std::string(status.message())},
                {"type", ErrorType(http)},
                {"param", param.empty() ? Json(nullptr) : Json(param)},
                {"code", code.empty() ? Json(nullptr) : Json(code)}}}};
}

const char* FinishReasonName(engine::FinishReason reason) {
  return reason == engine::FinishReason::kLength ? "length" : "stop";
}

std::string SseEvent(const Json& data) { return absl::StrCat("data: ", data.dump(), "\n\n"); }

}  // namespace

int HttpStatusOf(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kPermissionDenied:
      return 401;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kAlreadyExists:
      return 409;
    case absl::StatusCode::kResourceExhausted:
      return Payload(status, kCodePayload) == "request_too_large" ? 413 : 429;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    case absl::StatusCode::kCancelled:
      return 499;
    default:
      return 500;
  }
}

void RespondError(HttpExchange& exchange, const absl::Status& status) {
  exchange.Respond(HttpStatusOf(status), "application/json", ErrorJson(status).dump());
}

void RespondMethodNotAllowed(HttpExchange& exchange, absl::string_view allowed) {
  exchange.Respond(
      405, "application/json",
      ErrorJson(ParamError("", absl::StrCat(exchange.method(), " is not allowed on ",
                                            exchange.path().substr(0, 128), "; use ", allowed)))
          .dump(),
      {{"Allow", std::string(allowed)}});
}

OpenAiApi::OpenAiApi(const service::ServiceContext& context, OpenAiOptions options)
    : context_(context),
      options_(options),
      nonce_(absl::BitGen()()),
      prefix_cache_(context.sessions, context.model, options.prefix_cache) {
  if (options_.responses != nullptr) {
    const auto new_id = [this](const char* prefix) { return NewId(prefix); };
    conversations_ = std::make_unique<ConversationsApi>(context_, *options_.responses, new_id,
                                                        options_.max_body_bytes);
    responses_ = std::make_unique<ResponsesApi>(context_, *options_.responses, new_id,
                                                options_.max_body_bytes, conversations_.get());
  }
}

std::string OpenAiApi::NewId(const char* prefix) {
  char hex[40];
  std::snprintf(hex, sizeof(hex), "%016llx%08llx", static_cast<unsigned long long>(nonce_),
                static_cast<unsigned long long>(counter_.fetch_add(1) & 0xffffffffULL));
  return absl::StrCat(prefix, hex);
}

void OpenAiApi::Handle(HttpExchange& exchange) {
  const absl::Time start = absl::Now();
  std::string route = exchange.path();
  if (absl::StartsWith(route, "/v1/models/")) route = "/v1/models/{id}";
  if (absl::StartsWith(route, "/v1/responses/")) {
    route = absl::EndsWith(route, "/input_items") ? "/v1/responses/{id}/input_items"
                                                  : "/v1/responses/{id}";
  }
  if (absl::StartsWith(route, "/v1/conversations/")) {
    route =
        absl::EndsWith(route, "/items") ? "/v1/conversations/{id}/items" : "/v1/conversations/{id}";
  }
  if (draining_.load()) {
    RespondError(exchange, absl::UnavailableError("the server is shutting down"));
  } else {
    service::Caller caller;
    bool authenticated = true;
    if (context_.auth != nullptr && route != "/health") {
      auto tenant = context_.auth->Authenticate(exchange.Header("authorization"));
      if (tenant.ok()) {
        caller.tenant = *tenant;
      } else {
        authenticated = false;
        RespondError(exchange,
                     absl::UnauthenticatedError(
                         "missing or unknown bearer token (Authorization: Bearer <token>)"));
      }
    }
    if (authenticated) Route(exchange, route, caller);
  }
  // infmem_request_duration_seconds{method="POST /v1/chat/completions", code="200"}; routes
  // outside the API are counted under one name so that a scan cannot grow the label set.
  const bool known = route == "/health" || route == "/v1/models" || route == "/v1/models/{id}" ||
                     route == "/v1/chat/completions" || route == "/v1/completions" ||
                     route == "/v1/responses" || route == "/v1/responses/{id}" ||
                     route == "/v1/responses/{id}/input_items" || route == "/v1/conversations" ||
                     route == "/v1/conversations/{id}" || route == "/v1/conversations/{id}/items";
  context_.metrics.ObserveRequest(
      known ? absl::StrCat(exchange.method().size() <= 8 ? exchange.method() : "OTHER", " ", route)
            : "HTTP other",
      std::to_string(exchange.responded() ? exchange.status() : 500),
      absl::ToDoubleSeconds(absl::Now() - start));
}

void OpenAiApi::Route(HttpExchange& exchange, const std::string& route,
                      const service::Caller& caller) {
  const std::string& method = exchange.method();
  if (route == "/health") {
    exchange.Respond(200, "application/json", R"({"status":"ok"})");
    return;
  }
  if (absl::StartsWith(route, "/v1/responses") && responses_ != nullptr) {
    RouteResponses(exchange, caller);
    return;
  }
  if (absl::StartsWith(route, "/v1/conversations") && conversations_ != nullptr) {
    conversations_->Route(exchange, caller);
    return;
  }
  const auto only = [&](const char* allowed) {
    if (method == allowed) return true;
    RespondMethodNotAllowed(exchange, allowed);
    return false;
  };
  if (route == "/v1/models") {
    if (only("GET")) Models(exchange, "");
  } else if (route == "/v1/models/{id}") {
    if (only("GET")) Models(exchange, exchange.path().substr(std::string("/v1/models/").size()));
  } else if (route == "/v1/chat/completions") {
    if (only("POST")) Complete(exchange, caller, true);
  } else if (route == "/v1/completions") {
    if (only("POST")) Complete(exchange, caller, false);
  } else {
    RespondError(exchange, absl::NotFoundError(absl::StrCat("no route ", route.substr(0, 128))));
  }
}

void OpenAiApi::RouteResponses(HttpExchange& exchange, const service::Caller& caller) {
  const std::string& method = exchange.method();
  const std::string& path = exchange.path();
  const auto allow = [&](const char* allowed) { RespondMethodNotAllowed(exchange, allowed); };
  if (path == "/v1/responses") {
    if (method == "POST") {
      responses_->Create(exchange, caller);
    } else {
      allow("POST");
    }
    return;
  }
  std::string id = path.substr(std::string("/v1/responses/").size());
  const bool items = absl::EndsWith(id, "/input_items");
  if (items) id = id.substr(0, id.size() - std::string("/input_items").size());
  if (absl::Status valid = service::ValidateIdField("response_id", id); !valid.ok()) {
    RespondError(exchange, absl::NotFoundError(
                               absl::StrCat("no response with id '", id.substr(0, 128), "'")));
    return;
  }
  if (items) {
    if (method == "GET") {
      responses_->InputItems(exchange, caller, id);
    } else {
      allow("GET");
    }
  } else if (method == "GET") {
    responses_->Get(exchange, caller, id);
  } else if (method == "DELETE") {
    responses_->Delete(exchange, caller, id);
  } else {
    allow("GET, DELETE");
  }
}

void OpenAiApi::Models(HttpExchange& exchange, const std::string& id) {
  const model::ModelConfig& c = context_.model.config();
  Json model = {{"id", c.name},
                {"object", "model"},
                {"created", 0},
                {"owned_by", "infmem"},
                {"meta",
                 {{"memory", std::string(model::MemoryModeName(c.memory))},
                  {"vocab_size", c.vocab_size},
                  {"parameters", context_.model.ParameterCount()},
                  {"state_bytes_per_session", context_.model.StateBytes()}}}};
  if (!id.empty()) {
    if (id != c.name) {
      absl::Status missing =
          absl::NotFoundError(absl::StrCat("the model '", id.substr(0, 128), "' does not exist"));
      missing.SetPayload(kParamPayload, absl::Cord("model"));
      missing.SetPayload(kCodePayload, absl::Cord("model_not_found"));
      RespondError(exchange, missing);
      return;
    }
    exchange.Respond(200, "application/json", model.dump());
    return;
  }
  exchange.Respond(200, "application/json",
                   Json{{"object", "list"}, {"data", Json::array({model})}}.dump());
}

std::optional<std::string> ReadBodyOrRespond(HttpExchange& exchange, size_t max_bytes) {
  auto body = exchange.ReadBody(max_bytes);
  if (body.ok()) return *std::move(body);
  absl::Status status = body.status();
  if (status.code() == absl::StatusCode::kResourceExhausted) {
    status.SetPayload(kCodePayload, absl::Cord("request_too_large"));
  }
  RespondError(exchange, status);
  return std::nullopt;
}

void OpenAiApi::Complete(HttpExchange& exchange, const service::Caller& caller, bool chat) {
  const std::optional<std::string> body = ReadBodyOrRespond(exchange, options_.max_body_bytes);
  if (!body.has_value()) return;
  const uint64_t default_seed = absl::BitGen()() | 1;
  auto request = chat ? ParseChatCompletionRequest(*body, context_.limits, default_seed)
                      : ParseCompletionRequest(*body, context_.limits, default_seed);
  if (!request.ok()) {
    RespondError(exchange, request.status());
    return;
  }
  // The prompt's tokens.
  std::vector<int32_t> prompt;
  if (chat) {
    if (context_.chat_template == nullptr) {
      RespondError(exchange, absl::FailedPreconditionError("this server has no chat template"));
      return;
    }
    const bool holds_bos = context_.tokenizer.bos_id() >= 0;
    auto turn =
        context_.chat_template->TurnText(Json::array(), request->messages, true,
                                         request->template_variables, false, holds_bos, false);
    if (!turn.ok()) {
      RespondError(exchange, ParamError("messages",
                                        absl::StrCat("chat template: ", turn.status().message())));
      return;
    }
    auto ids = context_.tokenizer.EncodeWithSpecialTokens(turn->text, turn->literal);
    if (!ids.ok()) {
      RespondError(exchange, ids.status());
      return;
    }
    prompt = *std::move(ids);
  } else {
    auto ids = context_.tokenizer.Encode(request->prompt);
    if (!ids.ok()) {
      RespondError(exchange, ParamError("prompt", ids.status().message()));
      return;
    }
    prompt = *std::move(ids);
  }
  if (static_cast<int64_t>(prompt.size()) > context_.limits.max_token_ids) {
    RespondError(exchange, ParamError(chat ? "messages" : "prompt",
                                      absl::StrCat("the prompt is ", prompt.size(),
                                                   " tokens, over the limit of ",
                                                   context_.limits.max_token_ids),
                                      "context_length_exceeded"));
    return;
  }

  // Reuse (one choice): start from the longest conversation this caller already computed,
  // feed the rest of the prompt, and keep a copy of that state for the cache.
  const int32_t bos = context_.tokenizer.bos_id();
  std::vector<int32_t> sequence;  // the session's whole token sequence: BOS, then the prompt
  if (bos >= 0) sequence.push_back(bos);
  sequence.insert(sequence.end(), prompt.begin(), prompt.end());
  const bool reuse = prefix_cache_.enabled() && request->n == 1;
  PrefixCache::Start start;
  std::unique_ptr<session::Session> prompt_state;
  int64_t cached_tokens = 0;
  std::vector<int32_t> run_prompt = prompt;
  const auto copy_of = [this](const session::Session& s) {
    return context_.work.RunAndWait([&] {
      auto copy = std::make_unique<session::Session>(s.record, context_.model.Clone(*s.state));
      copy->pending = s.pending;
      return copy;
    });
  };
  if (reuse) {
    start = context_.work.RunAndWait(
        [&] { return prefix_cache_.Begin(caller, sequence, request->sampling.seed, bos >= 0); });
    cached_tokens = std::max<int64_t>(0, start.session->state->tokens_seen() - (bos >= 0 ? 1 : 0));
    const absl::Status fed = RunPrefill(
        context_, start.session.get(),
        std::vector<int32_t>(sequence.begin() + static_cast<int64_t>(start.held), sequence.end()));
    if (!fed.ok()) {
      RespondError(exchange, fed);
      return;
    }
    prompt_state = copy_of(*start.session);
    run_prompt.clear();
  }
  context_.metrics.AddCachedPromptTokens(cached_tokens);

  const std::string id = NewId(chat ? "chatcmpl-" : "cmpl-");
  const int64_t created = absl::ToUnixSeconds(absl::Now());
  const std::string& model_name = context_.model.config().name;
  const std::string fingerprint = context_.model.fingerprint().substr(0, 16);
  Generation generation(context_, *request, run_prompt, absl::InfiniteFuture(),
                        reuse ? start.session.get() : nullptr);
  if (absl::Status started = generation.Start(); !started.ok()) {
    RespondError(exchange, started);
    return;
  }
  const int n = request->n;
  std::vector<std::string> texts(n);
  std::vector<std::string> finish(n);
  int64_t generated = 0;
  absl::Status failure;
  const auto envelope = [&]() {
    return Json{{"id", id},
                {"object", chat ? "chat.completion.chunk" : "text_completion"},
                {"created", created},
                {"model", model_name},
                {"system_fingerprint", fingerprint}};
  };
  bool client_gone = false;
  const auto send = [&](const Json& data) {
    if (client_gone) return;
    if (!exchange.Write(SseEvent(data))) {
      client_gone = true;
      generation.Cancel();
    }
  };
  if (request->stream) {
    exchange.StartStream(200, "text/event-stream");
    for (int i = 0; i < n; ++i) {
      Json chunk = envelope();
      Json choice = {{"index", i}};
      if (chat) {
        choice["delta"] = {{"role", "assistant"}, {"content", ""}};
      } else {
        choice["text"] = request->echo ? request->prompt : "";
      }
      choice["logprobs"] = nullptr;
      choice["finish_reason"] = nullptr;
      chunk["choices"] = Json::array({choice});
      if (request->include_usage) chunk["usage"] = nullptr;
      if (chat || request->echo) send(chunk);
    }
  }
  Generation::Event event;
  while (generation.Next(&event)) {
    if (event.finished) {
      generated += event.generated;
      if (!event.status.ok() && event.status.code() != absl::StatusCode::kCancelled)
        failure = event.status;
      finish[event.choice] = FinishReasonName(event.reason);
    }
    texts[event.choice] += event.text;
    if (!request->stream) continue;
    if (!event.text.empty() || event.finished) {
      Json chunk = envelope();
      Json choice = {{"index", event.choice}};
      if (chat) {
        choice["delta"] = event.text.empty() ? Json::object() : Json{{"content", event.text}};
      } else {
        choice["text"] = event.text;
      }
      choice["logprobs"] = nullptr;
      choice["finish_reason"] = event.finished ? Json(finish[event.choice]) : Json(nullptr);
      chunk["choices"] = Json::array({choice});
      if (request->include_usage) chunk["usage"] = nullptr;
      if (!event.text.empty() && event.finished && chat) {
        // The text first, then its end, as separate chunks (as OpenAI sends them).
        Json text_chunk = chunk;
        text_chunk["choices"][0]["finish_reason"] = nullptr;
        send(text_chunk);
        chunk["choices"][0]["delta"] = Json::object();
      }
      send(chunk);
    }
  }
  if (reuse && failure.ok() && !client_gone) {
    // Cache the prompt's state, and the state of the prompt the next turn will send: this
    // conversation with the reply, rendered and tokenized as a client resending it gets it.
    context_.work.RunAndWait([&] {
      prefix_cache_.Put(caller, sequence, *prompt_state);
      return 0;
    });
    absl::StatusOr<std::vector<int32_t>> next;
    if (chat) {
      Json messages = request->messages;
      messages.push_back({{"role", "assistant"}, {"content", texts[0]}});
      auto turn = context_.chat_template->TurnText(
          Json::array(), messages, false, request->template_variables, false, bos >= 0, false);
      next = turn.ok() ? context_.tokenizer.EncodeWithSpecialTokens(turn->text, turn->literal)
                       : absl::StatusOr<std::vector<int32_t>>(turn.status());
    } else {
      next = context_.tokenizer.Encode(request->prompt + texts[0]);
    }
    if (next.ok()) {
      std::vector<int32_t> following;
      if (bos >= 0) following.push_back(bos);
      following.insert(following.end(), next->begin(), next->end());
      if (following.size() > sequence.size() &&
          std::equal(sequence.begin(), sequence.end(), following.begin())) {
        std::unique_ptr<session::Session> after = copy_of(*prompt_state);
        if (RunPrefill(
                context_, after.get(),
                std::vector<int32_t>(following.begin() + static_cast<int64_t>(sequence.size()),
                                     following.end()))
                .ok()) {
          context_.work.RunAndWait([&] {
            prefix_cache_.Put(caller, following, *after);
            after.reset();
            return 0;
          });
        }
      }
    }
  }
  if (prompt_state != nullptr || start.session != nullptr) {
    context_.work.RunAndWait([&] {  // torch frees, off the HTTP worker's stack
      prompt_state.reset();
      start.session.reset();
      return 0;
    });
  }
  const int64_t prompt_tokens = static_cast<int64_t>(prompt.size());
  const Json usage = {{"prompt_tokens", prompt_tokens},
                      {"completion_tokens", generated},
                      {"total_tokens", prompt_tokens + generated},
                      {"prompt_tokens_details", {{"cached_tokens", cached_tokens}}}};
  if (request->stream) {
    if (!failure.ok()) send(ErrorJson(failure));
    if (request->include_usage) {
      Json chunk = envelope();
      chunk["choices"] = Json::array();
      chunk["usage"] = usage;
      send(chunk);
    }
    if (!client_gone) exchange.Write("data: [DONE]\n\n");
    return;
  }
  if (!failure.ok()) {
    RespondError(exchange, failure);
    return;
  }
  Json choices = Json::array();
  for (int i = 0; i < n; ++i) {
    if (chat) {
      choices.push_back(
          {{"index", i},
           {"message", {{"role", "assistant"}, {"content", texts[i]}, {"refusal", nullptr}}},
           {"logprobs", nullptr},
           {"finish_reason", finish[i]}});
    } else {
      choices.push_back({{"index", i},
                         {"text", request->echo ? request->prompt + texts[i] : texts[i]},
                         {"logprobs", nullptr},
                         {"finish_reason", finish[i]}});
    }
  }
  Json response = {{"id", id},
                   {"object", chat ? "chat.completion" : "text_completion"},
                   {"created", created},
                   {"model", model_name},
                   {"system_fingerprint", fingerprint},
                   {"choices", choices},
                   {"usage", usage}};
  exchange.Respond(200, "application/json", response.dump());
}

}  // namespace infmem::http
