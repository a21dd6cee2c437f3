#include "server/service/infmem_service.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/common/status_macros.h"
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

// Fills `out` with the current description of session `id`.
absl::Status Describe(const ServiceContext& context, const std::string& id, v1::Session* out) {
  ASSIGN_OR_RETURN(const session::SessionInfo info, context.sessions.Get(id));
  ToProto(info, context.model.StateBytes(), out);
  return absl::OkStatus();
}

// Returns the tokens of `text`, checked against the request limits.
absl::StatusOr<std::vector<int32_t>> EncodeText(const ServiceContext& context,
                                                absl::string_view field, absl::string_view text) {
  RETURN_IF_ERROR(ValidateText(field, text, context.limits));
  ASSIGN_OR_RETURN(std::vector<int32_t> ids, context.tokenizer.Encode(text));
  if (static_cast<int64_t>(ids.size()) > context.limits.max_token_ids) {
    return absl::ResourceExhaustedError(absl::StrCat(
        field, " is ", ids.size(), " tokens, over the limit of ", context.limits.max_token_ids));
  }
  return ids;
}

const grpc::Status kLoading(grpc::StatusCode::UNAVAILABLE,
                            "the server is loading its model; retry shortly");

grpc::ServerUnaryReactor* RejectUnary(grpc::CallbackServerContext* call) {
  grpc::ServerUnaryReactor* reactor = call->DefaultReactor();
  reactor->Finish(kLoading);
  return reactor;
}

// Streaming reactors that end their call at once with kLoading.
template <typename Response>
class RejectedWrite final : public grpc::ServerWriteReactor<Response> {
 public:
  RejectedWrite() { this->Finish(kLoading); }
  void OnDone() override { delete this; }
};
template <typename Request>
class RejectedRead final : public grpc::ServerReadReactor<Request> {
 public:
  RejectedRead() { this->Finish(kLoading); }
  void OnDone() override { delete this; }
};

}  // namespace

void InfmemService::SetReady(ServiceContext context) {
  context_.emplace(std::move(context));
  ready_.store(true, std::memory_order_release);
}

uint64_t InfmemService::NewSeed() {
  absl::MutexLock lock(&seed_mu_);
  uint64_t seed = 0;
  while (seed == 0) seed = absl::Uniform<uint64_t>(seed_gen_);
  return seed;
}

grpc::ServerUnaryReactor* InfmemService::CreateSession(grpc::CallbackServerContext* call,
                                                       const v1::CreateSessionRequest* request,
                                                       v1::Session* response) {
  if (!ready()) return RejectUnary(call);
  grpc::ServerUnaryReactor* reactor = call->DefaultReactor();
  const absl::Time start = absl::Now();
  const ServiceContext& context = ready_context();
  context.work.Schedule([&context, call, request, response, reactor, start] {
    auto finish = [&context, reactor, start](const absl::Status& status) {
      reactor->Finish(Completed(context, "CreateSession", start, status));
    };
    auto create = [&]() -> absl::StatusOr<session::SessionLease> {
      if (!request->session_id().empty()) {
        RETURN_IF_ERROR(ValidateIdField("session_id", request->session_id()));
      }
      std::vector<int32_t> tokens;
      if (!request->text().empty()) {
        ASSIGN_OR_RETURN(tokens, EncodeText(context, "text", request->text()));
      }
      ASSIGN_OR_RETURN(session::SessionLease lease,
                       context.sessions.CreateSession(request->session_id(), request->seed()));
      if (tokens.empty()) return lease;
      PrefillCall::Run(
          context, std::move(lease), std::move(tokens), absl::FromChrono(call->deadline()),
          [call] { return call->IsCancelled(); },
          [&context, response, finish](const absl::Status& status, const std::string& id, int64_t) {
            finish(status.ok() ? Describe(context, id, response) : status);
          });
      return session::SessionLease();  // PrefillCall finishes the call
    };
    absl::StatusOr<session::SessionLease> lease = create();
    if (!lease.ok()) return finish(lease.status());
    if (!lease->valid()) return;
    const std::string id = lease->session().record.id;
    lease->Reset();
    finish(Describe(context, id, response));
  });
  return reactor;
}

