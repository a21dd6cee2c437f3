// infmem-server: flags -> ServerConfig -> Server. Serves until SIGTERM or SIGINT, then drains
// (see Server::Shutdown) and exits 0.
#include <glog/logging.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/time/time.h"
#include "server/common/flags_help.h"
#include "server/server.h"

ABSL_FLAG(std::string, host, "127.0.0.1",
          "Address both ports listen on (0.0.0.0 for all interfaces, as in a container).");
ABSL_FLAG(int, port, 50051, "gRPC port; 0 picks a free port (it is logged).");
ABSL_FLAG(int, metrics_port, 9464, "Prometheus /metrics port; 0 picks a free one, -1 disables.");
ABSL_FLAG(int, http_port, -1,
          "OpenAI-compatible HTTP API port (/v1/chat/completions, /v1/completions, /v1/models); "
          "0 picks a free one, -1 disables. `make run` and the deploy files use 8080.");
ABSL_FLAG(int, http_threads, 32, "Concurrent HTTP requests; a streamed one holds its thread.");
ABSL_FLAG(int, http_prefix_cache, 32,
          "Conversation states kept for reuse by stateless chat completions and completions "
          "(durable sessions named pc-*; each the size of a session snapshot); 0 turns reuse off.");
ABSL_FLAG(std::string, session_dir, "sessions",
          "Directory of the stored sessions (created if missing).");
ABSL_FLAG(std::string, store, "",
          "Cluster mode: PostgreSQL URI of the session store the replicas share, e.g. "
          "postgresql://infmem@db:5432/infmem (docs/operations.md). Empty: --session_dir.");
ABSL_FLAG(std::string, replica_id, "",
          "Cluster mode: this replica's name in the store (default: the host name).");
ABSL_FLAG(std::string, advertise_address, "",
          "Cluster mode: host:port at which the other replicas reach this gRPC port "
          "(default: --host:--port; set it when listening on 0.0.0.0).");
ABSL_FLAG(double, lease_seconds, 5,
          "Cluster mode: how long a replica's sessions stay its own after its last heartbeat "
          "(a crashed replica's sessions are served again after about this long).");
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate chain of the server: serve gRPC over TLS.");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert.");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA that client certificates must chain to: mutual TLS (needs --tls_cert).");
ABSL_FLAG(std::string, auth_tokens, "",
          "File of \"<tenant> <token>\" lines: calls need \"authorization: Bearer <token>\" "
          "and see only their tenant's sessions. Empty: no authentication.");
ABSL_FLAG(int64_t, max_sessions_per_tenant, 0,
          "Sessions one tenant may store (with --auth_tokens); 0 = no limit.");
ABSL_FLAG(std::string, model_dir, "models/brown-lm", "Model directory to serve.");
ABSL_FLAG(std::string, device, "auto", "auto, cpu, cuda or cuda:N.");
ABSL_FLAG(std::string, weights, "float32",
          "float32, bfloat16 or int8: the linear layers' weights rounded to bfloat16 or to 8 "
          "bits with per-channel scales (CPU only); decode reads half or a quarter of the "
          "bytes. See README \"Benchmarks\".");
ABSL_FLAG(std::string, kv_cache, "float32",
          "float32 or float16: element type of the keys and values a session keeps (full "
          "mode's KV cache; CPU only). float16 halves what decode reads and a session holds; "
          "snapshots stay float32.");
ABSL_FLAG(int, threads, 0, "CPU threads for the model; 0 = all cores.");
ABSL_FLAG(int, io_threads, 8, "Threads for session loads and journal syncs.");
ABSL_FLAG(int64_t, max_resident_sessions, 1024,
          "Sessions kept in memory; the least recently used are evicted to disk. 0 = no limit.");
ABSL_FLAG(int64_t, max_resident_bytes, 0,
          "State bytes kept in memory (the same eviction); 0 = no limit.");
