// Bad input of every kind gets the right status code and a message naming the problem, and
// the server stays up.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "tests/integration/integration_env.h"

namespace infmem::testing {
namespace {

using ::testing::HasSubstr;

class ValidationTest : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    server_ =
        StartServer({"--max_text_bytes=1000", "--max_new_tokens=100", "--default_new_tokens=50",
                     "--max_stored_sessions=3", "--max_message_bytes=4096"});
    ASSERT_NE(server_, nullptr);
    stub_ = server_->NewStub();
    ASSERT_TRUE(Create(*stub_, "s", "The jury said that").ok());
  }
  void TearDown() override {
    if (stub_ != nullptr) {
      EXPECT_TRUE(Ping(*stub_).ok()) << "the server went down";
    }
  }
  grpc::Status GenerateWith(const std::function<void(v1::GenerateRequest&)>& edit) {
    v1::GenerateRequest request;
    request.set_session_id("s");
    request.set_max_tokens(3);
    edit(request);
    return Generate(*stub_, request).status;
  }

  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<v1::Infmem::Stub> stub_;
};

TEST_F(ValidationTest, MalformedSessionIdsAreInvalidArgumentBeforeAnyFileIsTouched) {
  const std::vector<std::string> ids = {
      "", "../etc", "a/b", "..", "a b", std::string(129, 'x'), std::string("nul\0byte", 8)};
  for (const std::string& id : ids) {
    v1::Session s;
    const grpc::Status status = Get(*stub_, id, &s);
    EXPECT_EQ(status.error_code(), grpc::INVALID_ARGUMENT) << id;
    EXPECT_THAT(status.error_message(), HasSubstr("session_id")) << id;
    EXPECT_EQ(Append(*stub_, id, "x").error_code(), grpc::INVALID_ARGUMENT) << id;
    if (!id.empty()) {
      EXPECT_EQ(Create(*stub_, id).error_code(), grpc::INVALID_ARGUMENT) << id;
    }
  }
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/etc"));
}

TEST_F(ValidationTest, UnknownSessionsAreNotFound) {
  v1::Session s;
  EXPECT_EQ(Get(*stub_, "nobody", &s).error_code(), grpc::NOT_FOUND);
  EXPECT_EQ(Append(*stub_, "nobody", "x").error_code(), grpc::NOT_FOUND);
  EXPECT_EQ(Greedy(*stub_, "nobody", 3).status.error_code(), grpc::NOT_FOUND);
  v1::DeleteSessionRequest request;
  request.set_session_id("nobody");
  v1::DeleteSessionResponse response;
  auto context = ContextWithin(std::chrono::seconds(10));
  EXPECT_EQ(stub_->DeleteSession(context.get(), request, &response).error_code(), grpc::NOT_FOUND);
}

TEST_F(ValidationTest, ExistingIdsAreAlreadyExistsAndTheStoredLimitIsResourceExhausted) {
  EXPECT_EQ(Create(*stub_, "s").error_code(), grpc::ALREADY_EXISTS);
  ASSERT_TRUE(Create(*stub_, "t").ok());
  ASSERT_TRUE(Create(*stub_, "u").ok());
  const grpc::Status full = Create(*stub_, "v");
  EXPECT_EQ(full.error_code(), grpc::RESOURCE_EXHAUSTED);
  EXPECT_THAT(full.error_message(), HasSubstr("3 sessions"));
}

TEST_F(ValidationTest, OversizeTextIsResourceExhaustedNamingTheLimit) {
  const grpc::Status status = Append(*stub_, "s", std::string(1001, 'a'));
  EXPECT_EQ(status.error_code(), grpc::RESOURCE_EXHAUSTED);
  EXPECT_THAT(status.error_message(), HasSubstr("1000"));
  EXPECT_EQ(GenerateWith([](auto& r) { r.set_text(std::string(1001, 'a')); }).error_code(),
            grpc::RESOURCE_EXHAUSTED);
}

TEST_F(ValidationTest, AMessageOverTheSizeLimitIsResourceExhausted) {
  v1::AppendRequest request;
  request.set_session_id("s");
  for (int i = 0; i < 3000; ++i) request.mutable_token_ids()->add_ids(4000);  // 6 KB
  v1::AppendResponse response;
  auto context = ContextWithin(std::chrono::seconds(10));
  EXPECT_EQ(stub_->Append(context.get(), request, &response).error_code(),
            grpc::RESOURCE_EXHAUSTED);
}

TEST_F(ValidationTest, TokenIdsOutOfTheVocabularyAreInvalidArgument) {
  v1::AppendRequest request;
  request.set_session_id("s");
  request.mutable_token_ids()->add_ids(5);
  request.mutable_token_ids()->add_ids(4096);
  v1::AppendResponse response;
  auto context = ContextWithin(std::chrono::seconds(10));
  const grpc::Status status = stub_->Append(context.get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("token_ids.ids[1]"));
  request.mutable_token_ids()->set_ids(1, -1);
  auto context2 = ContextWithin(std::chrono::seconds(10));
  EXPECT_EQ(stub_->Append(context2.get(), request, &response).error_code(), grpc::INVALID_ARGUMENT);
  v1::AppendRequest empty;
  empty.set_session_id("s");
  auto context3 = ContextWithin(std::chrono::seconds(10));
  EXPECT_EQ(stub_->Append(context3.get(), empty, &response).error_code(), grpc::INVALID_ARGUMENT);
}