grpc::ServerUnaryReactor* InfmemService::GetSession(grpc::CallbackServerContext* call,
                                                    const v1::GetSessionRequest* request,
                                                    v1::Session* response) {
  if (!ready()) return RejectUnary(call);
  return OnWorkQueue(ready_context(), call, "GetSession", [this, request, response] {
    RETURN_IF_ERROR(ValidateIdField("session_id", request->session_id()));
    return Describe(ready_context(), request->session_id(), response);
  });
}

grpc::ServerUnaryReactor* InfmemService::ListSessions(grpc::CallbackServerContext* call,
                                                      const v1::ListSessionsRequest* request,
                                                      v1::ListSessionsResponse* response) {
  if (!ready()) return RejectUnary(call);
  return OnWorkQueue(
      ready_context(), call, "ListSessions", [this, request, response]() -> absl::Status {
        if (request->page_size() < 0) {
          return absl::InvalidArgumentError(
              absl::StrCat("page_size must be >= 0, got ", request->page_size()));
        }
        if (!request->page_token().empty()) {
          RETURN_IF_ERROR(ValidateIdField("page_token", request->page_token()));
        }
        const int page_size = request->page_size() == 0
                                  ? kDefaultPageSize
                                  : std::min(request->page_size(), kMaxPageSize);
        bool more = false;
        ASSIGN_OR_RETURN(const std::vector<session::SessionInfo> page,
                         ready_context().sessions.List(request->page_token(), page_size, &more));
        for (const session::SessionInfo& info : page) {
          ToProto(info, ready_context().model.StateBytes(), response->add_sessions());
        }
        if (more && !page.empty()) response->set_next_page_token(page.back().id);
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* InfmemService::DeleteSession(grpc::CallbackServerContext* call,
                                                       const v1::DeleteSessionRequest* request,
                                                       v1::DeleteSessionResponse*) {
  if (!ready()) return RejectUnary(call);
  return OnWorkQueue(ready_context(), call, "DeleteSession", [this, request] {
    RETURN_IF_ERROR(ValidateIdField("session_id", request->session_id()));
    return ready_context().sessions.Delete(request->session_id());
  });
}

grpc::ServerUnaryReactor* InfmemService::ForkSession(grpc::CallbackServerContext* call,
                                                     const v1::ForkSessionRequest* request,
                                                     v1::Session* response) {
  if (!ready()) return RejectUnary(call);
  return OnWorkQueue(ready_context(), call, "ForkSession", [this, request, response] {
    RETURN_IF_ERROR(ValidateIdField("session_id", request->session_id()));
    if (!request->new_session_id().empty()) {
      RETURN_IF_ERROR(ValidateIdField("new_session_id", request->new_session_id()));
    }
    ASSIGN_OR_RETURN(session::SessionLease lease,
                     ready_context().sessions.Acquire(request->session_id()));
    ASSIGN_OR_RETURN(const session::SessionInfo info,
                     ready_context().sessions.Fork(lease, request->new_session_id()));
    ToProto(info, ready_context().model.StateBytes(), response);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* InfmemService::Append(grpc::CallbackServerContext* call,
                                                const v1::AppendRequest* request,
                                                v1::AppendResponse* response) {
  if (!ready()) return RejectUnary(call);
  grpc::ServerUnaryReactor* reactor = call->DefaultReactor();
  const absl::Time start = absl::Now();
  const ServiceContext& context = ready_context();
  context.work.Schedule([&context, call, request, response, reactor, start] {
    auto finish = [&context, reactor, start](const absl::Status& status) {
      reactor->Finish(Completed(context, "Append", start, status));
    };
    auto submit = [&]() -> absl::Status {
      RETURN_IF_ERROR(ValidateIdField("session_id", request->session_id()));
      std::vector<int32_t> tokens;
      switch (request->input_case()) {
        case v1::AppendRequest::kText: {
          ASSIGN_OR_RETURN(tokens, EncodeText(context, "text", request->text()));
          break;
        }
        case v1::AppendRequest::kTokenIds: {
          ASSIGN_OR_RETURN(tokens,
                           TokenIdsFromProto("token_ids.ids", request->token_ids().ids(),
                                             context.tokenizer.vocab_size(), context.limits));
          break;
        }
        case v1::AppendRequest::INPUT_NOT_SET:
          return absl::InvalidArgumentError("input: give text or token_ids");
      }
      if (tokens.empty()) {
        return absl::InvalidArgumentError("input is empty: nothing to append");
      }
      ASSIGN_OR_RETURN(session::SessionLease lease,
                       context.sessions.Acquire(request->session_id()));
      const int64_t appended = static_cast<int64_t>(tokens.size());
      PrefillCall::Run(
          context, std::move(lease), std::move(tokens), absl::FromChrono(call->deadline()),
          [call] { return call->IsCancelled(); },
          [response, appended, finish](const absl::Status& status, const std::string&,
                                       int64_t session_tokens) {
            response->set_appended_tokens(appended);
            response->set_session_tokens(session_tokens);
            finish(status);
          });
      return absl::OkStatus();
    };
    if (absl::Status status = submit(); !status.ok()) finish(status);
  });
  return reactor;
}

grpc::ServerWriteReactor<v1::GenerateResponse>* InfmemService::Generate(
    grpc::CallbackServerContext* call, const v1::GenerateRequest* request) {
  if (!ready()) return new RejectedWrite<v1::GenerateResponse>();
  return new GenerateReactor(ready_context(), call, request, NewSeed());
}

grpc::ServerUnaryReactor* InfmemService::Tokenize(grpc::CallbackServerContext* call,
                                                  const v1::TokenizeRequest* request,
                                                  v1::TokenizeResponse* response) {
  if (!ready()) return RejectUnary(call);
  return OnWorkQueue(ready_context(), call, "Tokenize", [this, request, response] {
    ASSIGN_OR_RETURN(const std::vector<int32_t> ids,
                     EncodeText(ready_context(), "text", request->text()));
    response->mutable_token_ids()->Add(ids.begin(), ids.end());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* InfmemService::Detokenize(grpc::CallbackServerContext* call,
                                                    const v1::DetokenizeRequest* request,
                                                    v1::DetokenizeResponse* response) {
  if (!ready()) return RejectUnary(call);
  return OnWorkQueue(ready_context(), call, "Detokenize", [this, request, response] {
    ASSIGN_OR_RETURN(
        const std::vector<int32_t> ids,
        TokenIdsFromProto("token_ids", request->token_ids(), ready_context().tokenizer.vocab_size(),
                          ready_context().limits));
    ASSIGN_OR_RETURN(*response->mutable_text(), ready_context().tokenizer.Decode(ids));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* InfmemService::GetModel(grpc::CallbackServerContext* call,
                                                  const v1::GetModelRequest*, v1::Model* response) {
  if (!ready()) return RejectUnary(call);
  const model::Model& m = ready_context().model;
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
  grpc::ServerUnaryReactor* reactor = call->DefaultReactor();
  reactor->Finish(Completed(ready_context(), "GetModel", absl::Now(), absl::OkStatus()));
  return reactor;
}

grpc::ServerWriteReactor<v1::SessionChunk>* InfmemService::ExportSession(
    grpc::CallbackServerContext*, const v1::ExportSessionRequest* request) {
  if (!ready()) return new RejectedWrite<v1::SessionChunk>();
  return new ExportReactor(ready_context(), request);
}

grpc::ServerReadReactor<v1::ImportSessionRequest>* InfmemService::ImportSession(
    grpc::CallbackServerContext*, v1::Session* response) {
  if (!ready()) return new RejectedRead<v1::ImportSessionRequest>();
  return new ImportReactor(ready_context(), response);
}

}  // namespace infmem::service
