// InfmemService: the infmem.v1.Infmem gRPC service (callback API). It is registered before the
// model loads and answers UNAVAILABLE until SetReady. Unary calls validate their
// request, then run on the WorkQueue (they may load sessions or sync the journal); Append and
// Generate hand the model work to the Scheduler; ExportSession and ImportSession stream a
// session's state in chunks. Owned by the Server; the ServiceContext's components outlive it.
// Thread-safe.
#ifndef INFMEM_SERVER_SERVICE_INFMEM_SERVICE_H_
#define INFMEM_SERVER_SERVICE_INFMEM_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <optional>

#include "absl/random/random.h"
#include "absl/synchronization/mutex.h"
#include "infmem/v1/infmem.grpc.pb.h"
#include "server/service/service_context.h"

namespace infmem::service {

class InfmemService final : public v1::Infmem::CallbackService {
 public:
  // Until SetReady, every call is UNAVAILABLE (the server is loading).
  InfmemService() = default;

  // Serves calls with `context` from now on. Call once.
  void SetReady(ServiceContext context);

  grpc::ServerUnaryReactor* CreateSession(grpc::CallbackServerContext* call,
                                          const v1::CreateSessionRequest* request,
                                          v1::Session* response) override;
  grpc::ServerUnaryReactor* GetSession(grpc::CallbackServerContext* call,
                                       const v1::GetSessionRequest* request,
                                       v1::Session* response) override;
  grpc::ServerUnaryReactor* ListSessions(grpc::CallbackServerContext* call,
                                         const v1::ListSessionsRequest* request,
                                         v1::ListSessionsResponse* response) override;
  grpc::ServerUnaryReactor* DeleteSession(grpc::CallbackServerContext* call,
                                          const v1::DeleteSessionRequest* request,
                                          v1::DeleteSessionResponse* response) override;
  grpc::ServerUnaryReactor* ForkSession(grpc::CallbackServerContext* call,
                                        const v1::ForkSessionRequest* request,
                                        v1::Session* response) override;
  grpc::ServerUnaryReactor* Append(grpc::CallbackServerContext* call,
                                   const v1::AppendRequest* request,
                                   v1::AppendResponse* response) override;
  grpc::ServerWriteReactor<v1::GenerateResponse>* Generate(
      grpc::CallbackServerContext* call, const v1::GenerateRequest* request) override;
  grpc::ServerUnaryReactor* Tokenize(grpc::CallbackServerContext* call,
                                     const v1::TokenizeRequest* request,
                                     v1::TokenizeResponse* response) override;
  grpc::ServerUnaryReactor* Detokenize(grpc::CallbackServerContext* call,
                                       const v1::DetokenizeRequest* request,
                                       v1::DetokenizeResponse* response) override;
  grpc::ServerUnaryReactor* GetModel(grpc::CallbackServerContext* call,
                                     const v1::GetModelRequest* request,
                                     v1::Model* response) override;
  grpc::ServerWriteReactor<v1::SessionChunk>* ExportSession(
      grpc::CallbackServerContext* call, const v1::ExportSessionRequest* request) override;
  grpc::ServerReadReactor<v1::ImportSessionRequest>* ImportSession(
      grpc::CallbackServerContext* call, v1::Session* response) override;

 private:
  // Returns the caller of `call`: UNAVAILABLE while loading, UNAUTHENTICATED without a valid
  // token when authentication is on (recorded under `method`).
  absl::StatusOr<Caller> Admit(grpc::CallbackServerContext* call, absl::string_view method);
  // Returns a fresh sampling seed (a request's seed 0).
  uint64_t NewSeed();
  // Returns a fresh session id (a request's empty id).
  std::string NewId();

  bool ready() const { return ready_.load(std::memory_order_acquire); }
  const ServiceContext& ready_context() const { return *context_; }

  std::optional<ServiceContext> context_;  // set once, before ready_
  std::atomic<bool> ready_{false};
  absl::Mutex seed_mu_;
  absl::BitGen seed_gen_ ABSL_GUARDED_BY(seed_mu_);
};

}  // namespace infmem::service

#endif  // INFMEM_SERVER_SERVICE_INFMEM_SERVICE_H_
