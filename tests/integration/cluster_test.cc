// Cluster mode end to end: real PostgreSQL (initdb/pg_ctl), real HAProxy with the shipped
// config (deploy/haproxy/haproxy.cfg), real infmem-server replicas, all on 127.0.0.1. Clients
// route by x-infmem-session and number their calls (client_seq), retrying whatever fails;
// the yardstick is a single-node server fed the same acknowledged calls: every session's
// token count, every acknowledged generation and a greedy continuation must match it.
//
// Ports: replicas, PostgreSQL and HAProxy need theirs known before they start (HAProxy's
// config names the replicas): tests/testing/free_port.h draws them outside the range that
// port-0 listeners of tests running in parallel get theirs from.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "infmem/internal/v1/replica.grpc.pb.h"
#include "tests/integration/integration_env.h"
#include "tests/testing/local_cluster.h"
#include "tests/testing/postgres_instance.h"

namespace infmem::testing {
namespace {

constexpr int kLeaseSeconds = 2;

std::string Piece(int i) { return absl::StrCat(" and the ", i, " men went home"); }

// One call a client made and had acknowledged.
struct Op {
  bool generate = false;
  std::string text;          // append
  int tokens = 0;            // generate: max_tokens, greedy
  std::vector<int32_t> ids;  // generate: what it returned (empty when acknowledged as a duplicate)
  bool ids_known = true;
};

struct SessionLog {
  std::string id;
  uint64_t seed = 0;
  std::string first_text;
  uint64_t seq = 0;
  std::vector<Op> ops;
};

class ClusterTest : public ServerTest {
 protected:
  static void SetUpTestSuite() {
    auto pg = PostgresInstance::Start();
    ASSERT_TRUE(pg.ok()) << pg.status();
    pg_ = pg->release();
  }
  static void TearDownTestSuite() {
    delete pg_;
    pg_ = nullptr;
  }
  void SetUp() override {
    ServerTest::SetUp();
    ASSERT_NE(pg_, nullptr) << "PostgreSQL did not start (see the suite's set-up)";
    ASSERT_TRUE(pg_->Reset().ok());
  }
  // Starts the first `running` of `slots` replicas, and HAProxy over all slots.
  // Tests call it through ASSERT_NO_FATAL_FAILURE: nothing runs against a cluster that did
  // not start.
  void StartCluster(int slots, int running) {
    cluster_ = std::make_unique<LocalCluster>(LocalClusterOptions{
        INFMEM_SOURCE_DIR,
        ServerBinary(),
        pg_->uri(),
        dir_,
        slots,
        {"--model_dir=" + ModelDir(), "--threads=1", "--io_threads=4",
         absl::StrCat("--lease_seconds=", kLeaseSeconds), "--drain_seconds=5"}});
    for (int i = 0; i < running; ++i) ASSERT_TRUE(cluster_->StartReplica(i).ok());
    ASSERT_TRUE(cluster_->StartHaproxy().ok());
  }
  ServerProcess& replica(int i) { return cluster_->replica(i); }
  std::unique_ptr<v1::Infmem::Stub> ClusterStub() { return cluster_->NewStub(); }

  static std::unique_ptr<grpc::ClientContext> Routed(const std::string& id, int seconds = 30) {
    auto context = ContextWithin(std::chrono::seconds(seconds));
    context->AddMetadata("x-infmem-session", id);
    return context;
  }

  // The replica index that owns session `id` now (-1: none).
  int OwnerOf(const std::string& id) {
    auto owner = pg_->Query("SELECT owner FROM infmem_sessions WHERE id = '" + id + "'");
    if (!owner.ok() || owner->size() < 2 || (*owner)[0] != 'r') return -1;
    return std::atoi(owner->c_str() + 1);
  }

  std::string Sql(const std::string& sql) {
    auto out = pg_->Query(sql);
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? std::string(absl::StripTrailingAsciiWhitespace(*out)) : "";
  }

  // Creates the session of `log` through HAProxy, retrying.
  void CreateSession(v1::Infmem::Stub& stub, SessionLog& log) {
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    for (;;) {
      v1::CreateSessionRequest request;
      request.set_session_id(log.id);
      request.set_seed(log.seed);
      request.set_text(log.first_text);
      v1::Session session;
      grpc::Status status = stub.CreateSession(Routed(log.id).get(), request, &session);
      if (status.ok() || status.error_code() == grpc::StatusCode::ALREADY_EXISTS) return;
      if (HasFatalFailure()) return;
      ASSERT_LT(absl::Now(), deadline) << log.id << ": " << status.error_message();
      absl::SleepFor(absl::Milliseconds(200));
    }
  }

