// PgSessionStore against a real PostgreSQL (tests/testing/postgres_instance.h): the store's
// contract, ownership with fencing, handoff, and malformed rows and URIs.
#include "server/store/pg_session_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/strip.h"
#include "tests/testing/postgres_instance.h"

namespace infmem::store {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class PgSessionStoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto pg = testing::PostgresInstance::Start();
    ASSERT_TRUE(pg.ok()) << pg.status();
    pg_ = pg->release();
  }
  static void TearDownTestSuite() {
    delete pg_;
    pg_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(pg_, nullptr) << "PostgreSQL did not start (see the suite's set-up)";
    ASSERT_TRUE(pg_->Reset().ok());
  }

  std::unique_ptr<PgSessionStore> OpenStore(
      const std::string& name,
      std::function<absl::Status(const std::string&, const std::string&)> handoff = nullptr,
      std::function<void(const std::string&, const std::string&)> before_write = nullptr) {
    PgStoreOptions options;
    options.before_guarded_write = std::move(before_write);
    options.conninfo = pg_->uri();
    options.replica_id = name;
    options.advertise_address = "127.0.0.1:1";
    options.lease = absl::Seconds(2);
    options.connections = 2;
    options.request_handoff = std::move(handoff);
    auto store = PgSessionStore::Open(options, metrics_);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }
  // Ends `store`'s lease in the database, as if its process had stopped heartbeating.
  void ExpireLease(const PgSessionStore& store) {
    ASSERT_TRUE(pg_->Query("UPDATE infmem_replicas SET lease_until = now() - interval '1 s' "
                           "WHERE id = '" +
                           store.owner() + "'")
                    .ok());
  }
  std::string Sql(const std::string& sql) {
    auto out = pg_->Query(sql);
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? std::string(absl::StripTrailingAsciiWhitespace(*out)) : "";
  }

  static testing::PostgresInstance* pg_;
  metrics::ServerMetrics metrics_;
};

testing::PostgresInstance* PgSessionStoreTest::pg_ = nullptr;

