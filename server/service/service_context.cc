#include "server/service/service_context.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/store/session_store.h"

namespace infmem::service {

grpc::Status Completed(const ServiceContext& context, absl::string_view method, absl::Time start,
                       const absl::Status& status) {
  context.metrics.ObserveRequest(method, absl::StatusCodeToString(status.code()),
                                 absl::ToDoubleSeconds(absl::Now() - start));
  return ToGrpcStatus(status);
}

absl::Status ValidateIdField(absl::string_view field, absl::string_view id) {
  absl::Status status = store::ValidateSessionId(id);
  if (status.ok()) return status;
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", status.message()));
}

std::string Caller::Key(absl::string_view id) const {
  return tenant.empty() ? std::string(id) : absl::StrCat(tenant, ".", id);
}

std::string Caller::External(absl::string_view key) const {
  const std::string prefix = Prefix();
  if (!prefix.empty() && key.substr(0, prefix.size()) == prefix) key.remove_prefix(prefix.size());
  return std::string(key);
}

void ToProto(const Caller& caller, const session::SessionInfo& info, int64_t state_bytes,
             v1::Session* out) {
  out->set_id(caller.External(info.id));
  out->set_tokens(info.tokens);
  out->set_seed(info.seed);
  out->set_state_bytes(state_bytes);
  out->set_create_time_unix_ms(info.created_unix_ms);
  out->set_update_time_unix_ms(info.updated_unix_ms);
  out->set_resident(info.resident);
}

}  // namespace infmem::service
