// Server: the composition root of infmem-server. Loads the model and its tokenizer, opens the
// session store, builds the SessionManager, Scheduler, WorkQueue, metrics endpoint and gRPC
// service, and starts listening; Shutdown drains them in order. Owns every component; nothing
// else does. Thread-safety: Start and Shutdown from one thread (main); the rest is internal.
#ifndef INFMEM_SERVER_SERVER_H_
#define INFMEM_SERVER_SERVER_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/engine/scheduler.h"
#include "server/service/request_convert.h"
#include "server/session/session_manager.h"

namespace infmem {

struct ServerConfig {
  std::string host = "127.0.0.1";  // listen address of both ports
  int port = 50051;                // 0 = any free port
  int metrics_port = 9464;         // 0 = any free port; -1 = no metrics endpoint
  int http_port = -1;              // OpenAI-style HTTP API; 0 = any free port; -1 = off
  int http_threads = 32;           // concurrent HTTP requests (a stream holds one)
  int http_prefix_cache = 32;      // reusable conversation states of stateless HTTP calls
  std::string session_dir = "sessions";
  // Cluster mode: a PostgreSQL URI for the shared session store (store/pg_session_store.h);
  // empty: the local session_dir. With it, this replica's name, the host:port at which the
  // other replicas reach its gRPC port, and its lease.
  std::string store_uri;
  std::string replica_id;
  std::string advertise_address;
  absl::Duration lease = absl::Seconds(5);
  // TLS: PEM certificate chain and key of the server (both or neither), and the CA that
  // client certificates must chain to (mutual TLS; needs the first two). Empty: plaintext.
  std::string tls_cert_file, tls_key_file, tls_client_ca_file;
  // Bearer tokens of tenants (service/auth.h); empty: no authentication, one namespace.
  std::string auth_token_file;
  std::string model_dir = "models/brown-lm";
  std::string device = "auto";
  std::string weights = "float32";   // "bfloat16", "int8" (model.h ModelOptions::weights)
  std::string kv_cache = "float32";  // or "float16" (model.h ModelOptions::kv_cache)
  int threads = 0;                   // model CPU threads; 0 = all cores
  int io_threads = 8;                // WorkQueue threads for loads and journal syncs
  int max_message_bytes = 8 << 20;
  absl::Duration drain_grace = absl::Seconds(10);
  session::SessionManagerOptions sessions;
  engine::SchedulerOptions scheduler;
  service::RequestLimits limits;
  // Called once the ports are open, before the model loads (main prints them).
  std::function<void(int port, int metrics_port)> on_open;
};

class Server {
 public:
  // Builds everything and starts serving; errors name what failed (model, store, port).
  static absl::StatusOr<std::unique_ptr<Server>> Start(const ServerConfig& config);
  ~Server();

  int port() const;
  int metrics_port() const;  // -1 without a metrics endpoint
  int http_port() const;     // -1 without the HTTP API
  // Reports NOT_SERVING, stops accepting calls, lets in-flight calls finish for the grace
  // period and cancels the rest (their tokens are journaled), then snapshots the resident
  // sessions. Idempotent.
  void Shutdown();

 private:
  struct Parts;
  explicit Server(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

}  // namespace infmem

#endif  // INFMEM_SERVER_SERVER_H_
