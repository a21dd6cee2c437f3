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
#include "server/tokenizer/tokenizer.h"

namespace infmem::service {

struct ServiceContext {
  const model::Model& model;
  const tokenizer::Tokenizer& tokenizer;
  session::SessionManager& sessions;
  engine::Scheduler& scheduler;
  WorkQueue& work;  // blocking work (loads, journal syncs) runs here
  metrics::ServerMetrics& metrics;
  RequestLimits limits;
  int64_t max_import_bytes = 0;  // serialized state an ImportSession may send
};

// Records a finished call in request_duration_seconds and returns `status` as gRPC's.
grpc::Status Completed(const ServiceContext& context, absl::string_view method, absl::Time start,
                       const absl::Status& status);

// Returns InvalidArgument naming `field` unless `id` is a valid session id.
absl::Status ValidateIdField(absl::string_view field, absl::string_view id);

// Fills a Session message.
void ToProto(const session::SessionInfo& info, int64_t state_bytes, v1::Session* out);

}  // namespace infmem::service

#endif  // INFMEM_SERVER_SERVICE_SERVICE_CONTEXT_H_
