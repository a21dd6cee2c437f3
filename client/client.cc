// Channel, deadline and status-to-exit-code plumbing of the client library.
#include "client/client.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "server/common/file_io.h"
#include "server/common/status_macros.h"

namespace infmem::client {
namespace {

// gRPC's retry policy (gRFC A6) for every method of the API: UNAVAILABLE is what a cluster
// answers while a session moves or a replica restarts. A streamed Generate is retried only
// before its first message. maxAttempts is capped at 5 by gRPC.
constexpr char kServiceConfig[] = R"json({
  "methodConfig": [{
    "name": [{"service": "infmem.v1.Infmem"}],
    "retryPolicy": {
      "maxAttempts": 5,
      "initialBackoff": "0.5s",
      "maxBackoff": "3s",
      "backoffMultiplier": 2,
      "retryableStatusCodes": ["UNAVAILABLE"]
    }
  }]
})json";

std::shared_ptr<grpc::Channel> Channel(const std::string& server,
                                       const std::shared_ptr<grpc::ChannelCredentials>& creds) {
  grpc::ChannelArguments args;
  args.SetServiceConfigJSON(kServiceConfig);
  return grpc::CreateCustomChannel(server, creds, args);
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const Connection& connection) {
  if (!connection.tls) {
    if (!connection.token.empty()) {
      // gRPC sends call credentials only on secure channels, and a token in the clear is
      // anyone's token.
      return absl::InvalidArgumentError("--token is sent only over TLS: add --tls or --tls_ca");
    }
    return Channel(connection.server, grpc::InsecureChannelCredentials());
  }
  grpc::SslCredentialsOptions options;
  if (!connection.ca_file.empty()) {
    ASSIGN_OR_RETURN(options.pem_root_certs, ReadFile(connection.ca_file));
  }
  if (!connection.cert_file.empty()) {
    ASSIGN_OR_RETURN(options.pem_cert_chain, ReadFile(connection.cert_file));
    ASSIGN_OR_RETURN(options.pem_private_key, ReadFile(connection.key_file));
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::SslCredentials(options);
  if (!connection.token.empty()) {
    credentials = grpc::CompositeChannelCredentials(credentials,
                                                    grpc::AccessTokenCredentials(connection.token));
  }
  return Channel(connection.server, credentials);
}

void ApplyDeadline(absl::Duration timeout, grpc::ClientContext* context) {
  // A century or more is no deadline (and would overflow the clock's nanoseconds).
  if (timeout >= absl::Hours(24 * 365 * 100)) return;
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::duration_cast<std::chrono::system_clock::duration>(
                            absl::ToChronoNanoseconds(timeout)));
}

void RouteBySession(const std::string& session_id, grpc::ClientContext* context) {
  if (!session_id.empty()) context->AddMetadata(kSessionHeader, session_id);
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

int ExitCodeFor(const absl::Status& status) {
  if (status.ok()) return kExitOk;
  return kExitStatusBase + static_cast<int>(status.code());
}

std::string ErrorLine(const absl::Status& status) {
  std::string line = absl::StrCat("infmem: ", absl::StatusCodeToString(status.code()));
  if (!status.message().empty()) absl::StrAppend(&line, ": ", status.message());
  return line;
}

}  // namespace infmem::client