TEST_F(PgSessionStoreTest, CreateAppendSnapshotLoadRoundTrip) {
  auto store = OpenStore("a");
  ASSERT_TRUE(
      store->Create({"s", 0xfedcba9876543210ull, 1234}, InitialState{"", 0, {1, 2, 3}}).ok());
  EXPECT_EQ(store->Create({"s", 1, 1}).code(), absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(store->Append("s", 3, std::vector<int32_t>{4, 5}, 6, CallShape{1, 7}).ok());
  ASSERT_TRUE(store->WriteSnapshot("s", 4, std::string(20 << 20, 'x')).ok());  // 3 chunks
  ASSERT_TRUE(store->Append("s", 5, std::vector<int32_t>{6}, /*client_seq=*/7).ok());
  store->Release("s");
  StoredSession s = store->Load("s").value();
  EXPECT_EQ(s.record.seed, 0xfedcba9876543210ull);
  EXPECT_EQ(s.record.created_unix_ms, 1234);
  EXPECT_EQ(s.snapshot, std::string(20 << 20, 'x'));
  // The row straddling the snapshot stays; rows before it are gone.
  EXPECT_EQ(s.journal.first_index, 3);
  EXPECT_THAT(s.journal.tokens, ElementsAre(4, 5, 6));
  EXPECT_EQ(s.journal.client_seq, 7u);
  // A row is one call: its shape comes back with it (none for the plain append).
  ASSERT_EQ(s.journal.calls.size(), 1u);
  EXPECT_EQ(s.journal.calls[0].begin, 3);
  EXPECT_EQ(s.journal.calls[0].end, 5);
  EXPECT_EQ(s.journal.calls[0].shape.generated, 1);
  EXPECT_EQ(s.journal.calls[0].shape.prefill_chunk, 7);
  EXPECT_EQ(s.journal.calls[0].client_seq, 6u);
  EXPECT_EQ(store->Stat("s").value().tokens, 6);
  EXPECT_EQ(store->Load("nope").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(store->Create({"B-2", 1, 1}).ok());
  ASSERT_TRUE(store->Create({"a_1", 1, 1}).ok());
  EXPECT_THAT(store->List().value(), ElementsAre("B-2", "a_1", "s"));  // byte order
  ASSERT_TRUE(store->Delete("s").ok());
  EXPECT_EQ(store->Load("s").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Sql("SELECT count(*) FROM infmem_journal"), "0");
  EXPECT_EQ(store->Create({"../x", 1, 1}).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(PgSessionStoreTest, AFormerOwnerIsFencedAfterItsLeaseExpires) {
  auto a = OpenStore("a");
  auto b = OpenStore("b");
  ASSERT_TRUE(a->Create({"s", 1, 1}, InitialState{"", 0, {1}}).ok());
  ASSERT_TRUE(a->Append("s", 1, std::vector<int32_t>{2}).ok());
  // While a's lease is live, b cannot take the session (no handoff callback here).
  EXPECT_EQ(b->Load("s").status().code(), absl::StatusCode::kUnavailable);
  ExpireLease(*a);
  StoredSession s = b->Load("s").value();
  EXPECT_THAT(s.journal.tokens, ElementsAre(1, 2));
  EXPECT_EQ(Sql("SELECT epoch FROM infmem_sessions WHERE id = 's'"), "2");
  // a wakes up: none of its writes lands.
  absl::Status append = a->Append("s", 2, std::vector<int32_t>{99});
  EXPECT_EQ(append.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(append.message(), HasSubstr("moved to another replica"));
  EXPECT_EQ(a->WriteSnapshot("s", 1, "stale").code(), absl::StatusCode::kUnavailable);
  a->Release("s");  // must not free b's session
  EXPECT_EQ(Sql("SELECT owner = '" + b->owner() + "' FROM infmem_sessions WHERE id = 's'"), "t");
  EXPECT_EQ(Sql("SELECT count(*) FROM infmem_journal WHERE epoch = 1 AND first_index >= 2"), "0");
  EXPECT_EQ(Sql("SELECT count(*) FROM infmem_snapshots"), "0");
  EXPECT_EQ(a->CheckOwned("s").code(), absl::StatusCode::kUnavailable);
  ASSERT_TRUE(b->Append("s", 2, std::vector<int32_t>{3}).ok());
  EXPECT_THAT(b->Load("s").value().journal.tokens, ElementsAre(1, 2, 3));
  EXPECT_EQ(Sql("SELECT count(*) FROM infmem_journal WHERE epoch > 1"), "1");
}

// Deterministic fencing interleavings: a write of replica a has read the session's epoch, and
// before its guarded statement runs (PgStoreOptions::before_guarded_write) the session moves.
// Each term of each guard is the only thing that refuses one of these writes.
class PgFencingTest : public PgSessionStoreTest {
 protected:
  // Opens a (whose `write` runs `race` once, at its guarded statement) and b, and has a create
  // session "s" (epoch 1, tokens {1}).
  void SetUpRace(const std::string& write, std::function<void()> race) {
    a_ = OpenStore("a", nullptr, [this, write, race](const std::string& w, const std::string&) {
      if (w != write || raced_) return;
      raced_ = true;
      race();
    });
    b_ = OpenStore("b");
    ASSERT_TRUE(a_->Create({"s", 1, 1}, InitialState{"", 0, {1}}).ok());
  }
  // a loses the session (its lease ends, b takes it) and takes it back: a owns it again, at a
  // newer epoch than the write in flight holds.
  void LoseAndRetake() {
    ExpireLease(*a_);
    ASSERT_TRUE(b_->Load("s").ok());
    b_->Release("s");
    ASSERT_TRUE(a_->Load("s").ok());
    EXPECT_EQ(Sql("SELECT owner = '" + a_->owner() + "' FROM infmem_sessions WHERE id = 's'"), "t");
  }
  std::string Owner() {
    return Sql("SELECT coalesce(owner, 'none') FROM infmem_sessions WHERE id = 's'");
  }

  std::unique_ptr<PgSessionStore> a_, b_;
  bool raced_ = false;
};

TEST_F(PgFencingTest, AnAppendWhoseEpochWentStaleIsRefusedThoughItsOwnerMatches) {
  SetUpRace("append", [this] { LoseAndRetake(); });
  EXPECT_EQ(a_->Append("s", 1, std::vector<int32_t>{99}).code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(raced_);
  EXPECT_EQ(Sql("SELECT count(*) FROM infmem_journal WHERE first_index = 1"), "0");
}

TEST_F(PgFencingTest, AnAppendRacingItsOwnReleaseIsRefused) {
  SetUpRace("append", [this] { a_->Release("s"); });  // same epoch, no owner
  EXPECT_EQ(a_->Append("s", 1, std::vector<int32_t>{99}).code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(raced_);
  EXPECT_EQ(Sql("SELECT count(*) FROM infmem_journal WHERE first_index = 1"), "0");
}

TEST_F(PgFencingTest, ASnapshotWhoseEpochWentStaleIsRefusedThoughItsOwnerMatches) {
  SetUpRace("snapshot", [this] { LoseAndRetake(); });
  EXPECT_EQ(a_->WriteSnapshot("s", 1, "stale").code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(raced_);
  EXPECT_EQ(Sql("SELECT count(*) FROM infmem_snapshots"), "0");
  EXPECT_EQ(Sql("SELECT snapshot_tokens FROM infmem_sessions WHERE id = 's'"), "0");
}

TEST_F(PgFencingTest, ASnapshotRacingItsOwnReleaseIsRefused) {
  SetUpRace("snapshot", [this] { a_->Release("s"); });
  EXPECT_EQ(a_->WriteSnapshot("s", 1, "stale").code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(raced_);
  EXPECT_EQ(Sql("SELECT count(*) FROM infmem_snapshots"), "0");
}

TEST_F(PgFencingTest, AStaleReleaseDoesNotFreeTheSessionItsReplicaTookBack) {
  // The release read epoch 1; meanwhile a loaded the session again (epoch 2).
  SetUpRace("release", [this] { ASSERT_TRUE(a_->Load("s").ok()); });
  a_->Release("s");
  EXPECT_TRUE(raced_);
  EXPECT_EQ(Owner(), a_->owner());
}

TEST_F(PgFencingTest, AStaleReleaseDoesNotFreeASessionMadeAgainUnderTheSameId) {
  // The release read epoch 1; meanwhile b deleted the session and made a new one, at epoch 1.
  SetUpRace("release", [this] {
    ExpireLease(*a_);
    ASSERT_TRUE(b_->Delete("s").ok());
    ASSERT_TRUE(b_->Create({"s", 2, 2}).ok());
  });
  a_->Release("s");
  EXPECT_TRUE(raced_);
  EXPECT_EQ(Owner(), b_->owner());
}

TEST_F(PgFencingTest, AStaleDeleteIsRefusedThoughItsOwnerMatches) {
  SetUpRace("delete", [this] { LoseAndRetake(); });
  EXPECT_EQ(a_->Delete("s").code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(raced_);
  EXPECT_EQ(Sql("SELECT count(*) FROM infmem_sessions"), "1");
}

TEST_F(PgFencingTest, AStaleDeleteDoesNotDeleteASessionMadeAgainUnderTheSameId) {
  // The delete took the session at epoch 2; meanwhile b deleted it, made it again and loaded
  // it (epoch 2 again, owner b).
  SetUpRace("delete", [this] {
    ExpireLease(*a_);
    ASSERT_TRUE(b_->Delete("s").ok());
    ASSERT_TRUE(b_->Create({"s", 2, 2}).ok());
    b_->Release("s");
    ASSERT_TRUE(b_->Load("s").ok());
    EXPECT_EQ(Sql("SELECT epoch FROM infmem_sessions WHERE id = 's'"), "2");
  });
  EXPECT_EQ(a_->Delete("s").code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(raced_);
  EXPECT_EQ(Owner(), b_->owner());
}

TEST_F(PgSessionStoreTest, ALiveOwnerHandsTheSessionOver) {
  std::unique_ptr<PgSessionStore> a = OpenStore("a");
  int asked = 0;
  auto b = OpenStore("b", [&](const std::string& address, const std::string& id) {
    ++asked;
    EXPECT_EQ(address, "127.0.0.1:1");
    a->Release(id);  // what the owner's ReleaseSession does after its snapshot
    return absl::OkStatus();
  });
  ASSERT_TRUE(a->Create({"s", 1, 1}, InitialState{"", 0, {1, 2}}).ok());
  EXPECT_TRUE(a->CheckOwned("s").ok());
  ASSERT_TRUE(b->Load("s").ok());
  EXPECT_EQ(asked, 1);
  EXPECT_EQ(a->Append("s", 2, std::vector<int32_t>{3}).code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(metrics_.Serialize(), HasSubstr("infmem_session_handoffs_total{direction=\"in\"} 1"));
  // A replica that shuts down removes its lease: its sessions are free at once.
  ASSERT_TRUE(b->Append("s", 2, std::vector<int32_t>{3}).ok());
  b.reset();
  EXPECT_THAT(a->Load("s").value().journal.tokens, ElementsAre(1, 2, 3));
}

TEST_F(PgSessionStoreTest, ARetriedSequenceNumberIsStoredOnceEvenWithoutTokens) {
  auto a = OpenStore("a");
  ASSERT_TRUE(a->Create({"s", 1, 1}, InitialState{"", 0, {1}}).ok());
  ASSERT_TRUE(a->Append("s", 1, {}, 5).ok());
  ASSERT_TRUE(a->Append("s", 1, {}, 3).ok());  // never lowers it
  EXPECT_EQ(Sql("SELECT client_seq FROM infmem_sessions"), "5");
  a->Release("s");
  EXPECT_EQ(a->Load("s").value().journal.client_seq, 5u);
}

TEST_F(PgSessionStoreTest, CorruptRowsAreDataLossNamingTheSession) {
  auto a = OpenStore("a");
  ASSERT_TRUE(a->Create({"odd", 1, 1}, InitialState{"", 0, {1}}).ok());
  ASSERT_TRUE(a->Create({"gap", 1, 1}, InitialState{"", 0, {1}}).ok());
  ASSERT_TRUE(a->Create({"nosnap", 1, 1}).ok());
  ASSERT_TRUE(a->Create({"shape", 1, 1}, InitialState{"", 0, {1}}).ok());
  ASSERT_TRUE(a->Append("shape", 1, std::vector<int32_t>{2, 3}, 0, CallShape{2, 7}).ok());
  Sql("UPDATE infmem_journal SET tokens = '\\x010203' WHERE session_id = 'odd'");
  Sql("UPDATE infmem_journal SET generated = 3 WHERE session_id = 'shape' AND first_index = 1");
  Sql("INSERT INTO infmem_journal VALUES ('gap', 5, '\\x01000000', 1)");
  Sql("UPDATE infmem_sessions SET snapshot_tokens = 9 WHERE id = 'nosnap'");
  Sql("UPDATE infmem_sessions SET seed = 0, created_unix_ms = 0 WHERE id = 'odd'");
  for (const std::string id : {"odd", "gap", "nosnap", "shape"}) {
    absl::Status status = a->Load(id).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << id << ": " << status;
    EXPECT_THAT(status.message(), HasSubstr(id));
  }
}

TEST_F(PgSessionStoreTest, BadOrUnreachableStoresAreClearErrors) {
  PgStoreOptions options;
  options.replica_id = "a";
  options.advertise_address = "127.0.0.1:1";
  options.conninfo = "postgresql://user:secret@127.0.0.1:1/db";  // nothing listens on port 1
  absl::Status unreachable = PgSessionStore::Open(options, metrics_).status();
  EXPECT_EQ(unreachable.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(unreachable.message(), HasSubstr("127.0.0.1:1/db"));
  EXPECT_THAT(unreachable.message(), ::testing::Not(HasSubstr("secret")));
  options.conninfo = "postgresql://[::1";
  EXPECT_EQ(PgSessionStore::Open(options, metrics_).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.conninfo = pg_->uri();
  options.replica_id = "";
  EXPECT_EQ(PgSessionStore::Open(options, metrics_).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.replica_id = "a";
  options.lease = absl::Milliseconds(10);
  EXPECT_EQ(PgSessionStore::Open(options, metrics_).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace infmem::store
