// The client library's connection and error plumbing: the channel to a server, the per-call
// deadline, and the mapping of a call's outcome to the `infmem` exit code.
//
// Exit codes of `infmem` (also in `infmem --help`):
//   0        success
//   1        `health` only: the server answered, but not SERVING
//   2        usage error: unknown command or flag, missing argument, bad flag value
//   10 + c   the command failed with status code c, printed as "infmem: CODE: message":
//            11 CANCELLED (also Ctrl-C), 12 UNKNOWN, 13 INVALID_ARGUMENT,
//            14 DEADLINE_EXCEEDED, 15 NOT_FOUND, 16 ALREADY_EXISTS, 17 PERMISSION_DENIED,
//            18 RESOURCE_EXHAUSTED, 19 FAILED_PRECONDITION, 20 ABORTED, 21 OUT_OF_RANGE,
//            22 UNIMPLEMENTED, 23 INTERNAL, 24 UNAVAILABLE, 25 DATA_LOSS, 26 UNAUTHENTICATED.
//            Local failures use the same codes: a file that cannot be opened 15 (or 17),
//            a corrupt export file 25.
//
// The export file format (`infmem export`, `infmem import`) is defined in chunk_file.h.
#ifndef INFMEM_CLIENT_CLIENT_H_
#define INFMEM_CLIENT_CLIENT_H_

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/support/status.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace infmem::client {

inline constexpr int kExitOk = 0;
inline constexpr int kExitNotServing = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitStatusBase = 10;

// How to reach the server: its address and, for TLS, PEM files (empty: unused).
struct Connection {
  std::string server;               // host:port
  bool tls = false;                 // --tls, or implied by any of the files below
  std::string ca_file;              // --tls_ca: roots that verify the server; empty: the system's
  std::string cert_file, key_file;  // --tls_cert, --tls_key: this client's certificate (mTLS)
  std::string token;  // --token: sent as "authorization: Bearer <token>", over TLS only
};

// Creates the channel to `connection.server`: plaintext, or TLS (mutual when a client
// certificate is given). NotFound / PermissionDenied naming a PEM file that cannot be read.
// Calls that fail UNAVAILABLE before the server answered (a replica down, a session moving
// between replicas) are retried by gRPC's retry policy: up to 5 attempts over about 6 s.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const Connection& connection);

// Sets `context`'s deadline `timeout` from now; absl::InfiniteDuration(): none.
void ApplyDeadline(absl::Duration timeout, grpc::ClientContext* context);

// The header a cluster's load balancer routes by (deploy/haproxy/haproxy.cfg).
inline constexpr char kSessionHeader[] = "x-infmem-session";
// Sends `session_id` (when not empty) in kSessionHeader, so that a cluster routes the call
// to the replica likely to hold the session.
void RouteBySession(const std::string& session_id, grpc::ClientContext* context);

// Converts a call's grpc::Status to an absl::Status (the codes are the same numbers).
absl::Status FromGrpcStatus(const grpc::Status& status);

// Returns the exit code for a command's outcome: 0 when OK, otherwise 10 + the code.
int ExitCodeFor(const absl::Status& status);

// Formats a failure for stderr: "infmem: NOT_FOUND: <message>".
std::string ErrorLine(const absl::Status& status);

}  // namespace infmem::client

#endif  // INFMEM_CLIENT_CLIENT_H_
