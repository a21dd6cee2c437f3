#include "server/service/infmem_service.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "server/common/status_macros.h"
#include "server/service/auth.h"
#include "server/service/chat_turn.h"
#include "server/service/generate_reactor.h"
#include "server/service/prefill_call.h"
#include "server/service/session_transfer.h"

namespace infmem::service {
namespace {

constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;

// Runs `body` (returning absl::Status) on the WorkQueue and finishes the call with it.
template <typename Body>
grpc::ServerUnaryReactor* OnWorkQueue(const ServiceContext& context,
                                      grpc::CallbackServerContext* call, absl::string_view method,
                                      Body body) {
  grpc::ServerUnaryReactor* reactor = call->DefaultReactor();
  const absl::Time start = absl::Now();
  context.work.Schedule([&context, reactor, method, start, body = std::move(body)]() mutable {
    reactor->Finish(Completed(context, method, start, body()));
  });
  return reactor;
}

// Fills `out` with the current description of the session with key `key`.
absl::Status Describe(const ServiceContext& context, const Caller& caller, const std::string& key,
                      v1::Session* out) {
  ASSIGN_OR_RETURN(const session::SessionInfo info, context.sessions.Get(key));
  ToProto(caller, info, context.model.StateBytes(), out);
  return absl::OkStatus();
}

// Returns the tokens of `text`, checked against the request limits.
absl::StatusOr<std::vector<int32_t>> EncodeText(const ServiceContext& context,
                                                absl::string_view field, absl::string_view text,
                                                bool special_tokens = false) {
  RETURN_IF_ERROR(ValidateText(field, text, context.limits));
  ASSIGN_OR_RETURN(std::vector<int32_t> ids, special_tokens
                                                 ? context.tokenizer.EncodeWithSpecialTokens(text)
                                                 : context.tokenizer.Encode(text));
  if (static_cast<int64_t>(ids.size()) > context.limits.max_token_ids) {
    return absl::ResourceExhaustedError(absl::StrCat(
        field, " is ", ids.size(), " tokens, over the limit of ", context.limits.max_token_ids));
  }
  return ids;
}

grpc::ServerUnaryReactor* RejectUnary(grpc::CallbackServerContext* call,
                                      const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = call->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

// Streaming reactors that end their call at once with a status.
template <typename Response>
class RejectedWrite final : public grpc::ServerWriteReactor<Response> {
 public:
  explicit RejectedWrite(const absl::Status& status) { this->Finish(ToGrpcStatus(status)); }
  void OnDone() override { delete this; }
};
template <typename Request>
class RejectedRead final : public grpc::ServerReadReactor<Request> {
 public:
  explicit RejectedRead(const absl::Status& status) { this->Finish(ToGrpcStatus(status)); }
  void OnDone() override { delete this; }
};

}  // namespace

void InfmemService::SetReady(ServiceContext context) {
  context_.emplace(std::move(context));
  ready_.store(true, std::memory_order_release);
}

absl::StatusOr<Caller> InfmemService::Admit(grpc::CallbackServerContext* call,
                                            absl::string_view method) {
  if (!ready()) return absl::UnavailableError("the server is loading its model; retry shortly");
  const ServiceContext& context = ready_context();
  if (context.auth == nullptr) return Caller{};
  const auto& metadata = call->client_metadata();
  auto header = metadata.find("authorization");
  const absl::string_view value =
      header == metadata.end() ? absl::string_view()
                               : absl::string_view(header->second.data(), header->second.size());
  absl::StatusOr<std::string> tenant = context.auth->Authenticate(value);
  if (!tenant.ok()) {
    Completed(context, method, absl::Now(), tenant.status());  // counts the refusal
    return tenant.status();
  }
  return Caller{*std::move(tenant)};
}

uint64_t InfmemService::NewSeed() {
  absl::MutexLock lock(&seed_mu_);
  uint64_t seed = 0;
  while (seed == 0) seed = absl::Uniform<uint64_t>(seed_gen_);
  return seed;
}

std::string InfmemService::NewId() { return absl::StrFormat("%016x", NewSeed()); }

grpc::ServerUnaryReactor* InfmemService::CreateSession(grpc::CallbackServerContext* call,
                                                       const v1::CreateSessionRequest* request,
                                                       v1::Session* response) {
  absl::StatusOr<Caller> admitted = Admit(call, "CreateSession");
  if (!admitted.ok()) return RejectUnary(call, admitted.status());
  grpc::ServerUnaryReactor* reactor = call->DefaultReactor();
  const absl::Time start = absl::Now();
  const ServiceContext& context = ready_context();
  const std::string id = request->session_id().empty() ? NewId() : request->session_id();
  context.work.Schedule(
      [&context, caller = *admitted, id, call, request, response, reactor, start] {
        auto finish = [&context, reactor, start](const absl::Status& status) {
          reactor->Finish(Completed(context, "CreateSession", start, status));
        };
        auto create = [&]() -> absl::StatusOr<session::SessionLease> {
          RETURN_IF_ERROR(ValidateIdField("session_id", id));
          std::vector<int32_t> tokens;
          if (!request->text().empty()) {
            ASSIGN_OR_RETURN(tokens, EncodeText(context, "text", request->text()));
          }
          ASSIGN_OR_RETURN(session::SessionLease lease,
                           context.sessions.CreateSession(caller.Key(id), request->seed()));
          if (tokens.empty()) return lease;
          PrefillCall::Run(
              context, std::move(lease), std::move(tokens), absl::FromChrono(call->deadline()),
              [call] { return call->IsCancelled(); },
              [&context, caller, response, finish](const absl::Status& status,
                                                   const std::string& key, int64_t) {
                finish(status.ok() ? Describe(context, caller, key, response) : status);
              });
          return session::SessionLease();  // PrefillCall finishes the call
        };
        absl::StatusOr<session::SessionLease> lease = create();
        if (!lease.ok()) return finish(lease.status());
        if (!lease->valid()) return;
        const std::string key = lease->session().record.id;
        lease->Reset();
        finish(Describe(context, caller, key, response));
      });
  return reactor;
}

grpc::ServerUnaryReactor* InfmemService::GetSession(grpc::CallbackServerContext* call,
                                                    const v1::GetSessionRequest* request,
                                                    v1::Session* response) {
  absl::StatusOr<Caller> admitted = Admit(call, "GetSession");
  if (!admitted.ok()) return RejectUnary(call, admitted.status());
  const ServiceContext& context = ready_context();
  return OnWorkQueue(
      context, call, "GetSession", [&context, caller = *admitted, request, response] {
        RETURN_IF_ERROR(ValidateIdField("session_id", request->session_id()));
        return Describe(context, caller, caller.Key(request->session_id()), response);
      });
}

grpc::ServerUnaryReactor* InfmemService::ListSessions(grpc::CallbackServerContext* call,
                                                      const v1::ListSessionsRequest* request,
                                                      v1::ListSessionsResponse* response) {
  absl::StatusOr<Caller> admitted = Admit(call, "ListSessions");
  if (!admitted.ok()) return RejectUnary(call, admitted.status());
  const ServiceContext& context = ready_context();
  return OnWorkQueue(
      context, call, "ListSessions",
      [&context, caller = *admitted, request, response]() -> absl::Status {
        if (request->page_size() < 0) {
          return absl::InvalidArgumentError(
              absl::StrCat("page_size must be >= 0, got ", request->page_size()));
        }
        std::string after;  // the last id of the previous page
        if (!request->page_token().empty()) {
          ASSIGN_OR_RETURN(after, DecodePageToken(request->page_token()));
          RETURN_IF_ERROR(ValidateIdField("page_token", after));
        }
        const int page_size = request->page_size() == 0
                                  ? kDefaultPageSize
                                  : std::min(request->page_size(), kMaxPageSize);
        bool more = false;
        ASSIGN_OR_RETURN(
            const std::vector<session::SessionInfo> page,
            context.sessions.List(caller.Prefix(), caller.Key(after), page_size, &more));
        for (const session::SessionInfo& info : page) {
          ToProto(caller, info, context.model.StateBytes(), response->add_sessions());
        }
        if (more && !page.empty()) {
          response->set_next_page_token(EncodePageToken(caller.External(page.back().id)));
        }
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* InfmemService::DeleteSession(grpc::CallbackServerContext* call,
                                                       const v1::DeleteSessionRequest* request,
                                                       v1::DeleteSessionResponse*) {
  absl::StatusOr<Caller> admitted = Admit(call, "DeleteSession");
  if (!admitted.ok()) return RejectUnary(call, admitted.status());
  const ServiceContext& context = ready_context();
  return OnWorkQueue(context, call, "DeleteSession", [&context, caller = *admitted, request] {
    RETURN_IF_ERROR(ValidateIdField("session_id", request->session_id()));
    return context.sessions.Delete(caller.Key(request->session_id()));
  });
}

grpc::ServerUnaryReactor* InfmemService::ForkSession(grpc::CallbackServerContext* call,
                                                     const v1::ForkSessionRequest* request,
                                                     v1::Session* response) {
  absl::StatusOr<Caller> admitted = Admit(call, "ForkSession");
  if (!admitted.ok()) return RejectUnary(call, admitted.status());
  const ServiceContext& context = ready_context();
  const std::string new_id =
      request->new_session_id().empty() ? NewId() : request->new_session_id();
  return OnWorkQueue(
      context, call, "ForkSession", [&context, caller = *admitted, new_id, request, response] {
        RETURN_IF_ERROR(ValidateIdField("session_id", request->session_id()));
        RETURN_IF_ERROR(ValidateIdField("new_session_id", new_id));
        ASSIGN_OR_RETURN(session::SessionLease lease,
                         context.sessions.Acquire(caller.Key(request->session_id())));
        ASSIGN_OR_RETURN(const session::SessionInfo info,
                         context.sessions.Fork(lease, caller.Key(new_id)));
        ToProto(caller, info, context.model.StateBytes(), response);
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* InfmemService::Append(grpc::CallbackServerContext* call,
                                                const v1::AppendRequest* request,
                                                v1::AppendResponse* response) {
  absl::StatusOr<Caller> admitted = Admit(call, "Append");
  if (!admitted.ok()) return RejectUnary(call, admitted.status());
  grpc::ServerUnaryReactor* reactor = call->DefaultReactor();
  const absl::Time start = absl::Now();
  const ServiceContext& context = ready_context();
  context.work.Schedule([&context, caller = *admitted, call, request, response, reactor, start] {
    auto finish = [&context, reactor, start](const absl::Status& status) {
      reactor->Finish(Completed(context, "Append", start, status));
    };
    auto submit = [&]() -> absl::Status {
      RETURN_IF_ERROR(ValidateIdField("session_id", request->session_id()));
      std::vector<int32_t> tokens;
      switch (request->input_case()) {
        case v1::AppendRequest::kText: {
          ASSIGN_OR_RETURN(tokens,
                           EncodeText(context, "text", request->text(), request->special_tokens()));
          break;
        }
        case v1::AppendRequest::kChat:
          break;  // rendered below, after what the session holds
        case v1::AppendRequest::kTokenIds: {
          ASSIGN_OR_RETURN(tokens,
                           TokenIdsFromProto("token_ids.ids", request->token_ids().ids(),
                                             context.model.config().vocab_size, context.limits));
          break;
        }
        case v1::AppendRequest::INPUT_NOT_SET:
          return absl::InvalidArgumentError("input: give text, token_ids or chat");
      }
      const bool chat = request->input_case() == v1::AppendRequest::kChat;
      if (tokens.empty() && !chat) {
        return absl::InvalidArgumentError("input is empty: nothing to append");
      }
      ASSIGN_OR_RETURN(session::SessionLease lease,
                       context.sessions.Acquire(caller.Key(request->session_id())));
      const uint64_t seq = request->client_seq();
      if (seq != 0 && seq <= lease.session().client_seq) {
        // A retry of a call already applied: acknowledge it again, append nothing.
        response->set_duplicate(true);
        response->set_session_tokens(lease.session().journaled_tokens);
        lease.Reset();
        finish(absl::OkStatus());
        return absl::OkStatus();
      }
      if (chat) {
        ASSIGN_OR_RETURN(tokens, ChatTurnTokens(context, request->chat(), false, lease.session()));
        if (tokens.empty()) {
          return absl::InvalidArgumentError(
              "chat: the template renders nothing for these messages");
        }
      }
      const int64_t appended = static_cast<int64_t>(tokens.size());
      PrefillCall::Run(
          context, std::move(lease), std::move(tokens), absl::FromChrono(call->deadline()),
          [call] { return call->IsCancelled(); },
          [response, appended, finish](const absl::Status& status, const std::string&,
                                       int64_t session_tokens) {
            response->set_appended_tokens(appended);
            response->set_session_tokens(session_tokens);
            finish(status);
          },
          seq);
      return absl::OkStatus();
    };
    if (absl::Status status = submit(); !status.ok()) finish(status);
  });
  return reactor;
}

grpc::ServerWriteReactor<v1::GenerateResponse>* InfmemService::Generate(
    grpc::CallbackServerContext* call, const v1::GenerateRequest* request) {
  absl::StatusOr<Caller> admitted = Admit(call, "Generate");
  if (!admitted.ok()) return new RejectedWrite<v1::GenerateResponse>(admitted.status());
  return new GenerateReactor(ready_context(), *admitted, call, request, NewSeed());
}

grpc::ServerUnaryReactor* InfmemService::Tokenize(grpc::CallbackServerContext* call,
                                                  const v1::TokenizeRequest* request,
                                                  v1::TokenizeResponse* response) {
  absl::StatusOr<Caller> admitted = Admit(call, "Tokenize");
  if (!admitted.ok()) return RejectUnary(call, admitted.status());
  const ServiceContext& context = ready_context();
  return OnWorkQueue(context, call, "Tokenize", [&context, request, response] {
    ASSIGN_OR_RETURN(const std::vector<int32_t> ids, EncodeText(context, "text", request->text()));
    response->mutable_token_ids()->Add(ids.begin(), ids.end());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* InfmemService::Detokenize(grpc::CallbackServerContext* call,
                                                    const v1::DetokenizeRequest* request,
                                                    v1::DetokenizeResponse* response) {
  absl::StatusOr<Caller> admitted = Admit(call, "Detokenize");
  if (!admitted.ok()) return RejectUnary(call, admitted.status());
  const ServiceContext& context = ready_context();
  return OnWorkQueue(context, call, "Detokenize", [&context, request, response] {
    ASSIGN_OR_RETURN(const std::vector<int32_t> ids,
                     TokenIdsFromProto("token_ids", request->token_ids(),
                                       context.model.config().vocab_size, context.limits));
    ASSIGN_OR_RETURN(*response->mutable_text(), context.tokenizer.Decode(ids));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* InfmemService::GetModel(grpc::CallbackServerContext* call,
                                                  const v1::GetModelRequest*, v1::Model* response) {
  absl::StatusOr<Caller> admitted = Admit(call, "GetModel");
  if (!admitted.ok()) return RejectUnary(call, admitted.status());
  const ServiceContext& context = ready_context();
  const model::Model& m = context.model;
  const model::ModelConfig& c = m.config();
  response->set_name(c.name);
  response->set_memory(std::string(model::MemoryModeName(c.memory)));
  response->set_vocab_size(c.vocab_size);
  response->set_dim(c.dim);
  response->set_layers(c.n_layers);
  response->set_heads(c.n_heads);
  response->set_segment_length(c.segment_length);
  response->set_num_basis(c.memory == model::MemoryMode::kInfinite ? c.ltm.num_basis : 0);
  response->set_parameters(m.ParameterCount());
  response->set_state_bytes_per_session(m.StateBytes());
  response->set_device(m.device());
  response->set_fingerprint(m.fingerprint());
  if (context.chat_template != nullptr) {
    response->set_chat_template(context.chat_template->source());
    response->set_chat_template_builtin(context.chat_template->builtin());
  }
  for (const int32_t id : context.tokenizer.end_of_turn_ids()) response->add_end_of_turn_ids(id);
  grpc::ServerUnaryReactor* reactor = call->DefaultReactor();
  reactor->Finish(Completed(context, "GetModel", absl::Now(), absl::OkStatus()));
  return reactor;
}

grpc::ServerWriteReactor<v1::SessionChunk>* InfmemService::ExportSession(
    grpc::CallbackServerContext* call, const v1::ExportSessionRequest* request) {
  absl::StatusOr<Caller> admitted = Admit(call, "ExportSession");
  if (!admitted.ok()) return new RejectedWrite<v1::SessionChunk>(admitted.status());
  return new ExportReactor(ready_context(), *admitted, request);
}

grpc::ServerReadReactor<v1::ImportSessionRequest>* InfmemService::ImportSession(
    grpc::CallbackServerContext* call, v1::Session* response) {
  absl::StatusOr<Caller> admitted = Admit(call, "ImportSession");
  if (!admitted.ok()) return new RejectedRead<v1::ImportSessionRequest>(admitted.status());
  return new ImportReactor(ready_context(), *admitted, response);
}

}  // namespace infmem::service
