// ReplicaService: infmem.internal.v1.Replica, the calls between the replicas of a cluster
// (proto/infmem/internal/v1/replica.proto), and HandoffClient, the side that asks. Served and
// used only with the cluster store (--store).
//
// ReleaseSession hands a session to the replica that asks for it: SessionManager::Handoff
// waits for the session's call (up to the call's deadline, at most 10 s), snapshots it and
// releases its ownership in the store.
//
// Thread-safety: both are thread-safe.
#ifndef INFMEM_SERVER_SERVICE_REPLICA_SERVICE_H_
#define INFMEM_SERVER_SERVICE_REPLICA_SERVICE_H_

#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "infmem/internal/v1/replica.grpc.pb.h"
#include "server/common/work_queue.h"
#include "server/session/session_manager.h"

namespace infmem::service {

class ReplicaService final : public internal::v1::Replica::CallbackService {
 public:
  // Calls before SetReady are answered UNAVAILABLE.
  void SetReady(session::SessionManager* sessions, WorkQueue* work);

  grpc::ServerUnaryReactor* ReleaseSession(grpc::CallbackServerContext* call,
                                           const internal::v1::ReleaseSessionRequest* request,
                                           internal::v1::ReleaseSessionResponse* response) override;

 private:
  absl::Mutex mu_;
  session::SessionManager* sessions_ ABSL_GUARDED_BY(mu_) = nullptr;
  WorkQueue* work_ ABSL_GUARDED_BY(mu_) = nullptr;
};

class HandoffClient {
 public:
  explicit HandoffClient(std::string requester) : requester_(std::move(requester)) {}
  // Asks the replica at `address` to release session `key`; OK once it has.
  absl::Status RequestHandoff(const std::string& address, const std::string& key);

 private:
  std::shared_ptr<internal::v1::Replica::Stub> StubFor(const std::string& address);

  const std::string requester_;
  absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<internal::v1::Replica::Stub>> stubs_ ABSL_GUARDED_BY(mu_);
};

}  // namespace infmem::service

#endif  // INFMEM_SERVER_SERVICE_REPLICA_SERVICE_H_
