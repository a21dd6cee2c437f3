#include "server/service/request_convert.h"

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/common/hash.h"
#include "server/common/status_macros.h"
#include "server/tokenizer/tokenizer.h"

namespace infmem::service {

absl::Status ValidateText(absl::string_view field, absl::string_view text,
                          const RequestLimits& limits) {
  if (static_cast<int64_t>(text.size()) > limits.max_text_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        field, " is ", text.size(), " bytes, over the limit of ", limits.max_text_bytes));
  }
  if (absl::Status s = tokenizer::ValidateUtf8(text); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", s.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int32_t>> TokenIdsFromProto(
    absl::string_view field, const google::protobuf::RepeatedField<int32_t>& ids, int vocab_size,
    const RequestLimits& limits) {
  if (ids.size() > limits.max_token_ids) {
    return absl::ResourceExhaustedError(absl::StrCat(
        field, " holds ", ids.size(), " ids, over the limit of ", limits.max_token_ids));
  }
  for (int i = 0; i < ids.size(); ++i) {
    if (absl::Status s = tokenizer::CheckTokenId(ids[i], vocab_size); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(field, "[", i, "]: ", s.message()));
    }
  }
  return std::vector<int32_t>(ids.begin(), ids.end());
}

absl::StatusOr<GenerateOptions> GenerateOptionsFromProto(const v1::GenerateRequest& request,
                                                         const RequestLimits& limits,
                                                         uint64_t default_seed) {
  GenerateOptions o;
  if (request.max_tokens() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_tokens must be >= 0, got ", request.max_tokens()));
  }
  // Above the server's limit, max_tokens is capped to it (as the proto says, and as vLLM and
  // TGI clients expect) rather than refused: the final message's usage shows what ran.
  o.max_tokens = request.max_tokens() == 0 ? limits.default_new_tokens
                                           : std::min(request.max_tokens(), limits.max_new_tokens);
  const v1::SamplingParams& p = request.sampling();
  o.sampling.temperature = p.temperature();
  o.sampling.top_k = p.top_k();
  o.sampling.top_p = p.top_p() == 0 ? 1.0 : p.top_p();
  o.sampling.min_p = p.min_p();
  o.sampling.repetition_penalty = p.repetition_penalty() == 0 ? 1.0 : p.repetition_penalty();
  o.sampling.seed = p.seed() == 0 ? default_seed : p.seed();
  if (absl::Status s = model::ValidateSamplingParams(o.sampling); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("sampling.", s.message()));
  }
  // Size limits are RESOURCE_EXHAUSTED, as for text and token ids (and gRPC's own message
  // limit); malformed values are INVALID_ARGUMENT.
  if (request.stop_size() > limits.max_stop_sequences) {
    return absl::ResourceExhaustedError(absl::StrCat("stop holds ", request.stop_size(),
                                                     " sequences, over the limit of ",
                                                     limits.max_stop_sequences));
  }
  for (int i = 0; i < request.stop_size(); ++i) {
    const std::string& stop = request.stop(i);
    if (stop.empty()) return absl::InvalidArgumentError(absl::StrCat("stop[", i, "] is empty"));
    if (static_cast<int64_t>(stop.size()) > limits.max_stop_bytes) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "stop[", i, "] is ", stop.size(), " bytes, over the limit of ", limits.max_stop_bytes));
    }
    if (absl::Status s = tokenizer::ValidateUtf8(stop); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("stop[", i, "]: ", s.message()));
    }
    o.stop.push_back(stop);
  }
  o.dry_run = request.dry_run();
  return o;
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  // absl and gRPC share the canonical code numbering.
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

namespace {

constexpr absl::string_view kPageTokenSalt = "infmem.v1.ListSessions.page_token:";

std::string PageTokenChecksum(absl::string_view id) {
  const std::string salted = absl::StrCat(kPageTokenSalt, id);
  return absl::StrFormat("%016x", Fnv1a64(salted.data(), salted.size()));
}

}  // namespace

std::string EncodePageToken(absl::string_view last_id) {
  return absl::StrCat(absl::WebSafeBase64Escape(last_id), ".", PageTokenChecksum(last_id));
}

absl::StatusOr<std::string> DecodePageToken(absl::string_view token) {
  const size_t dot = token.rfind('.');
  std::string id;
  if (dot == absl::string_view::npos || !absl::WebSafeBase64Unescape(token.substr(0, dot), &id) ||
      id.empty() ||
      EncodePageToken(id) != token) {  // the one encoding issued: fuzzing found others
    return absl::InvalidArgumentError(
        "page_token is not a token this server issued: pass next_page_token unchanged");
  }
  return id;
}

}  // namespace infmem::service