  // Makes the next call of `log` (every third a 3-token greedy generation, else an append)
  // through HAProxy, retrying with the same client_seq until it is acknowledged. Returns how
  // long the session was unavailable to it (zero when the first try succeeded).
  absl::Duration NextCall(v1::Infmem::Stub& stub, SessionLog& log, int k) {
    Op op;
    op.generate = k % 3 == 2;
    op.text = Piece(k);
    op.tokens = 3;
    const uint64_t seq = ++log.seq;
    const absl::Time start = absl::Now();
    absl::Time first_failure = absl::InfiniteFuture();
    for (int attempt = 0;; ++attempt) {
      grpc::Status status;
      if (op.generate) {
        v1::GenerateRequest request;
        request.set_session_id(log.id);
        request.set_max_tokens(op.tokens);
        request.set_client_seq(seq);
        auto context = Routed(log.id);
        Generation g = Generate(stub, request, context.get());
        status = g.status;
        if (status.ok()) {
          op.ids_known = g.last.finish_reason() != v1::FINISH_REASON_DUPLICATE;
          op.ids = g.ids;
        }
      } else {
        v1::AppendRequest request;
        request.set_session_id(log.id);
        request.set_text(op.text);
        request.set_client_seq(seq);
        v1::AppendResponse response;
        status = stub.Append(Routed(log.id).get(), request, &response);
      }
      if (status.ok()) break;
      if (first_failure == absl::InfiniteFuture()) first_failure = absl::Now();
      if (absl::Now() - start > absl::Seconds(60)) {
        ADD_FAILURE() << log.id << " call " << k << " never succeeded: " << status.error_code()
                      << " " << status.error_message();
        return absl::InfiniteDuration();
      }
      absl::SleepFor(absl::Milliseconds(100));
    }
    log.ops.push_back(std::move(op));
    return first_failure == absl::InfiniteFuture() ? absl::ZeroDuration()
                                                   : absl::Now() - first_failure;
  }

  // Replays every acknowledged call on a single-node server and compares each session.
  void CheckAgainstSingleNode(std::vector<SessionLog>& logs) {
    auto reference = StartServer({}, dir_ + "/reference");
    ASSERT_NE(reference, nullptr);
    auto ref = reference->NewStub();
    auto cluster = ClusterStub();
    for (SessionLog& log : logs) {
      v1::CreateSessionRequest create;
      create.set_session_id(log.id);
      create.set_seed(log.seed);
      create.set_text(log.first_text);
      v1::Session session;
      ASSERT_TRUE(
          ref->CreateSession(ContextWithin(std::chrono::seconds(30)).get(), create, &session).ok());
      for (size_t i = 0; i < log.ops.size(); ++i) {
        const Op& op = log.ops[i];
        if (op.generate) {
          Generation g = Greedy(*ref, log.id, op.tokens);
          ASSERT_TRUE(g.status.ok());
          if (op.ids_known) {
            EXPECT_EQ(g.ids, op.ids) << log.id << " generation " << i;
          }
        } else {
          ASSERT_TRUE(Append(*ref, log.id, op.text).ok());
        }
      }
      v1::GetSessionRequest get;
      get.set_session_id(log.id);
      v1::Session want, got;
      ASSERT_TRUE(ref->GetSession(ContextWithin(std::chrono::seconds(30)).get(), get, &want).ok());
      grpc::Status status;
      for (int attempt = 0; attempt < 50; ++attempt) {
        status = cluster->GetSession(Routed(log.id).get(), get, &got);
        if (status.ok()) break;
        absl::SleepFor(absl::Milliseconds(200));
      }
      ASSERT_TRUE(status.ok()) << status.error_message();
      EXPECT_EQ(got.tokens(), want.tokens()) << log.id;
      v1::GenerateRequest probe;
      probe.set_session_id(log.id);
      probe.set_max_tokens(8);
      probe.set_dry_run(true);
      // A session untouched since its owner died is served once the owner's lease expires.
      Generation mine;
      for (int attempt = 0; attempt < 50; ++attempt) {
        mine = Generate(*cluster, probe, Routed(log.id).get());
        if (mine.status.error_code() != grpc::StatusCode::UNAVAILABLE) break;
        absl::SleepFor(absl::Milliseconds(200));
      }
      ASSERT_TRUE(mine.status.ok()) << log.id << ": " << mine.status.error_message();
      EXPECT_EQ(mine.ids, Greedy(*ref, log.id, 8, /*dry_run=*/true).ids) << log.id;
    }
  }