ABSL_FLAG(int64_t, max_stored_sessions, 0, "Sessions on disk; more are refused. 0 = no limit.");
ABSL_FLAG(int64_t, snapshot_every_tokens, 8192,
          "Write a session's snapshot after this many new tokens (bounds restart replay).");
ABSL_FLAG(int, max_batch, 64, "Sessions advanced together in one decode step.");
ABSL_FLAG(int, max_queued, 256, "Calls waiting for the model; more get RESOURCE_EXHAUSTED.");
ABSL_FLAG(int, prefill_chunk, 256, "Appended tokens fed per scheduler step.");
ABSL_FLAG(int64_t, max_text_bytes, 1 << 20, "Largest text of one request.");
ABSL_FLAG(int64_t, max_token_ids, 1 << 18, "Most tokens of one request.");
ABSL_FLAG(int32_t, max_stop_sequences, 16, "Most stop sequences of one Generate call.");
ABSL_FLAG(int32_t, max_stop_bytes, 256, "Longest stop sequence, in bytes.");
ABSL_FLAG(int, max_new_tokens, 4096, "Largest max_tokens of a Generate call.");
ABSL_FLAG(int, default_new_tokens, 256, "max_tokens of a Generate call that sets none.");
ABSL_FLAG(int, max_message_bytes, 8 << 20, "Largest gRPC message, each way.");
ABSL_FLAG(double, drain_seconds, 10, "On SIGTERM, how long in-flight calls may take to finish.");

namespace {

// OpenMP (torch's intra-op threads and BLIS) spins between parallel regions by default,
// holding a core that the gRPC threads then wait for: infmem-bench on two cores gave 36-52 %
// of the throughput with 1, 8 and 32 streams and a p99 inter-token latency of 113 ms (15 ms
// passive) at 32. libgomp reads its wait policy once, when it loads, so the server
// re-executes itself with the passive policy unless the operator chose one. Returns only if
// that fails (then runs as it is).
void EnsureOpenMpWaitPolicy(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr) return;
  setenv("OMP_WAIT_POLICY", "passive", /*overwrite=*/1);
  execv("/proc/self/exe", argv);
  std::perror("infmem-server: re-executing with OMP_WAIT_POLICY=passive failed");
}

}  // namespace

