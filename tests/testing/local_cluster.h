// LocalCluster: an infmem cluster as local processes on 127.0.0.1 for tests and benchmarks
// (what scripts/cluster-up.sh starts for users): replicas of the real infmem-server on one
// PostgreSQL (the caller's, e.g. a PostgresInstance), and HAProxy on the shipped config
// (deploy/haproxy/haproxy.cfg) with one server line per replica slot. Slots get their ports
// up front (free_port.h), so HAProxy can list a replica not started yet: it
// stays DOWN until it is. Destruction kills everything (SIGCONT first, for paused replicas).
// Not thread-safe.
#ifndef INFMEM_TESTS_TESTING_LOCAL_CLUSTER_H_
#define INFMEM_TESTS_TESTING_LOCAL_CLUSTER_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "infmem/v1/infmem.grpc.pb.h"
#include "tests/testing/server_process.h"

namespace infmem::testing {

struct LocalClusterOptions {
  std::string source_dir;     // the repository (for deploy/haproxy/haproxy.cfg)
  std::string server_binary;  // infmem-server
  std::string store_uri;      // PostgreSQL URI the replicas share
  std::string work_dir;       // configs and logs
  int slots = 3;
  std::vector<std::string> server_args;  // model, threads, lease, ...
};

class LocalCluster {
 public:
  explicit LocalCluster(LocalClusterOptions options);
  ~LocalCluster();

  // Starts replica `slot` (--replica_id=r<slot>) and waits until it serves.
  absl::Status StartReplica(int slot);
  // Starts HAProxy in front of every slot and waits for its first health checks.
  absl::Status StartHaproxy();

  ServerProcess& replica(int slot) { return *replicas_[static_cast<size_t>(slot)]; }
  bool running(int slot) const { return replicas_[static_cast<size_t>(slot)] != nullptr; }
  // Forgets a replica that was stopped or killed.
  void Drop(int slot) { replicas_[static_cast<size_t>(slot)].reset(); }
  int haproxy_port() const { return haproxy_port_; }
  std::unique_ptr<v1::Infmem::Stub> NewStub() const;

 private:
  LocalClusterOptions options_;
  std::vector<int> ports_;
  std::vector<std::unique_ptr<ServerProcess>> replicas_;
  pid_t haproxy_pid_ = -1;
  int haproxy_port_ = 0;
};

}  // namespace infmem::testing

#endif  // INFMEM_TESTS_TESTING_LOCAL_CLUSTER_H_
