// ServiceContext: what the gRPC service's handlers and reactors share: the components they
// call and the request limits. Built by the Server, which owns every component and keeps them
// alive until the gRPC server has shut down. Read-only after construction; the components are
// thread-safe.
#ifndef INFMEM_SERVER_SERVICE_SERVICE_CONTEXT_H_
#define INFMEM_SERVER_SERVICE_SERVICE_CONTEXT_H_

#include <grpcpp/support/status.h>

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "infmem/v1/infmem.pb.h"
#include "server/common/work_queue.h"
#include "server/engine/scheduler.h"
#include "server/metrics/server_metrics.h"
#include "server/model/model.h"
#include "server/service/request_convert.h"
#include "server/session/session_manager.h"
#include "server/tokenizer/chat_template.h"
#include "server/tokenizer/tokenizer.h"

namespace infmem::service {

class TokenAuthenticator;

// Who makes a call: the tenant whose sessions it may use ("" without authentication), and
// the mapping between the session ids it sees and the keys the SessionManager uses.
struct Caller {
  std::string tenant;

  // Returns the key of the caller's session `id`: "<tenant>.<id>", or `id` without a tenant.
  std::string Key(absl::string_view id) const;
  // Returns the id the caller knows for `key` (the inverse of Key).
  std::string External(absl::string_view key) const;
  // Returns the prefix of the caller's keys ("" without a tenant).
  std::string Prefix() const { return tenant.empty() ? "" : tenant + "."; }
};

struct ServiceContext {
  const model::Model& model;
  const tokenizer::Tokenizer& tokenizer;
  session::SessionManager& sessions;
  engine::Scheduler& scheduler;
  WorkQueue& work;  // blocking work (loads, journal syncs) runs here
  metrics::ServerMetrics& metrics;
  RequestLimits limits;
  int64_t max_import_bytes = 0;              // serialized state an ImportSession may send
  const TokenAuthenticator* auth = nullptr;  // null: no authentication, one namespace
  const tokenizer::ChatTemplate* chat_template = nullptr;  // null: chat turns are refused
};

// Records a finished call in request_duration_seconds and returns `status` as gRPC's.
grpc::Status Completed(const ServiceContext& context, absl::string_view method, absl::Time start,
                       const absl::Status& status);

// Returns InvalidArgument naming `field` unless `id` is a valid session id.
absl::Status ValidateIdField(absl::string_view field, absl::string_view id);

// Fills a Session message as `caller` sees it.
void ToProto(const Caller& caller, const session::SessionInfo& info, int64_t state_bytes,
             v1::Session* out);

}  // namespace infmem::service

#endif  // INFMEM_SERVER_SERVICE_SERVICE_CONTEXT_H_