TEST_F(ValidationTest, MaxTokensAboveTheServersLimitIsCappedNotRefused) {
  v1::GenerateRequest request;
  request.set_session_id("s");
  request.set_max_tokens(101);  // the server's --max_new_tokens is 100
  request.set_dry_run(true);
  const Generation g = Generate(*stub_, request);
  ASSERT_TRUE(g.status.ok()) << g.status.error_message();
  EXPECT_EQ(g.ids.size(), 100u);
  EXPECT_EQ(g.last.usage().generated_tokens(), 100);
  EXPECT_EQ(g.last.finish_reason(), v1::FINISH_REASON_LENGTH);
}

TEST_F(ValidationTest, BadSamplingValuesAreInvalidArgumentNamingTheField) {
  struct Case {
    std::function<void(v1::GenerateRequest&)> edit;
    std::string field;
  };
  const std::vector<Case> cases = {
      {[](auto& r) { r.mutable_sampling()->set_temperature(-1); }, "temperature"},
      {[](auto& r) { r.mutable_sampling()->set_top_p(1.5); }, "top_p"},
      {[](auto& r) { r.mutable_sampling()->set_top_k(-2); }, "top_k"},
      {[](auto& r) { r.mutable_sampling()->set_min_p(1.0); }, "min_p"},
      {[](auto& r) { r.mutable_sampling()->set_repetition_penalty(-1); }, "repetition_penalty"},
      {[](auto& r) { r.set_max_tokens(-1); }, "max_tokens"},
      {[](auto& r) { r.add_stop(""); }, "stop[0]"},
  };
  for (const Case& c : cases) {
    const grpc::Status status = GenerateWith(c.edit);
    EXPECT_EQ(status.error_code(), grpc::INVALID_ARGUMENT) << c.field;
    EXPECT_THAT(status.error_message(), HasSubstr(c.field));
  }
}

TEST_F(ValidationTest, InvalidUtf8NeverReachesTheModel) {
  // proto3 strings must be UTF-8; the server's parser refuses the message before any handler.
  const grpc::Status status = Append(*stub_, "s", "ok \xff\xfe bad");
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.error_code(), grpc::UNAVAILABLE);
}

TEST_F(ValidationTest, GeneratingFromAnEmptySessionIsFailedPrecondition) {
  // The text model starts each session with BOS; the sorting model has none.
  auto sorting = ServerProcess::Start(
      ServerBinary(),
      {"--model_dir=" + ModelDir("sorting"), "--threads=1", "--session_dir=" + dir_ + "/sorting"});
  ASSERT_TRUE(sorting.ok()) << sorting.status();
  auto stub = (*sorting)->NewStub();
  ASSERT_TRUE(Create(*stub, "empty").ok());
  const Generation g = Greedy(*stub, "empty", 3);
  EXPECT_EQ(g.status.error_code(), grpc::FAILED_PRECONDITION);
  EXPECT_THAT(g.status.error_message(), HasSubstr("empty"));
  EXPECT_TRUE(Greedy(*stub, "empty", 3, false, "3 1 4 1 5").status.ok());
}

TEST_F(ValidationTest, BadPageTokensAndSizesAreInvalidArgument) {
  v1::ListSessionsRequest request;
  request.set_page_token("../x");
  v1::ListSessionsResponse response;
  auto context = ContextWithin(std::chrono::seconds(10));
  EXPECT_EQ(stub_->ListSessions(context.get(), request, &response).error_code(),
            grpc::INVALID_ARGUMENT);
  // Tokens are opaque: a bare session id, as the server once issued them, is refused.
  request.set_page_token("s");
  auto context1 = ContextWithin(std::chrono::seconds(10));
  const grpc::Status plain = stub_->ListSessions(context1.get(), request, &response);
  EXPECT_EQ(plain.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_THAT(plain.error_message(), HasSubstr("page_token"));
  request.set_page_token("");
  request.set_page_size(-1);
  auto context2 = ContextWithin(std::chrono::seconds(10));
  EXPECT_EQ(stub_->ListSessions(context2.get(), request, &response).error_code(),
            grpc::INVALID_ARGUMENT);
}

TEST_F(ValidationTest, ListingPagesThroughEverySessionInIdOrder) {
  ASSERT_TRUE(Create(*stub_, "a").ok());
  ASSERT_TRUE(Create(*stub_, "b").ok());
  std::vector<std::string> ids;
  std::string token;
  do {
    v1::ListSessionsRequest request;
    request.set_page_size(2);
    request.set_page_token(token);
    v1::ListSessionsResponse response;
    auto context = ContextWithin(std::chrono::seconds(10));
    ASSERT_TRUE(stub_->ListSessions(context.get(), request, &response).ok());
    for (const auto& s : response.sessions()) ids.push_back(s.id());
    token = response.next_page_token();
  } while (!token.empty());
  EXPECT_EQ(ids, (std::vector<std::string>{"a", "b", "s"}));
}

}  // namespace
}  // namespace infmem::testing