  std::vector<SessionLog> MakeLogs(int n) {
    std::vector<SessionLog> logs(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
      logs[i].id = absl::StrCat("chat-", i);
      logs[i].seed = 1000 + static_cast<uint64_t>(i);
      logs[i].first_text = absl::StrCat("The jury ", i, " said that");
    }
    return logs;
  }

  static PostgresInstance* pg_;
  std::unique_ptr<LocalCluster> cluster_;
};

PostgresInstance* ClusterTest::pg_ = nullptr;

TEST_F(ClusterTest, KillNineOfTheBusiestReplicaLosesNoAcknowledgedToken) {
  ASSERT_NO_FATAL_FAILURE(StartCluster(3, 3));
  std::vector<SessionLog> logs = MakeLogs(24);
  auto stub = ClusterStub();
  for (SessionLog& log : logs) CreateSession(*stub, log);
  std::atomic<int> calls{0};
  std::atomic<bool> killed{false};
  std::mutex mu;
  absl::Duration worst = absl::ZeroDuration();
  std::vector<std::thread> clients;
  for (SessionLog& log : logs) {
    clients.emplace_back([&, log = &log] {
      auto own = ClusterStub();
      // Nine calls, and at least three that start after the kill: a fast model could
      // otherwise finish every call before it, and the kill would go unnoticed.
      for (int k = 0, after = 0; k < 9 || after < 3; ++k) {
        const bool after_kill = killed;
        const absl::Duration down = NextCall(*own, *log, k);
        ++calls;
        if (after_kill) {
          ++after;
          std::lock_guard<std::mutex> lock(mu);
          worst = std::max(worst, down);
        }
      }
    });
  }
  while (calls < 24 * 3) absl::SleepFor(absl::Milliseconds(20));
  const std::string busiest =
      Sql("SELECT owner FROM infmem_sessions WHERE owner IS NOT NULL GROUP BY owner "
          "ORDER BY count(*) DESC LIMIT 1");
  ASSERT_FALSE(busiest.empty());
  const int victim = std::atoi(busiest.c_str() + 1);
  const std::string held =
      Sql("SELECT count(*) FROM infmem_sessions WHERE owner = '" + busiest + "'");
  replica(victim).Kill();
  killed = true;
  for (std::thread& t : clients) t.join();
  std::printf("killed r%d holding %s sessions; the longest a session's call failed after: %s\n",
              victim, held.c_str(), absl::FormatDuration(worst).c_str());
  EXPECT_LT(worst, absl::Seconds(kLeaseSeconds + 8));
  EXPECT_GT(std::stoi(Sql("SELECT count(*) FROM infmem_sessions WHERE previous_owner = '" +
                          busiest + "'")),
            0);
  CheckAgainstSingleNode(logs);
}

TEST_F(ClusterTest, APausedReplicaIsFencedAndAnswersItsStaleCallUnavailable) {
  ASSERT_NO_FATAL_FAILURE(StartCluster(3, 3));
  std::vector<SessionLog> logs = MakeLogs(9);
  auto stub = ClusterStub();
  for (SessionLog& log : logs) {
    CreateSession(*stub, log);
    NextCall(*stub, log, 0);
  }
  const int victim = OwnerOf(logs[0].id);
  ASSERT_GE(victim, 0);
  const std::string owner = Sql("SELECT owner FROM infmem_sessions WHERE id = 'chat-0'");
  // A long generation straight to the owner; pause the owner once it streams.
  std::atomic<bool> streaming{false};
  Generation stale;
  std::thread stale_call([&] {
    auto direct = replica(victim).NewStub();
    v1::GenerateRequest request;
    request.set_session_id("chat-0");
    request.set_max_tokens(3000);
    auto context = ContextWithin(std::chrono::seconds(120));
    stale = Generate(*direct, request, context.get(),
                     [&](const v1::GenerateResponse&) { streaming = true; });
  });
  while (!streaming) absl::SleepFor(absl::Milliseconds(5));
  kill(replica(victim).pid(), SIGSTOP);
  absl::SleepFor(absl::Seconds(kLeaseSeconds + 1));
  // Its sessions move: every session takes one more call.
  for (int i = 0; i < 9; ++i) NextCall(*stub, logs[static_cast<size_t>(i)], 1);
  EXPECT_EQ(Sql("SELECT count(*) FROM infmem_sessions WHERE owner = '" + owner + "'"), "0");
  const std::string rows_before =
      Sql("SELECT count(*), coalesce(sum(length(tokens)), 0) FROM infmem_journal");
  const std::string snapshots_before =
      Sql("SELECT md5(string_agg(md5(data), '' ORDER BY "
          "session_id, chunk)) FROM infmem_snapshots");
  kill(replica(victim).pid(), SIGCONT);
  stale_call.join();
  EXPECT_EQ(stale.status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << stale.status.error_message();
  EXPECT_THAT(stale.status.error_message(), ::testing::HasSubstr("retry"));
  absl::SleepFor(absl::Seconds(1));  // its heartbeat and any write it might still attempt
  EXPECT_EQ(Sql("SELECT count(*), coalesce(sum(length(tokens)), 0) FROM infmem_journal"),
            rows_before);
  EXPECT_EQ(Sql("SELECT md5(string_agg(md5(data), '' ORDER BY session_id, chunk)) FROM "
                "infmem_snapshots"),
            snapshots_before);
  EXPECT_EQ(Sql("SELECT count(*) FROM infmem_journal j JOIN infmem_sessions s ON "
                "s.id = j.session_id WHERE j.epoch > s.epoch"),
            "0");
  for (int i = 0; i < 9; ++i) NextCall(*stub, logs[static_cast<size_t>(i)], 3);
  CheckAgainstSingleNode(logs);
}

TEST_F(ClusterTest, ScalingUpHandsSessionsOverAndADrainedReplicaExitsCleanly) {
  ASSERT_NO_FATAL_FAILURE(StartCluster(4, 3));
  std::vector<SessionLog> logs = MakeLogs(24);
  auto stub = ClusterStub();
  for (SessionLog& log : logs) {
    CreateSession(*stub, log);
    NextCall(*stub, log, 0);
    NextCall(*stub, log, 1);
  }
  ASSERT_TRUE(cluster_->StartReplica(3).ok());
  absl::SleepFor(absl::Seconds(2));  // HAProxy's checks see it up
  for (SessionLog& log : logs) NextCall(*stub, log, 2);
  const double handed_in =
      ScrapeMetric(replica(3).metrics_port(), "infmem_session_handoffs_total{direction=\"in\"}");
  std::printf("the fourth replica took %.0f sessions by handover\n", handed_in);
  EXPECT_GT(handed_in, 0);
  EXPECT_GT(std::stoi(Sql("SELECT count(*) FROM infmem_sessions WHERE owner LIKE 'r3/%'")), 0);
  // Drain one: it exits 0, its sessions are free at once, and they serve elsewhere.
  EXPECT_EQ(replica(1).Stop(), 0);
  EXPECT_EQ(Sql("SELECT count(*) FROM infmem_sessions WHERE owner LIKE 'r1/%'"), "0");
  EXPECT_EQ(Sql("SELECT count(*) FROM infmem_replicas WHERE id LIKE 'r1/%'"), "0");
  absl::Duration worst = absl::ZeroDuration();
  for (SessionLog& log : logs) worst = std::max(worst, NextCall(*stub, log, 3));
  std::printf("after the drain, the longest a session's call failed: %s\n",
              absl::FormatDuration(worst).c_str());
  CheckAgainstSingleNode(logs);
}

TEST_F(ClusterTest, ARetriedAppendAfterAFailoverIsNotDuplicated) {
  ASSERT_NO_FATAL_FAILURE(StartCluster(3, 3));
  auto stub = ClusterStub();
  SessionLog log = MakeLogs(1)[0];
  CreateSession(*stub, log);
  v1::AppendRequest request;
  request.set_session_id(log.id);
  request.set_text(" and the jury went home");
  request.set_client_seq(1);
  v1::AppendResponse first;
  ASSERT_TRUE(stub->Append(Routed(log.id).get(), request, &first).ok());
  const int killed = OwnerOf(log.id);
  replica(killed).Kill();
  // The client lost the acknowledgement (say) and retries the same call.
  v1::AppendResponse retry;
  grpc::Status status;
  const absl::Time deadline = absl::Now() + absl::Seconds(kLeaseSeconds + 20);
  do {
    absl::SleepFor(absl::Milliseconds(100));
    status = stub->Append(Routed(log.id).get(), request, &retry);
  } while (!status.ok() && absl::Now() < deadline);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(retry.duplicate());
  EXPECT_EQ(retry.session_tokens(), first.session_tokens());
  request.set_client_seq(2);
  ASSERT_TRUE(stub->Append(Routed(log.id).get(), request, &retry).ok());
  // The replicas' internal call refuses a malformed key, and HAProxy refuses it to clients.
  const int live = (killed + 1) % 3;
  auto channel = grpc::CreateChannel(replica(live).address(), grpc::InsecureChannelCredentials());
  auto internal = internal::v1::Replica::NewStub(channel);
  internal::v1::ReleaseSessionRequest release;
  release.set_session_key("../escape");
  internal::v1::ReleaseSessionResponse released;
  grpc::Status bad =
      internal->ReleaseSession(ContextWithin(std::chrono::seconds(10)).get(), release, &released);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(bad.error_message(), ::testing::HasSubstr("session_key"));
  auto via_lb = internal::v1::Replica::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", cluster_->haproxy_port()), grpc::InsecureChannelCredentials()));
  release.set_session_key(log.id);
  EXPECT_EQ(
      via_lb->ReleaseSession(ContextWithin(std::chrono::seconds(10)).get(), release, &released)
          .error_code(),
      grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_FALSE(retry.duplicate());
  EXPECT_EQ(retry.session_tokens(), first.session_tokens() + first.appended_tokens());
}

// The state bytes and pending tokens of session `id`, exported through `stub` (retried while
// the session is unavailable: its owner died and its lease has not run out).
std::pair<std::string, std::vector<int32_t>> ExportState(v1::Infmem::Stub& stub,
                                                         const std::string& id) {
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  for (;;) {
    v1::ExportSessionRequest request;
    request.set_session_id(id);
    auto context = ContextWithin(std::chrono::seconds(30));
    context->AddMetadata("x-infmem-session", id);
    auto reader = stub.ExportSession(context.get(), request);
    std::pair<std::string, std::vector<int32_t>> out;
    v1::SessionChunk chunk;
    for (bool first = true; reader->Read(&chunk); first = false) {
      out.first += chunk.data();
      if (first)
        out.second.assign(chunk.pending_token_ids().begin(), chunk.pending_token_ids().end());
    }
    const grpc::Status status = reader->Finish();
    if (status.ok()) return out;
    if (absl::Now() > deadline) {
      ADD_FAILURE() << "exporting " << id << ": " << status.error_message();
      return {};
    }
    absl::SleepFor(absl::Milliseconds(200));
  }
}

// Fault 2: a Generate whose deadline passed on the client's side before its first token (its
// replica was paused) loses nothing: the retry with its client_seq gets the tokens. Fault 3: a
// session rebuilt by takeover from its journal (the owner killed) is bit for bit the session that
// never moved, although other sessions shared its decode steps.
TEST_F(ClusterTest, ARetriedGenerateGetsItsTokensAndATakeoverRebuildsTheStateBitForBit) {
  ASSERT_NO_FATAL_FAILURE(StartCluster(3, 3));
  auto stub = ClusterStub();
  std::vector<SessionLog> logs = MakeLogs(2);
  for (SessionLog& log : logs) CreateSession(*stub, log);
  SessionLog& log = logs[0];
  for (int k = 0; k < 4; ++k) {
    std::thread other([&] { NextCall(*ClusterStub(), logs[1], 2); });  // a generation alongside
    NextCall(*stub, log, k % 2 == 0 ? 0 : 2);  // appends and 3-token generations in turn
    other.join();
  }
  const int owner = OwnerOf(log.id);
  ASSERT_GE(owner, 0);
  auto direct = replica(owner).NewStub();
  v1::GenerateRequest request;
  request.set_session_id(log.id);
  request.set_max_tokens(6);
  request.set_dry_run(true);
  const Generation expected = Generate(*direct, request, Routed(log.id).get());
  ASSERT_TRUE(expected.status.ok()) << expected.status.error_message();
  ASSERT_EQ(expected.ids.size(), 6u);

  request.set_dry_run(false);
  request.set_client_seq(++log.seq);
  kill(replica(owner).pid(), SIGSTOP);
  auto hurried = ContextWithin(std::chrono::seconds(1));
  hurried->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(300));
  const Generation lost = Generate(*direct, request, hurried.get());
  absl::SleepFor(absl::Milliseconds(500));  // paused under its lease: no takeover
  kill(replica(owner).pid(), SIGCONT);
  EXPECT_EQ(lost.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
      << lost.status.error_message();
  Generation retried;
  for (int attempt = 0; attempt < 50; ++attempt) {
    retried = Generate(*stub, request, Routed(log.id).get());
    if (retried.status.ok()) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_TRUE(retried.status.ok()) << retried.status.error_message();
  // Whether the paused replica ran the call once resumed (its own deadline counts from when
  // it read the call) or not: the retry gets the tokens, generated once.
  EXPECT_EQ(retried.ids, expected.ids);
  const int64_t after_retry = retried.last.usage().session_tokens();
  Generation again = Generate(*stub, request, Routed(log.id).get());
  ASSERT_TRUE(again.status.ok()) << again.status.error_message();
  EXPECT_EQ(again.last.finish_reason(), v1::FINISH_REASON_DUPLICATE);
  EXPECT_EQ(again.ids, expected.ids);
  EXPECT_EQ(again.last.usage().session_tokens(), after_retry);

  const auto unmoved = ExportState(*direct, log.id);
  ASSERT_FALSE(unmoved.first.empty());
  ASSERT_EQ(OwnerOf(log.id), owner);
  replica(owner).Kill();
  const auto taken_over = ExportState(*stub, log.id);  // another replica replays the journal
  EXPECT_NE(OwnerOf(log.id), owner);
  EXPECT_EQ(taken_over.second, unmoved.second);
  EXPECT_TRUE(taken_over.first == unmoved.first) << "the state rebuilt by takeover differs";
}

TEST_F(ClusterTest, AReplicaRestartedUnderItsOwnNameServesItsPreviousSessionsAtOnce) {
  // A container restarted in place keeps its --replica_id and --advertise_address. Its
  // previous life's lease must not make it wait for itself: with a lease of 15 s, the session
  // it owned serves again within 2 s of the restarted replica serving.
  constexpr int kLongLease = 15;
  cluster_ = std::make_unique<LocalCluster>(
      LocalClusterOptions{INFMEM_SOURCE_DIR,
                          ServerBinary(),
                          pg_->uri(),
                          dir_,
                          1,
                          {"--model_dir=" + ModelDir(), "--threads=1", "--io_threads=4",
                           absl::StrCat("--lease_seconds=", kLongLease), "--drain_seconds=5"}});
  ASSERT_TRUE(cluster_->StartReplica(0).ok());
  auto stub = replica(0).NewStub();
  SessionLog log = MakeLogs(1)[0];
  CreateSession(*stub, log);
  v1::AppendRequest request;
  request.set_session_id(log.id);
  request.set_text(" and the jury went home");
  v1::AppendResponse before;
  ASSERT_TRUE(stub->Append(Routed(log.id).get(), request, &before).ok());
  replica(0).Kill();
  const absl::Time killed = absl::Now();
  cluster_->Drop(0);
  ASSERT_TRUE(cluster_->StartReplica(0).ok());
  const absl::Time serving = absl::Now();
  stub = replica(0).NewStub();
  v1::AppendResponse after;
  grpc::Status status;
  do {
    status = stub->Append(Routed(log.id).get(), request, &after);
    if (!status.ok()) absl::SleepFor(absl::Milliseconds(50));
  } while (!status.ok() && absl::Now() < killed + absl::Seconds(3 * kLongLease));
  ASSERT_TRUE(status.ok()) << status.error_message();
  const absl::Time served = absl::Now();
  std::printf("killed -> serving %.2f s, serving -> session served %.2f s\n",
              absl::ToDoubleSeconds(serving - killed), absl::ToDoubleSeconds(served - serving));
  EXPECT_LT(served - serving, absl::Seconds(2));
  EXPECT_EQ(after.session_tokens(), before.session_tokens() + after.appended_tokens());
  // The takeover fenced the previous life: the session's epoch moved on.
  EXPECT_EQ(Sql("SELECT epoch > 1 FROM infmem_sessions WHERE id = '" + log.id + "'"), "t");
}

}  // namespace
}  // namespace infmem::testing
