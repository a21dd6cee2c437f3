#include "server/server.h"

#include <glog/logging.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <prometheus/exposer.h>

#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "server/common/file_io.h"
#include "server/common/status_macros.h"
#include "server/common/work_queue.h"
#include "server/http/http_server.h"
#include "server/http/openai_api.h"
#include "server/metrics/disk_usage.h"
#include "server/metrics/server_metrics.h"
#include "server/model/model.h"
#include "server/service/auth.h"
#include "server/service/infmem_service.h"
#include "server/service/replica_service.h"
#include "server/store/pg_session_store.h"
#include "server/store/session_store.h"
#include "server/tokenizer/chat_template.h"
#include "server/tokenizer/tokenizer.h"

namespace infmem {

// Declared in the order they are built; destroyed in reverse, each before what it uses.
struct Server::Parts {
  ServerConfig config;
  metrics::ServerMetrics metrics;
  std::shared_ptr<metrics::DiskUsage> disk_usage;  // the exposer holds it weakly
  std::unique_ptr<prometheus::Exposer> exposer;
  std::unique_ptr<model::Model> model;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer;
  std::unique_ptr<tokenizer::ChatTemplate> chat_template;
  std::unique_ptr<service::HandoffClient> handoff;  // cluster mode only
  std::unique_ptr<store::SessionStore> store;
  std::unique_ptr<session::SessionManager> sessions;
  std::unique_ptr<WorkQueue> work;
  std::unique_ptr<engine::Scheduler> scheduler;
  std::unique_ptr<service::TokenAuthenticator> auth;
  std::unique_ptr<service::InfmemService> service;
  std::unique_ptr<service::ReplicaService> replica_service;  // cluster mode only
  std::unique_ptr<grpc::Server> grpc_server;
  // The OpenAI-style HTTP API (--http_port): its own copy of the service context.
  std::unique_ptr<service::ServiceContext> http_context;
  std::unique_ptr<http::ResponseStore> responses;  // stored /v1/responses records
  std::unique_ptr<http::OpenAiApi> openai;
  std::unique_ptr<http::HttpServer> http;
  int port = 0;
  bool shut_down = false;
};

namespace {

// Returns the credentials of the gRPC port: plaintext, TLS, or mutual TLS (ServerConfig).
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> PortCredentials(
    const ServerConfig& config) {
  if (config.tls_cert_file.empty() && config.tls_key_file.empty()) {
    if (!config.tls_client_ca_file.empty()) {
      return absl::InvalidArgumentError("--tls_client_ca needs --tls_cert and --tls_key");
    }
    return grpc::InsecureServerCredentials();
  }
  if (config.tls_cert_file.empty() || config.tls_key_file.empty()) {
    return absl::InvalidArgumentError("--tls_cert and --tls_key go together");
  }
  grpc::SslServerCredentialsOptions options(
      config.tls_client_ca_file.empty()
          ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
          : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  ASSIGN_OR_RETURN(pair.private_key, ReadFile(config.tls_key_file));
  ASSIGN_OR_RETURN(pair.cert_chain, ReadFile(config.tls_cert_file));
  options.pem_key_cert_pairs.push_back(std::move(pair));
  if (!config.tls_client_ca_file.empty()) {
    ASSIGN_OR_RETURN(options.pem_root_certs, ReadFile(config.tls_client_ca_file));
  }
  return grpc::SslServerCredentials(options);
}

}  // namespace

Server::Server(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}

Server::~Server() { Shutdown(); }

int Server::port() const { return parts_->port; }

int Server::http_port() const { return parts_->http == nullptr ? -1 : parts_->http->port(); }

int Server::metrics_port() const {
  if (parts_->exposer == nullptr) return -1;
  const std::vector<int> ports = parts_->exposer->GetListeningPorts();
  return ports.empty() ? -1 : ports.front();
}

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const ServerConfig& config) {
  auto p = std::make_unique<Parts>();
  p->config = config;
  // Listen first, NOT_SERVING and answering UNAVAILABLE, so probes and clients see a server
  // that is loading rather than a closed port, and a port conflict fails before the load.
  if (!config.auth_token_file.empty()) {
    ASSIGN_OR_RETURN(p->auth, service::TokenAuthenticator::Load(config.auth_token_file));
  }
  p->service = std::make_unique<service::InfmemService>();
  const bool cluster = !config.store_uri.empty();
  if (cluster) {
    if (!config.tls_cert_file.empty()) {
      return absl::InvalidArgumentError(
          "--store (cluster mode) with --tls_cert is not supported: the replicas call each "
          "other in plaintext; terminate TLS at the load balancer");
    }
    p->replica_service = std::make_unique<service::ReplicaService>();
  }
  if (config.metrics_port >= 0) {
    try {
      p->exposer = std::make_unique<prometheus::Exposer>(
          absl::StrCat(config.host, ":", config.metrics_port));
    } catch (const std::exception& e) {
      return absl::UnavailableError(absl::StrCat("cannot serve metrics on ", config.host, ":",
                                                 config.metrics_port, ": ", e.what()));
    }
    p->exposer->RegisterCollectable(p->metrics.registry());
    p->disk_usage = std::make_shared<metrics::DiskUsage>(config.session_dir);
    p->exposer->RegisterCollectable(p->disk_usage);
  }
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials, PortCredentials(config));
  builder.AddListeningPort(absl::StrCat(config.host, ":", config.port), credentials, &p->port);
  builder.SetMaxReceiveMessageSize(config.max_message_bytes);
  builder.SetMaxSendMessageSize(config.max_message_bytes);
  builder.RegisterService(p->service.get());
  if (p->replica_service != nullptr) builder.RegisterService(p->replica_service.get());
  p->grpc_server = builder.BuildAndStart();
  if (p->grpc_server == nullptr || p->port == 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", config.host, ":", config.port,
        config.tls_cert_file.empty() ? "" : " (or the TLS certificate and key do not parse)"));
  }
  p->grpc_server->GetHealthCheckService()->SetServingStatus(false);
  LOG(INFO) << "port " << p->port << " open; loading the model from " << config.model_dir;
  if (config.on_open) {
    const std::vector<int> metrics_ports =
        p->exposer != nullptr ? p->exposer->GetListeningPorts() : std::vector<int>{};
    config.on_open(p->port, metrics_ports.empty() ? -1 : metrics_ports.front());
  }

  const absl::Time start = absl::Now();
  model::ModelOptions model_options{config.device, "float32", config.threads};
  model_options.weights = config.weights;
  model_options.kv_cache = config.kv_cache;
  auto model = model::Model::Load(config.model_dir, model_options);
  if (!model.ok()) {
    return absl::Status(model.status().code(),
                        absl::StrCat("loading the model from '", config.model_dir,
                                     "': ", model.status().message()));
  }
  p->model = *std::move(model);
  const model::ModelConfig& mc = p->model->config();
  ASSIGN_OR_RETURN(p->tokenizer, tokenizer::MakeTokenizer(mc.tokenizer.kind, config.model_dir,
                                                          mc.tokenizer.file, mc.vocab_size));
  ASSIGN_OR_RETURN(p->chat_template,
                   tokenizer::ChatTemplate::Load(config.model_dir, *p->tokenizer));
  LOG(INFO) << "loaded model '" << mc.name << "' (" << p->model->ParameterCount() << " parameters, "
            << p->model->StateBytes() << " state bytes per session) on " << p->model->device()
            << " in " << absl::ToDoubleSeconds(absl::Now() - start) << " s";

  if (cluster) {
    store::PgStoreOptions options;
    options.conninfo = config.store_uri;
    options.replica_id = config.replica_id;
    options.advertise_address = config.advertise_address.empty()
                                    ? absl::StrCat(config.host, ":", p->port)
                                    : config.advertise_address;
    options.lease = config.lease;
    options.connections = config.io_threads;
    p->handoff = std::make_unique<service::HandoffClient>(config.replica_id);
    options.request_handoff = [h = p->handoff.get()](const std::string& address,
                                                     const std::string& key) {
      return h->RequestHandoff(address, key);
    };
    ASSIGN_OR_RETURN(p->store, store::PgSessionStore::Open(std::move(options), p->metrics));
  } else {
    ASSIGN_OR_RETURN(p->store, store::SessionStore::Open(config.session_dir));
  }
  session::SessionManagerOptions session_options = config.sessions;
  session_options.bos_id = p->tokenizer->bos_id();
  ASSIGN_OR_RETURN(p->sessions, session::SessionManager::Create(*p->model, *p->store, p->metrics,
                                                                session_options));
  p->work = std::make_unique<WorkQueue>(config.io_threads);
  engine::SchedulerOptions scheduler_options = config.scheduler;
  scheduler_options.stop_ids = p->tokenizer->end_of_turn_ids();
  p->scheduler = std::make_unique<engine::Scheduler>(*p->model, p->metrics, scheduler_options);

  service::ServiceContext context{*p->model, *p->tokenizer, *p->sessions, *p->scheduler,
                                  *p->work,  p->metrics,    config.limits};
  // An imported state is one snapshot of this model: allow it with room for its framing.
  context.max_import_bytes = 2 * p->model->StateBytes() + (1 << 20);
  context.auth = p->auth.get();
  context.chat_template = p->chat_template.get();
  if (config.http_port >= 0) {
    p->http_context = std::make_unique<service::ServiceContext>(context);
    auto responses = http::ResponseStore::Open(config.session_dir + "/.responses");
    if (responses.ok()) {
      p->responses = std::make_unique<http::ResponseStore>(*std::move(responses));
    } else {  // the rest of the API does not need the disk
      LOG(WARNING) << "the Responses API is off: " << responses.status();
    }
    http::OpenAiOptions openai_options;
    openai_options.responses = p->responses.get();
    openai_options.prefix_cache = config.http_prefix_cache;
    p->openai = std::make_unique<http::OpenAiApi>(*p->http_context, openai_options);
    http::HttpServer::Options options;
    options.host = config.host;
    options.port = config.http_port;
    options.threads = config.http_threads;
    ASSIGN_OR_RETURN(p->http, http::HttpServer::Start(
                                  options, [api = p->openai.get()](http::HttpExchange& exchange) {
                                    api->Handle(exchange);
                                  }));
  }
  p->service->SetReady(std::move(context));
  if (p->replica_service != nullptr) p->replica_service->SetReady(p->sessions.get(), p->work.get());
  p->grpc_server->GetHealthCheckService()->SetServingStatus(true);
  return std::unique_ptr<Server>(new Server(std::move(p)));
}

