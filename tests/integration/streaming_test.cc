// Generate against the real server: stream shape, cancellation, deadlines, one call per
// session, many sessions at once, stop sequences.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/integration/integration_env.h"

namespace infmem::testing {
namespace {

using ::testing::ElementsAreArray;

class StreamingTest : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    server_ = StartServer();
    ASSERT_NE(server_, nullptr);
    stub_ = server_->NewStub();
  }
  std::string Detokenize(const std::vector<int32_t>& ids) {
    v1::DetokenizeRequest request;
    request.mutable_token_ids()->Add(ids.begin(), ids.end());
    v1::DetokenizeResponse response;
    auto context = ContextWithin(std::chrono::seconds(30));
    EXPECT_TRUE(stub_->Detokenize(context.get(), request, &response).ok());
    return response.text();
  }

  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<v1::Infmem::Stub> stub_;
};

TEST_F(StreamingTest, TokensStreamInOrderAndTheLastMessageSaysWhyAndHowMany) {
  v1::Session created;
  ASSERT_TRUE(Create(*stub_, "s", "The jury said that", &created).ok());
  Generation g = Greedy(*stub_, "s", 40);
  ASSERT_TRUE(g.status.ok()) << g.status.error_message();
  EXPECT_EQ(g.ids.size(), 40u);
  EXPECT_GT(g.messages, 1);
  EXPECT_EQ(g.last.finish_reason(), v1::FINISH_REASON_LENGTH);
  EXPECT_EQ(g.last.usage().generated_tokens(), 40);
  EXPECT_EQ(g.last.usage().prompt_tokens(), 0);
  EXPECT_EQ(g.last.usage().session_tokens(), created.tokens() + 40);
  // The streamed text is the text of the streamed ids (the tokenizer drops the first
  // piece's leading space when decoding a whole sequence).
  std::string text = g.text;
  if (!text.empty() && text[0] == ' ') text.erase(0, 1);
  EXPECT_EQ(text, Detokenize(g.ids));
  v1::Session after;
  ASSERT_TRUE(Get(*stub_, "s", &after).ok());
  EXPECT_EQ(after.tokens(), created.tokens() + 40);
}

TEST_F(StreamingTest, GreedyGenerationIsReproducibleAndSeededSamplingToo) {
  ASSERT_TRUE(Create(*stub_, "a", "It was a cold").ok());
  const Generation greedy1 = Greedy(*stub_, "a", 20, /*dry_run=*/true);
  const Generation greedy2 = Greedy(*stub_, "a", 20, /*dry_run=*/true);
  EXPECT_EQ(greedy1.ids, greedy2.ids);
  v1::GenerateRequest request;
  request.set_session_id("a");
  request.set_max_tokens(20);
  request.set_dry_run(true);
  request.mutable_sampling()->set_temperature(1.0);
  request.mutable_sampling()->set_top_p(0.9);
  request.mutable_sampling()->set_seed(7);
  EXPECT_EQ(Generate(*stub_, request).ids, Generate(*stub_, request).ids);
  v1::Session s;
  ASSERT_TRUE(Get(*stub_, "a", &s).ok());
  EXPECT_EQ(s.tokens(), 5);  // BOS + 4: dry runs left nothing behind
}

TEST_F(StreamingTest, AStopSequenceEndsTheStreamAndIsNotSent) {
  ASSERT_TRUE(Create(*stub_, "s", "The jury said that").ok());
  const Generation free = Greedy(*stub_, "s", 30, /*dry_run=*/true);
  ASSERT_GT(free.text.size(), 12u);
  const std::string stop = free.text.substr(8, 4);  // a piece of what greedy decoding says
  v1::GenerateRequest request;
  request.set_session_id("s");
  request.set_max_tokens(30);
  request.add_stop(stop);
  const Generation stopped = Generate(*stub_, request);
  ASSERT_TRUE(stopped.status.ok());
  EXPECT_EQ(stopped.last.finish_reason(), v1::FINISH_REASON_STOP);
  EXPECT_EQ(stopped.text, free.text.substr(0, free.text.find(stop)));
  EXPECT_LT(stopped.ids.size(), free.ids.size());
}

