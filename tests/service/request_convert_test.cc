#include "server/service/request_convert.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

namespace infmem::service {
namespace {

using ::testing::HasSubstr;

void ExpectError(const absl::Status& status, absl::StatusCode code, const std::string& words) {
  EXPECT_EQ(status.code(), code) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr(words));
}

TEST(ValidateTextTest, SizeAndUtf8AreCheckedAndTheFieldNamed) {
  RequestLimits limits;
  limits.max_text_bytes = 8;
  EXPECT_TRUE(ValidateText("text", "héllo", limits).ok());
  ExpectError(ValidateText("text", "123456789", limits), absl::StatusCode::kResourceExhausted,
              "text is 9 bytes, over the limit of 8");
  ExpectError(ValidateText("text", "ab\xC3(", limits), absl::StatusCode::kInvalidArgument,
              "text: invalid UTF-8 at byte 2");
}

TEST(TokenIdsFromProtoTest, EveryIdIsCheckedAgainstTheVocabulary) {
  RequestLimits limits;
  limits.max_token_ids = 3;
  google::protobuf::RepeatedField<int32_t> ids;
  ids.Add(0);
  ids.Add(9);
  EXPECT_EQ(TokenIdsFromProto("token_ids.ids", ids, 10, limits).value(),
            (std::vector<int32_t>{0, 9}));
  ids.Add(10);
  ExpectError(TokenIdsFromProto("token_ids.ids", ids, 10, limits).status(),
              absl::StatusCode::kInvalidArgument, "token_ids.ids[2]: token id 10 out of range");
  ids.Set(2, -1);
  ExpectError(TokenIdsFromProto("token_ids.ids", ids, 10, limits).status(),
              absl::StatusCode::kInvalidArgument, "token_ids.ids[2]");
  ids.Set(2, 1);
  ids.Add(1);
  ExpectError(TokenIdsFromProto("token_ids.ids", ids, 10, limits).status(),
              absl::StatusCode::kResourceExhausted, "4 ids, over the limit of 3");
}

TEST(GenerateOptionsTest, UnsetFieldsTakeTheirDocumentedDefaults) {
  RequestLimits limits;
  const GenerateOptions o = GenerateOptionsFromProto(v1::GenerateRequest(), limits, 77).value();
  EXPECT_EQ(o.max_tokens, limits.default_new_tokens);
  EXPECT_EQ(o.sampling.temperature, 0.0);
  EXPECT_EQ(o.sampling.top_k, 0);
  EXPECT_EQ(o.sampling.top_p, 1.0);
  EXPECT_EQ(o.sampling.min_p, 0.0);
  EXPECT_EQ(o.sampling.repetition_penalty, 1.0);
  EXPECT_EQ(o.sampling.seed, 77u);
  EXPECT_TRUE(o.stop.empty());
  EXPECT_FALSE(o.dry_run);
}

TEST(GenerateOptionsTest, GivenFieldsPassThrough) {
  v1::GenerateRequest r;
  r.set_max_tokens(12);
  r.mutable_sampling()->set_temperature(0.7);
  r.mutable_sampling()->set_top_k(40);
  r.mutable_sampling()->set_top_p(0.9);
  r.mutable_sampling()->set_min_p(0.05);
  r.mutable_sampling()->set_repetition_penalty(1.1);
  r.mutable_sampling()->set_seed(5);
  r.add_stop("\n\n");
  r.set_dry_run(true);
  const GenerateOptions o = GenerateOptionsFromProto(r, RequestLimits(), 77).value();
  EXPECT_EQ(o.max_tokens, 12);
  EXPECT_EQ(o.sampling.temperature, 0.7);
  EXPECT_EQ(o.sampling.top_k, 40);
  EXPECT_EQ(o.sampling.top_p, 0.9);
  EXPECT_EQ(o.sampling.min_p, 0.05);
  EXPECT_EQ(o.sampling.repetition_penalty, 1.1);
  EXPECT_EQ(o.sampling.seed, 5u);
  EXPECT_EQ(o.stop, std::vector<std::string>{"\n\n"});
  EXPECT_TRUE(o.dry_run);
}

TEST(GenerateOptionsTest, MaxTokensAboveTheLimitIsCappedToIt) {
  RequestLimits limits;
  limits.max_new_tokens = 100;
  limits.default_new_tokens = 20;
  v1::GenerateRequest r;
  r.set_session_id("s");
  r.set_max_tokens(101);
  EXPECT_EQ(GenerateOptionsFromProto(r, limits, 1).value().max_tokens, 100);
  r.set_max_tokens(1 << 30);
  EXPECT_EQ(GenerateOptionsFromProto(r, limits, 1).value().max_tokens, 100);
  r.set_max_tokens(100);
  EXPECT_EQ(GenerateOptionsFromProto(r, limits, 1).value().max_tokens, 100);
  r.set_max_tokens(0);
  EXPECT_EQ(GenerateOptionsFromProto(r, limits, 1).value().max_tokens, 20);
}

TEST(GenerateOptionsTest, BadValuesNameTheirField) {
  RequestLimits limits;
  limits.max_new_tokens = 100;
  limits.max_stop_sequences = 2;
  limits.max_stop_bytes = 4;
  struct Case {
    void (*mutate)(v1::GenerateRequest&);
    std::string words;
  } cases[] = {
      {[](v1::GenerateRequest& r) { r.set_max_tokens(-1); }, "max_tokens must be >= 0"},
      {[](v1::GenerateRequest& r) { r.mutable_sampling()->set_temperature(-0.5); },
       "sampling.temperature"},
      {[](v1::GenerateRequest& r) { r.mutable_sampling()->set_temperature(NAN); },
       "sampling.temperature"},
      {[](v1::GenerateRequest& r) { r.mutable_sampling()->set_top_k(-3); }, "sampling.top_k"},
      {[](v1::GenerateRequest& r) { r.mutable_sampling()->set_top_p(1.5); }, "sampling.top_p"},
      {[](v1::GenerateRequest& r) { r.mutable_sampling()->set_top_p(-0.1); }, "sampling.top_p"},
      {[](v1::GenerateRequest& r) { r.mutable_sampling()->set_min_p(1.0); }, "sampling.min_p"},
      {[](v1::GenerateRequest& r) { r.mutable_sampling()->set_repetition_penalty(-2); },
       "sampling.repetition_penalty"},
      {[](v1::GenerateRequest& r) { r.add_stop(""); }, "stop[0] is empty"},
      {[](v1::GenerateRequest& r) { r.add_stop("\xFF"); }, "stop[0]: invalid UTF-8 at byte 0"},
  };
  for (const Case& c : cases) {
    v1::GenerateRequest r;
    c.mutate(r);
    ExpectError(GenerateOptionsFromProto(r, limits, 1).status(), absl::StatusCode::kInvalidArgument,
                c.words);
  }
}

TEST(GenerateOptionsTest, StopSizeLimitsAreResourceExhaustedLikeEveryOtherSizeLimit) {
  RequestLimits limits;
  limits.max_stop_sequences = 2;
  limits.max_stop_bytes = 4;
  v1::GenerateRequest r;
  r.add_stop("12345");
  ExpectError(GenerateOptionsFromProto(r, limits, 1).status(), absl::StatusCode::kResourceExhausted,
              "stop[0] is 5 bytes, over the limit of 4");
  r.clear_stop();
  for (int i = 0; i < 3; ++i) r.add_stop("x");
  ExpectError(GenerateOptionsFromProto(r, limits, 1).status(), absl::StatusCode::kResourceExhausted,
              "stop holds 3 sequences, over the limit of 2");
}

TEST(PageTokenTest, RoundTripsAndRefusesTokensItDidNotIssue) {
  for (const std::string& id :
       std::vector<std::string>{"a", "session-42", "tenant_x.s_1", std::string(128, 'z')}) {
    const std::string token = EncodePageToken(id);
    EXPECT_NE(token.substr(0, token.find('.')), id) << "opaque: " << token;
    EXPECT_EQ(DecodePageToken(token).value(), id);
  }
  const std::string good = EncodePageToken("session-42");
  std::string flipped = good;
  flipped[2] = flipped[2] == 'A' ? 'B' : 'A';  // an edit inside the id part
  std::string wrong_sum = good;
  wrong_sum.back() = wrong_sum.back() == '0' ? '1' : '0';
  for (const std::string& bad :
       {std::string("session-42"), flipped, wrong_sum, std::string("."), std::string("!!.00"),
        good.substr(0, good.size() - 1), EncodePageToken("").substr(0)}) {
    ExpectError(DecodePageToken(bad).status(), absl::StatusCode::kInvalidArgument,
                "page_token is not a token this server issued");
  }
}

TEST(PageTokenTest, OnlyTheIssuedEncodingIsAccepted) {
  // "YQ" and the padded "YQ==" decode to the same id; only the issued form is a token (the
  // request fuzzer found such alternate encodings).
  const std::string token = EncodePageToken("a");
  ASSERT_EQ(token.substr(0, 3), "YQ.");
  ExpectError(DecodePageToken("YQ==" + token.substr(2)).status(),
              absl::StatusCode::kInvalidArgument, "page_token is not a token this server issued");
  EXPECT_EQ(DecodePageToken(token).value(), "a");
}

TEST(ToGrpcStatusTest, KeepsCodeAndMessage) {
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  const std::pair<absl::Status, grpc::StatusCode> cases[] = {
      {absl::InvalidArgumentError("a"), grpc::StatusCode::INVALID_ARGUMENT},
      {absl::NotFoundError("b"), grpc::StatusCode::NOT_FOUND},
      {absl::AlreadyExistsError("c"), grpc::StatusCode::ALREADY_EXISTS},
      {absl::AbortedError("d"), grpc::StatusCode::ABORTED},
      {absl::ResourceExhaustedError("e"), grpc::StatusCode::RESOURCE_EXHAUSTED},
      {absl::UnavailableError("f"), grpc::StatusCode::UNAVAILABLE},
      {absl::DataLossError("g"), grpc::StatusCode::DATA_LOSS},
      {absl::FailedPreconditionError("h"), grpc::StatusCode::FAILED_PRECONDITION},
      {absl::DeadlineExceededError("i"), grpc::StatusCode::DEADLINE_EXCEEDED},
      {absl::CancelledError("j"), grpc::StatusCode::CANCELLED},
      {absl::InternalError("k"), grpc::StatusCode::INTERNAL},
  };
  for (const auto& [status, code] : cases) {
    const grpc::Status g = ToGrpcStatus(status);
    EXPECT_EQ(g.error_code(), code) << status;
    EXPECT_EQ(g.error_message(), std::string(status.message()));
  }
}

}  // namespace
}  // namespace infmem::service