void Server::Shutdown() {
  Parts& p = *parts_;
  if (p.shut_down) return;
  p.shut_down = true;
  p.grpc_server->GetHealthCheckService()->SetServingStatus(false);
  if (p.openai != nullptr) p.openai->Drain();  // new HTTP requests get 503
  // Generations still running at 80 % of the grace end normally (finish_reason cancelled,
  // their final message and usage sent), so their clients are not cut off by gRPC's
  // cancellation at the deadline. Calls still running at the deadline are cancelled; the
  // scheduler stops their jobs within a step and their reactors journal what they produced.
  absl::Notification drained;
  std::thread end_generations([&p, &drained] {
    if (!drained.WaitForNotificationWithTimeout(p.config.drain_grace * 0.8)) {
      p.scheduler->EndGenerations();
    }
  });
  p.grpc_server->Shutdown(absl::ToChronoTime(absl::Now() + p.config.drain_grace));
  drained.Notify();
  end_generations.join();
  if (p.http != nullptr) {
    // HTTP streams still running end now (finish_reason "stop"); then its threads stop.
    p.scheduler->EndGenerations();
    p.http->Stop();
  }
  p.scheduler->Stop();
  p.work.reset();  // runs the journal syncs still queued
  // Snapshot every resident session and release it (in a cluster, another replica may take
  // it at once; the store's destruction then ends this replica's lease).
  p.sessions->ReleaseAll();
  LOG(INFO) << "shut down cleanly";
}

}  // namespace infmem