TEST_F(StreamingTest, CancellingStopsDecodingAndTheSessionHoldsExactlyWhatWasGenerated) {
  ASSERT_TRUE(Create(*stub_, "s", "The jury said that").ok());
  v1::ForkSessionRequest fork;
  fork.set_session_id("s");
  fork.set_new_session_id("reference");
  v1::Session forked;
  auto fork_context = ContextWithin(std::chrono::seconds(30));
  ASSERT_TRUE(stub_->ForkSession(fork_context.get(), fork, &forked).ok());

  grpc::ClientContext context;
  v1::GenerateRequest request;
  request.set_session_id("s");
  request.set_max_tokens(4000);
  int seen = 0;
  const Generation g = Generate(*stub_, request, &context, [&](const v1::GenerateResponse&) {
    if (++seen == 5) context.TryCancel();
  });
  EXPECT_EQ(g.status.error_code(), grpc::StatusCode::CANCELLED);
  WaitUntilFree(*stub_, "s");
  // The session stays usable and holds the tokens generated before the cancel was seen.
  v1::Session s;
  ASSERT_TRUE(Get(*stub_, "s", &s).ok());
  const int64_t generated = s.tokens() - forked.tokens();
  EXPECT_GE(generated, static_cast<int64_t>(g.ids.size()));
  EXPECT_LT(generated, 4000);
  // They are the greedy continuation: the session continues where the reference does after
  // the same number of tokens.
  const Generation reference = Greedy(*stub_, "reference", static_cast<int>(generated) + 10);
  const Generation next = Greedy(*stub_, "s", 10);
  ASSERT_TRUE(next.status.ok());
  EXPECT_THAT(next.ids, ElementsAreArray(reference.ids.end() - 10, reference.ids.end()));
  EXPECT_THAT(g.ids, ElementsAreArray(reference.ids.begin(),
                                      reference.ids.begin() + static_cast<int>(g.ids.size())));
}

TEST_F(StreamingTest, ADeadlineEndsTheCallAndTheSessionStaysUsable) {
  ASSERT_TRUE(Create(*stub_, "s", "The jury said that").ok());
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(300));
  v1::GenerateRequest request;
  request.set_session_id("s");
  request.set_max_tokens(4000);
  const Generation g = Generate(*stub_, request, &context);
  EXPECT_EQ(g.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  WaitUntilFree(*stub_, "s");
  v1::AppendResponse appended;
  ASSERT_TRUE(Append(*stub_, "s", " Then", &appended).ok());
  EXPECT_LT(appended.session_tokens(), 4000);
  EXPECT_TRUE(Greedy(*stub_, "s", 3).status.ok());
}

TEST_F(StreamingTest, ACallThatFailsBeforeItsFirstTokenDoesNotConsumeItsClientSeq) {
  ASSERT_TRUE(Create(*stub_, "s", "The jury said that").ok());
  v1::Session before;
  ASSERT_TRUE(Get(*stub_, "s", &before).ok());
  std::string prompt;
  for (int i = 0; i < 300; ++i) prompt += " the county grand jury said on friday";
  v1::GenerateRequest request;
  request.set_session_id("s");
  request.set_text(prompt);
  request.set_max_tokens(4);
  request.set_client_seq(7);
  // A deadline that passes while the prompt is fed: an error and no token.
  grpc::ClientContext hurried;
  hurried.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(20));
  const Generation failed = Generate(*stub_, request, &hurried);
  EXPECT_EQ(failed.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_TRUE(failed.ids.empty());
  WaitUntilFree(*stub_, "s");
  v1::Session after_failure;
  ASSERT_TRUE(Get(*stub_, "s", &after_failure).ok());
  EXPECT_EQ(after_failure.tokens(), before.tokens()) << "the failed call left a trace";
  // The retry with the same number does the whole call: prompt once, then its tokens.
  const Generation retried = Generate(*stub_, request);
  ASSERT_TRUE(retried.status.ok()) << retried.status.error_message();
  EXPECT_EQ(retried.last.finish_reason(), v1::FINISH_REASON_LENGTH);
  EXPECT_EQ(retried.ids.size(), 4u);
  v1::Session after_retry;
  ASSERT_TRUE(Get(*stub_, "s", &after_retry).ok());
  EXPECT_EQ(after_retry.tokens(), before.tokens() + retried.last.usage().prompt_tokens() + 4);
  // Now the number is spent: a third send is a duplicate, which gets the tokens the call
  // generated again (its answer might have been lost) and stores nothing.
  const Generation again = Generate(*stub_, request);
  EXPECT_EQ(again.last.finish_reason(), v1::FINISH_REASON_DUPLICATE);
  EXPECT_EQ(again.ids, retried.ids);
  EXPECT_EQ(again.text, retried.text);
  v1::Session after_again;
  ASSERT_TRUE(Get(*stub_, "s", &after_again).ok());
  EXPECT_EQ(after_again.tokens(), after_retry.tokens());

  // The same for an Append: all or nothing.
  v1::AppendRequest append;
  append.set_session_id("s");
  append.set_text(prompt);
  append.set_client_seq(8);
  grpc::ClientContext hurried_append;
  hurried_append.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(20));
  v1::AppendResponse appended;
  EXPECT_EQ(stub_->Append(&hurried_append, append, &appended).error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
  WaitUntilFree(*stub_, "s");
  v1::Session after_append_failure;
  ASSERT_TRUE(Get(*stub_, "s", &after_append_failure).ok());
  EXPECT_EQ(after_append_failure.tokens(), after_retry.tokens());
  auto context = ContextWithin(std::chrono::seconds(60));
  ASSERT_TRUE(stub_->Append(context.get(), append, &appended).ok());
  EXPECT_FALSE(appended.duplicate());
  EXPECT_EQ(appended.session_tokens(), after_retry.tokens() + retried.last.usage().prompt_tokens());
}