int main(int argc, char** argv) {
  EnsureOpenMpWaitPolicy(argv);
  infmem::InitFlagsHelp(
      "Serves an ∞-former model over gRPC with persistent sessions (see README.md).", argc, argv);
  absl::ParseCommandLine(argc, argv);
  FLAGS_logtostderr = true;
  google::InitGoogleLogging(argv[0]);
  // A crash (SIGSEGV, SIGABRT, ...) prints its signal and stack to stderr before the process
  // dies, so that a crash in production or CI says where it happened.
  google::InstallFailureSignalHandler();

  // Block the stop signals in every thread (threads inherit the mask); main waits for them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  infmem::ServerConfig config;
  config.host = absl::GetFlag(FLAGS_host);
  config.port = absl::GetFlag(FLAGS_port);
  config.metrics_port = absl::GetFlag(FLAGS_metrics_port);
  config.http_port = absl::GetFlag(FLAGS_http_port);
  config.http_threads = absl::GetFlag(FLAGS_http_threads);
  config.http_prefix_cache = absl::GetFlag(FLAGS_http_prefix_cache);
  config.session_dir = absl::GetFlag(FLAGS_session_dir);
  config.store_uri = absl::GetFlag(FLAGS_store);
  config.replica_id = absl::GetFlag(FLAGS_replica_id);
  if (config.replica_id.empty()) {
    char name[256] = {};
    gethostname(name, sizeof(name) - 1);
    config.replica_id = name;
  }
  config.advertise_address = absl::GetFlag(FLAGS_advertise_address);
  config.lease = absl::Seconds(absl::GetFlag(FLAGS_lease_seconds));
  config.model_dir = absl::GetFlag(FLAGS_model_dir);
  config.tls_cert_file = absl::GetFlag(FLAGS_tls_cert);
  config.tls_key_file = absl::GetFlag(FLAGS_tls_key);
  config.tls_client_ca_file = absl::GetFlag(FLAGS_tls_client_ca);
  config.auth_token_file = absl::GetFlag(FLAGS_auth_tokens);
  config.sessions.max_stored_per_tenant = absl::GetFlag(FLAGS_max_sessions_per_tenant);
  config.device = absl::GetFlag(FLAGS_device);
  config.threads = absl::GetFlag(FLAGS_threads);
  config.weights = absl::GetFlag(FLAGS_weights);
  config.kv_cache = absl::GetFlag(FLAGS_kv_cache);
  config.io_threads = absl::GetFlag(FLAGS_io_threads);
  config.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  config.drain_grace = absl::Seconds(absl::GetFlag(FLAGS_drain_seconds));
  config.sessions.max_resident_sessions = absl::GetFlag(FLAGS_max_resident_sessions);
  config.sessions.max_resident_bytes = absl::GetFlag(FLAGS_max_resident_bytes);
  config.sessions.max_stored_sessions = absl::GetFlag(FLAGS_max_stored_sessions);
  config.sessions.snapshot_every_tokens = absl::GetFlag(FLAGS_snapshot_every_tokens);
  config.scheduler.max_batch = absl::GetFlag(FLAGS_max_batch);
  config.scheduler.max_queued = absl::GetFlag(FLAGS_max_queued);
  config.scheduler.prefill_chunk = absl::GetFlag(FLAGS_prefill_chunk);
  config.limits.max_text_bytes = absl::GetFlag(FLAGS_max_text_bytes);
  config.limits.max_token_ids = absl::GetFlag(FLAGS_max_token_ids);
  config.limits.max_stop_sequences = absl::GetFlag(FLAGS_max_stop_sequences);
  config.limits.max_stop_bytes = absl::GetFlag(FLAGS_max_stop_bytes);
  config.limits.max_new_tokens = absl::GetFlag(FLAGS_max_new_tokens);
  config.limits.default_new_tokens = absl::GetFlag(FLAGS_default_new_tokens);
  if (config.io_threads < 1 || config.scheduler.max_batch < 1 || config.scheduler.max_queued < 1 ||
      config.scheduler.prefill_chunk < 1 || config.limits.default_new_tokens < 1 ||
      config.limits.max_stop_sequences < 0 || config.limits.max_stop_bytes < 1 ||
      config.limits.default_new_tokens > config.limits.max_new_tokens) {
    std::cerr << "infmem-server: --io_threads, --max_batch, --max_queued, --prefill_chunk and "
                 "--default_new_tokens must be >= 1, and --default_new_tokens <= "
                 "--max_new_tokens\n";
    return 2;
  }

  config.on_open = [&config](int port, int metrics_port) {
    std::printf("infmem-server open on %s:%d, metrics on port %d; loading the model\n",
                config.host.c_str(), port, metrics_port);
    std::fflush(stdout);
  };
  auto server = infmem::Server::Start(config);
  if (!server.ok()) {
    std::cerr << "infmem-server: " << server.status() << "\n";
    return 1;
  }
  // The line scripts and tests wait for: the server is SERVING.
  std::printf("infmem-server listening on %s:%d, metrics on port %d%s\n", config.host.c_str(),
              (*server)->port(), (*server)->metrics_port(),
              (*server)->http_port() >= 0
                  ? (", http on port " + std::to_string((*server)->http_port())).c_str()
                  : "");
  std::fflush(stdout);

  int signal = 0;
  sigwait(&stop_signals, &signal);
  LOG(INFO) << "received " << (signal == SIGTERM ? "SIGTERM" : "SIGINT") << "; draining";
  (*server)->Shutdown();
  return 0;
}
