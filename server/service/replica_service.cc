#include "server/service/replica_service.h"

#include <glog/logging.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/store/session_store.h"

namespace infmem::service {
namespace {

constexpr absl::Duration kMaxHandoffWait = absl::Seconds(10);

}  // namespace

void ReplicaService::SetReady(session::SessionManager* sessions, WorkQueue* work) {
  absl::MutexLock lock(&mu_);
  sessions_ = sessions;
  work_ = work;
}

grpc::ServerUnaryReactor* ReplicaService::ReleaseSession(
    grpc::CallbackServerContext* call, const internal::v1::ReleaseSessionRequest* request,
    internal::v1::ReleaseSessionResponse* /*response*/) {
  grpc::ServerUnaryReactor* reactor = call->DefaultReactor();
  session::SessionManager* sessions = nullptr;
  WorkQueue* work = nullptr;
  {
    absl::MutexLock lock(&mu_);
    sessions = sessions_;
    work = work_;
  }
  if (sessions == nullptr) {
    reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the replica is starting"));
    return reactor;
  }
  if (absl::Status valid = store::ValidateStoredId(request->session_key()); !valid.ok()) {
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                 absl::StrCat("session_key: ", valid.message())));
    return reactor;
  }
  const absl::Time deadline =
      std::min(absl::FromChrono(call->deadline()), absl::Now() + kMaxHandoffWait);
  work->Schedule([sessions, reactor, deadline, key = request->session_key(),
                  requester = request->requester()] {
    const absl::Status status = sessions->Handoff(key, deadline);
    LOG(INFO) << "replica " << requester << " asked for session '" << key << "': " << status;
    reactor->Finish(status.ok() ? grpc::Status::OK
                                : grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                                               std::string(status.message())));
  });
  return reactor;
}

std::shared_ptr<internal::v1::Replica::Stub> HandoffClient::StubFor(const std::string& address) {
  absl::MutexLock lock(&mu_);
  auto& stub = stubs_[address];
  if (stub == nullptr) {
    stub = internal::v1::Replica::NewStub(
        grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  }
  return stub;
}

absl::Status HandoffClient::RequestHandoff(const std::string& address, const std::string& key) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + kMaxHandoffWait + absl::Seconds(2)));
  internal::v1::ReleaseSessionRequest request;
  request.set_session_key(key);
  request.set_requester(requester_);
  internal::v1::ReleaseSessionResponse response;
  const grpc::Status status = StubFor(address)->ReleaseSession(&context, request, &response);
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

}  // namespace infmem::service