TEST_F(StreamingTest, ASecondCallOnABusySessionIsAborted) {
  ASSERT_TRUE(Create(*stub_, "s", "The jury said that").ok());
  grpc::ClientContext context;
  v1::GenerateRequest request;
  request.set_session_id("s");
  request.set_max_tokens(4000);
  grpc::Status second;
  grpc::Status fork_status;
  bool asked = false;
  const Generation g = Generate(*stub_, request, &context, [&](const v1::GenerateResponse&) {
    if (asked) return;
    asked = true;  // the first call is streaming: the session is busy
    second = Append(*stub_, "s", " more");
    context.TryCancel();
  });
  EXPECT_EQ(second.error_code(), grpc::StatusCode::ABORTED) << second.error_message();
  EXPECT_THAT(second.error_message(), ::testing::HasSubstr("busy"));
  EXPECT_EQ(g.status.error_code(), grpc::StatusCode::CANCELLED);
  WaitUntilFree(*stub_, "s");
  EXPECT_TRUE(Append(*stub_, "s", " more").ok());
}

TEST_F(StreamingTest, SixtyFourSessionsStreamAtOnce) {
  constexpr int kSessions = 64;
  for (int i = 0; i < kSessions; ++i) {
    ASSERT_TRUE(Create(*stub_, absl::StrCat("s", i), absl::StrCat("Number ", i, " said")).ok());
  }
  std::vector<Generation> results(kSessions);
  std::vector<std::thread> threads;
  for (int i = 0; i < kSessions; ++i) {
    threads.emplace_back([&, i] { results[i] = Greedy(*stub_, absl::StrCat("s", i), 16); });
  }
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < kSessions; ++i) {
    ASSERT_TRUE(results[i].status.ok()) << i << ": " << results[i].status.error_message();
    EXPECT_EQ(results[i].ids.size(), 16u) << i;
  }
  // Each session's stream matches what it generates alone (batching changes nothing).
  for (int i : {0, 31, 63}) {
    ASSERT_TRUE(Create(*stub_, absl::StrCat("alone", i), absl::StrCat("Number ", i, " said")).ok());
    EXPECT_EQ(Greedy(*stub_, absl::StrCat("alone", i), 16).ids, results[i].ids) << i;
  }
}

// Returns the value of `name` in the environment of process `pid`, or "" if unset.
std::string EnvironmentOf(pid_t pid, const std::string& name) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/environ"));
  std::string entry;
  while (std::getline(in, entry, '\0')) {
    if (entry.rfind(name + "=", 0) == 0) return entry.substr(name.size() + 1);
  }
  return "";
}

// Idle OpenMP threads must sleep, not spin, or they hold the cores the gRPC threads stream on
// (README, server flags): the server sets the passive policy for itself unless one is given.
TEST_F(StreamingTest, TheServerRunsWithPassiveOpenMpWaitUnlessAPolicyIsGiven) {
  const char* before = std::getenv("OMP_WAIT_POLICY");
  const std::string saved = before != nullptr ? before : "";
  unsetenv("OMP_WAIT_POLICY");
  auto passive = StartServer({}, dir_ + "/passive");
  ASSERT_NE(passive, nullptr);
  EXPECT_EQ(EnvironmentOf(passive->pid(), "OMP_WAIT_POLICY"), "passive");
  auto stub = passive->NewStub();
  ASSERT_TRUE(Create(*stub, "s", "The jury said").ok());
  EXPECT_TRUE(Greedy(*stub, "s", 4).status.ok());

  setenv("OMP_WAIT_POLICY", "active", 1);
  auto active = StartServer({}, dir_ + "/active");
  if (before != nullptr) {
    setenv("OMP_WAIT_POLICY", saved.c_str(), 1);
  } else {
    unsetenv("OMP_WAIT_POLICY");
  }
  ASSERT_NE(active, nullptr);
  EXPECT_EQ(EnvironmentOf(active->pid(), "OMP_WAIT_POLICY"), "active");
}

}  // namespace
}  // namespace infmem::testing
