// Bearer-token authentication and tenant namespaces on the real server: calls without a valid
// token are UNAUTHENTICATED, and a tenant can neither see nor touch another's sessions through
// any RPC (NOT_FOUND, so ids do not leak).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "absl/strings/str_cat.h"
#include "tests/integration/integration_env.h"

namespace infmem::testing {
namespace {

constexpr char kAlice[] = "alice-token-0123456789";
constexpr char kBob[] = "bob-token-0123456789ab";

class TenantsTest : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    std::ofstream(dir_ + "/tokens") << "alice " << kAlice << "\nbob " << kBob << "\n";
    server_ = StartServer({"--auth_tokens=" + dir_ + "/tokens", "--max_sessions_per_tenant=3"});
    ASSERT_NE(server_, nullptr);
    stub_ = server_->NewStub();
  }
  // A context carrying `token` (empty: none).
  static std::unique_ptr<grpc::ClientContext> As(const std::string& token) {
    auto context = ContextWithin(std::chrono::seconds(60));
    if (!token.empty()) context->AddMetadata("authorization", "Bearer " + token);
    return context;
  }
  grpc::Status Create(const std::string& token, const std::string& id, v1::Session* out) {
    v1::CreateSessionRequest request;
    request.set_session_id(id);
    request.set_text("The jury said that");
    return stub_->CreateSession(As(token).get(), request, out);
  }
  grpc::Status Get(const std::string& token, const std::string& id, v1::Session* out) {
    v1::GetSessionRequest request;
    request.set_session_id(id);
    return stub_->GetSession(As(token).get(), request, out);
  }
  Generation Generate(const std::string& token, const std::string& id, int n) {
    v1::GenerateRequest request;
    request.set_session_id(id);
    request.set_max_tokens(n);
    return testing::Generate(*stub_, request, As(token).get());
  }
  std::vector<std::string> List(const std::string& token) {
    v1::ListSessionsResponse response;
    EXPECT_TRUE(stub_->ListSessions(As(token).get(), v1::ListSessionsRequest(), &response).ok());
    std::vector<std::string> ids;
    for (const auto& s : response.sessions()) ids.push_back(s.id());
    return ids;
  }

  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<v1::Infmem::Stub> stub_;
};

TEST_F(TenantsTest, CallsWithoutAValidTokenAreUnauthenticated) {
  v1::Session s;
  for (const std::string& token :
       std::vector<std::string>{"", "wrong-token-0123456789", std::string(kAlice) + "x"}) {
    EXPECT_EQ(Create(token, "x", &s).error_code(), grpc::UNAUTHENTICATED) << token;
    EXPECT_EQ(Get(token, "x", &s).error_code(), grpc::UNAUTHENTICATED);
    EXPECT_EQ(Generate(token, "x", 2).status.error_code(), grpc::UNAUTHENTICATED);
    v1::Model model;
    EXPECT_EQ(stub_->GetModel(As(token).get(), v1::GetModelRequest(), &model).error_code(),
              grpc::UNAUTHENTICATED);
  }
  EXPECT_TRUE(Create(kAlice, "x", &s).ok());
}

TEST_F(TenantsTest, ATenantCanNeitherSeeNorTouchAnothersSessions) {
  v1::Session alices;
  ASSERT_TRUE(Create(kAlice, "chat", &alices).ok());
  EXPECT_EQ(alices.id(), "chat");
  const Generation reference = Generate(kAlice, "chat", 5);
  ASSERT_TRUE(reference.status.ok());

  v1::Session s;
  EXPECT_EQ(Get(kBob, "chat", &s).error_code(), grpc::NOT_FOUND);
  EXPECT_EQ(Generate(kBob, "chat", 3).status.error_code(), grpc::NOT_FOUND);
  v1::AppendRequest append;
  append.set_session_id("chat");
  append.set_text(" more");
  v1::AppendResponse appended;
  EXPECT_EQ(stub_->Append(As(kBob).get(), append, &appended).error_code(), grpc::NOT_FOUND);
  v1::ForkSessionRequest fork;
  fork.set_session_id("chat");
  EXPECT_EQ(stub_->ForkSession(As(kBob).get(), fork, &s).error_code(), grpc::NOT_FOUND);
  v1::ExportSessionRequest export_request;
  export_request.set_session_id("chat");
  auto export_context = As(kBob);  // outlives the reader
  auto reader = stub_->ExportSession(export_context.get(), export_request);
  v1::SessionChunk chunk;
  while (reader->Read(&chunk)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::NOT_FOUND);
  v1::DeleteSessionRequest remove;
  remove.set_session_id("chat");
  v1::DeleteSessionResponse removed;
  EXPECT_EQ(stub_->DeleteSession(As(kBob).get(), remove, &removed).error_code(), grpc::NOT_FOUND);
  EXPECT_TRUE(List(kBob).empty());

  // The same id in bob's namespace is another session; alice's is untouched by all this.
  v1::Session bobs;
  ASSERT_TRUE(Create(kBob, "chat", &bobs).ok());
  EXPECT_EQ(List(kBob), std::vector<std::string>{"chat"});
  EXPECT_EQ(List(kAlice), std::vector<std::string>{"chat"});
  v1::Session after;
  ASSERT_TRUE(Get(kAlice, "chat", &after).ok());
  EXPECT_EQ(after.tokens(), alices.tokens() + 5);
  // A fork with a server-made id stays in the caller's namespace.
  v1::ForkSessionRequest own_fork;
  own_fork.set_session_id("chat");
  v1::Session forked;
  ASSERT_TRUE(stub_->ForkSession(As(kAlice).get(), own_fork, &forked).ok());
  EXPECT_EQ(Get(kBob, forked.id(), &s).error_code(), grpc::NOT_FOUND);
  EXPECT_TRUE(Get(kAlice, forked.id(), &s).ok());
  EXPECT_EQ(forked.id().find('.'), std::string::npos);
}

TEST_F(TenantsTest, EachTenantHasItsOwnLimitOfStoredSessions) {
  v1::Session s;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Create(kAlice, absl::StrCat("s", i), &s).ok());
  const grpc::Status full = Create(kAlice, "s3", &s);
  EXPECT_EQ(full.error_code(), grpc::RESOURCE_EXHAUSTED);
  EXPECT_THAT(full.error_message(), ::testing::HasSubstr("tenant"));
  EXPECT_TRUE(Create(kBob, "s0", &s).ok());
}

TEST_F(TenantsTest, AMalformedTokenFileStopsTheServer) {
  std::ofstream(dir_ + "/bad-tokens") << "alice short\n";
  auto server = ServerProcess::Start(
      ServerBinary(), {"--model_dir=" + ModelDir(), "--session_dir=" + dir_ + "/other",
                       "--auth_tokens=" + dir_ + "/bad-tokens"});
  EXPECT_FALSE(server.ok());
}

}  // namespace
}  // namespace infmem::testing
