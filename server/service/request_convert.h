// Proto <-> core conversion for the gRPC service, with the validation every request passes
// before it reaches a session: sizes, UTF-8, token ids, sampling values. Errors are
// INVALID_ARGUMENT (or RESOURCE_EXHAUSTED for a size over a limit) and name the field, e.g.
// "sampling.top_p must be in (0, 1], got 1.5". Stateless; thread-safe.
#ifndef INFMEM_SERVER_SERVICE_REQUEST_CONVERT_H_
#define INFMEM_SERVER_SERVICE_REQUEST_CONVERT_H_

#include <grpcpp/support/status.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "infmem/v1/infmem.pb.h"
#include "server/model/sampler.h"

namespace infmem::service {

// The request limits of infmem-server (each has a flag).
struct RequestLimits {
  int64_t max_text_bytes = 1 << 20;  // text of one Append, Generate or Tokenize
  int64_t max_token_ids = 1 << 18;   // token ids of one Append or Detokenize
  int32_t max_new_tokens = 4096;     // ceiling of Generate's max_tokens
  int32_t default_new_tokens = 256;  // Generate's max_tokens when unset
  int32_t max_stop_sequences = 16;
  int32_t max_stop_bytes = 256;  // per stop sequence
};

// What a Generate call asks for, validated.
struct GenerateOptions {
  model::SamplingParams sampling;
  int32_t max_tokens = 0;
  std::vector<std::string> stop;
  bool dry_run = false;
};

// Checks `text` (the request field `field`): size within the limit (RESOURCE_EXHAUSTED) and
// valid UTF-8 (INVALID_ARGUMENT naming the byte offset).
absl::Status ValidateText(absl::string_view field, absl::string_view text,
                          const RequestLimits& limits);

// Returns the ids of the request field `field`, each checked against [0, vocab_size).
absl::StatusOr<std::vector<int32_t>> TokenIdsFromProto(
    absl::string_view field, const google::protobuf::RepeatedField<int32_t>& ids, int vocab_size,
    const RequestLimits& limits);

// Validates a GenerateRequest's generation fields. Unset values take their documented
// defaults (temperature 0 = greedy, top_p 0 = off, repetition_penalty 0 = off, seed 0 =
// `default_seed`, max_tokens 0 = the server's default).
absl::StatusOr<GenerateOptions> GenerateOptionsFromProto(const v1::GenerateRequest& request,
                                                         const RequestLimits& limits,
                                                         uint64_t default_seed);

// ListSessions page tokens (AIP-158): opaque to clients and tamper-evident. A token holds the
// last session id of the previous page, web-safe base64, and a checksum over it; it stays
// valid across restarts. EncodePageToken makes one; DecodePageToken returns the id inside,
// or INVALID_ARGUMENT for a token this server did not issue.
std::string EncodePageToken(absl::string_view last_id);
absl::StatusOr<std::string> DecodePageToken(absl::string_view token);

// Maps an absl::Status to the gRPC status with the same code and message.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace infmem::service

#endif  // INFMEM_SERVER_SERVICE_REQUEST_CONVERT_H_
