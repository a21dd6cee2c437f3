// infmem-bench --cluster (cluster_bench.cc): the cluster-mode table.
#ifndef INFMEM_BENCH_CLUSTER_BENCH_H_
#define INFMEM_BENCH_CLUSTER_BENCH_H_

#include <string>

namespace infmem::bench {

struct ClusterBenchOptions {
  std::string source_dir;  // the repository (deploy/haproxy/haproxy.cfg)
  std::string server_binary;
  std::string model_dir;
  int threads = 1;  // model threads per replica
  int replicas = 3;
  double lease_seconds = 5;
  int clients = 16;
  int appends = 50;
};

// Starts PostgreSQL, replicas and HAProxy on 127.0.0.1, prints the tables, stops them all.
// Returns the process exit code.
int RunClusterBench(const ClusterBenchOptions& options);

}  // namespace infmem::bench

#endif  // INFMEM_BENCH_CLUSTER_BENCH_H_
