#include "server/store/session_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "server/common/file_io.h"

namespace infmem::store {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class SessionStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = ::testing::TempDir() + "/store_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(root_);
    store_ = SessionStore::Open(root_).value();
  }
  void Reopen() {
    store_.reset();
    store_ = SessionStore::Open(root_).value();
  }
  SessionRecord Record(const std::string& id) { return {id, 0xfedcba9876543210ull, 1234}; }
  std::vector<int32_t> Tokens(int from, int to) {
    std::vector<int32_t> t;
    for (int i = from; i < to; ++i) t.push_back(i * 7);
    return t;
  }

  std::string root_;
  std::unique_ptr<SessionStore> store_;
};

TEST_F(SessionStoreTest, CreateThenLoadGivesTheRecordAndNothingElse) {
  ASSERT_TRUE(store_->Create(Record("chat-1")).ok());
  Reopen();
  StoredSession s = store_->Load("chat-1").value();
  EXPECT_EQ(s.record.id, "chat-1");
  EXPECT_EQ(s.record.seed, 0xfedcba9876543210ull);
  EXPECT_EQ(s.record.created_unix_ms, 1234);
  EXPECT_TRUE(s.snapshot.empty());
  EXPECT_TRUE(s.journal.tokens.empty());
}

TEST_F(SessionStoreTest, CreateTwiceIsAlreadyExists) {
  ASSERT_TRUE(store_->Create(Record("a")).ok());
  EXPECT_EQ(store_->Create(Record("a")).code(), absl::StatusCode::kAlreadyExists);
}

TEST_F(SessionStoreTest, BadIdsAreRejectedBeforeAnyPathIsBuilt) {
  for (const std::string& id :
       std::vector<std::string>{"", "../escape", "a/b", "a..b", ".b", "a.", "a-b.c", "a.b.c", "x y",
                                std::string(129, 'a'), std::string(65, 't') + ".x",
                                std::string("nul\0byte", 8), ".pending-x"}) {
    EXPECT_EQ(store_->Create(Record(id)).code(), absl::StatusCode::kInvalidArgument) << id;
    EXPECT_EQ(store_->Load(id).status().code(), absl::StatusCode::kInvalidArgument) << id;
    EXPECT_EQ(store_->Append(id, 0, {1}).code(), absl::StatusCode::kInvalidArgument) << id;
    EXPECT_EQ(store_->Delete(id).code(), absl::StatusCode::kInvalidArgument) << id;
  }
  EXPECT_FALSE(fs::exists(fs::path(root_).parent_path() / "escape"));
  EXPECT_TRUE(store_->Create(Record(std::string(128, 'Z'))).ok());
  auto problem = store_->Create(Record("a/b"));
  EXPECT_THAT(std::string(problem.message()), HasSubstr("character 1"));
}

TEST_F(SessionStoreTest, TenantKeysAreSessionsOfTheirOwn) {
  ASSERT_TRUE(store_->Create(Record("alice.chat")).ok());
  ASSERT_TRUE(store_->Create(Record("bob.chat")).ok());
  ASSERT_TRUE(store_->Create(Record("chat")).ok());
  EXPECT_THAT(store_->List().value(), ElementsAre("alice.chat", "bob.chat", "chat"));
  EXPECT_EQ(store_->Stat("alice.chat").value().record.id, "alice.chat");
}

TEST_F(SessionStoreTest, UnknownSessionsAreNotFound) {
  EXPECT_EQ(store_->Load("nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Append("nope", 0, {1}).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->WriteSnapshot("nope", 0, "x").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Delete("nope").code(), absl::StatusCode::kNotFound);
}

TEST_F(SessionStoreTest, AppendedTokensSurviveAReopen) {
  ASSERT_TRUE(store_->Create(Record("s")).ok());
  ASSERT_TRUE(store_->Append("s", 0, Tokens(0, 5)).ok());
  ASSERT_TRUE(store_->Append("s", 5, Tokens(5, 9)).ok());
  Reopen();
  StoredSession s = store_->Load("s").value();
  EXPECT_EQ(s.journal.first_index, 0);
  EXPECT_EQ(s.journal.tokens, Tokens(0, 9));
}

TEST_F(SessionStoreTest, ASessionCreatedFromAStateLoadsAsThatState) {
  ASSERT_TRUE(store_->Create(Record("fork"), {"snapshot-bytes", 40, Tokens(40, 43)}).ok());
  Reopen();
  StoredSession s = store_->Load("fork").value();
  EXPECT_EQ(s.snapshot, "snapshot-bytes");
  EXPECT_EQ(s.journal.first_index, 40);
  EXPECT_EQ(s.journal.tokens, Tokens(40, 43));
  EXPECT_EQ(store_->Stat("fork").value().tokens, 43);
}

TEST_F(SessionStoreTest, StatCountsTheJournalWithoutReadingTheSnapshot) {
  ASSERT_TRUE(store_->Create(Record("s")).ok());
  EXPECT_EQ(store_->Stat("s").value().tokens, 0);
  ASSERT_TRUE(store_->Append("s", 0, Tokens(0, 9)).ok());
  ASSERT_TRUE(store_->WriteSnapshot("s", 8, "not a real snapshot").ok());
  SessionStat stat = store_->Stat("s").value();
  EXPECT_EQ(stat.tokens, 9);
  EXPECT_EQ(stat.record.seed, Record("s").seed);
  EXPECT_EQ(store_->Stat("nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Stat("../x").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SessionStoreTest, AnAppendWritesBytesInProportionToItsTokens) {
  ASSERT_TRUE(store_->Create(Record("s")).ok());
  ASSERT_TRUE(store_->WriteSnapshot("s", 0, std::string(100000, 'x')).ok());
  const int64_t before = store_->bytes_written();
  ASSERT_TRUE(store_->Append("s", 0, Tokens(0, 16)).ok());
  EXPECT_EQ(store_->bytes_written() - before, 16 * 4 + 24);  // tokens + one record's framing
}

TEST_F(SessionStoreTest, SnapshotReplacesTheOldOneAndCompactsTheJournal) {
  ASSERT_TRUE(store_->Create(Record("s")).ok());
  ASSERT_TRUE(store_->Append("s", 0, Tokens(0, 10)).ok());
  ASSERT_TRUE(store_->WriteSnapshot("s", 4, "first").ok());
  ASSERT_TRUE(store_->WriteSnapshot("s", 6, "second").ok());
  ASSERT_TRUE(store_->Append("s", 10, Tokens(10, 12)).ok());
  Reopen();
  StoredSession s = store_->Load("s").value();
  EXPECT_EQ(s.snapshot, "second");
  EXPECT_EQ(s.journal.first_index, 6);
  EXPECT_EQ(s.journal.tokens, Tokens(6, 12));
  EXPECT_FALSE(fs::exists(root_ + "/s/state.safetensors.tmp"));
}

TEST_F(SessionStoreTest, CompactionKeepsTheShapesOfTheCallsAfterTheSnapshot) {
  ASSERT_TRUE(store_->Create(Record("s")).ok());
  ASSERT_TRUE(store_->Append("s", 0, Tokens(0, 5), 0, CallShape{0, 7}).ok());
  ASSERT_TRUE(store_->Append("s", 5, Tokens(5, 9), 3, CallShape{2, 7}).ok());
  ASSERT_TRUE(store_->Append("s", 9, Tokens(9, 12), 4, CallShape{3, 5}).ok());
  // The snapshot covers [0, 8): the second call only in part, so its last token stays as a
  // plain token (pending after the snapshot); the third call keeps its shape.
  ASSERT_TRUE(store_->WriteSnapshot("s", 8, "x").ok());
  Reopen();
  StoredSession s = store_->Load("s").value();
  EXPECT_EQ(s.journal.first_index, 8);
  EXPECT_EQ(s.journal.tokens, Tokens(8, 12));
  EXPECT_EQ(s.journal.client_seq, 4u);
  ASSERT_EQ(s.journal.calls.size(), 1u);
  EXPECT_EQ(s.journal.calls[0].begin, 9);
  EXPECT_EQ(s.journal.calls[0].end, 12);
  EXPECT_EQ(s.journal.calls[0].shape.generated, 3);
  EXPECT_EQ(s.journal.calls[0].shape.prefill_chunk, 5);
  // A snapshot covering everything but the last token keeps the sequence number.
  ASSERT_TRUE(store_->WriteSnapshot("s", 11, "y").ok());
  Reopen();
  s = store_->Load("s").value();
  EXPECT_EQ(s.journal.tokens, Tokens(11, 12));
  EXPECT_TRUE(s.journal.calls.empty());
  EXPECT_EQ(s.journal.client_seq, 4u);
}

TEST_F(SessionStoreTest, ATornJournalTailIsCutAndAppendsContinueAfterIt) {
  ASSERT_TRUE(store_->Create(Record("s")).ok());
  ASSERT_TRUE(store_->Append("s", 0, Tokens(0, 4)).ok());
  ASSERT_TRUE(store_->Append("s", 4, Tokens(4, 8)).ok());
  store_.reset();
  const std::string journal = root_ + "/s/journal";
  fs::resize_file(journal, fs::file_size(journal) - 5);  // the crash cut the last append
  store_ = SessionStore::Open(root_).value();
  StoredSession s = store_->Load("s").value();
  EXPECT_TRUE(s.journal.torn_tail);
  EXPECT_EQ(s.journal.tokens, Tokens(0, 4));
  ASSERT_TRUE(store_->Append("s", 4, Tokens(4, 6)).ok());
  Reopen();
  EXPECT_EQ(store_->Load("s").value().journal.tokens, Tokens(0, 6));
}

TEST_F(SessionStoreTest, CorruptionIsDataLossForThatSessionOnly) {
  for (const std::string id : {"good", "bad-record", "bad-journal"}) {
    ASSERT_TRUE(store_->Create(Record(id)).ok());
    ASSERT_TRUE(store_->Append(id, 0, Tokens(0, 4)).ok());
    ASSERT_TRUE(store_->Append(id, 4, Tokens(4, 8)).ok());
  }
  store_.reset();
  std::ofstream(root_ + "/bad-record/session.json") << "{\"format_version\": 1, \"seed\": 5}";
  {
    std::string bytes = ReadFile(root_ + "/bad-journal/journal").value();
    bytes[20] ^= 0x10;  // inside the first of two records
    std::ofstream(root_ + "/bad-journal/journal", std::ios::binary) << bytes;
  }
  store_ = SessionStore::Open(root_).value();
  auto record = store_->Load("bad-record");
  EXPECT_EQ(record.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(record.status().message()), HasSubstr("session.json"));
  auto journal = store_->Load("bad-journal");
  EXPECT_EQ(journal.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(journal.status().message()), HasSubstr("journal"));
  EXPECT_EQ(store_->Load("good").value().journal.tokens, Tokens(0, 8));
}

TEST_F(SessionStoreTest, MalformedRecordsAreDataLoss) {
  ASSERT_TRUE(store_->Create(Record("s")).ok());
  for (const std::string text :
       {"", "[]", "{", "{\"format_version\": 2, \"seed\": \"1\", \"created_unix_ms\": 0}",
        "{\"format_version\": 1, \"seed\": \"-1\", \"created_unix_ms\": 0}",
        "{\"format_version\": 1, \"seed\": \"1\", \"created_unix_ms\": 1.5}",
        "{\"format_version\": 1, \"seed\": \"1\", \"seed\": \"2\", \"created_unix_ms\": 0}"}) {
    std::ofstream(root_ + "/s/session.json") << text;
    EXPECT_EQ(store_->Load("s").status().code(), absl::StatusCode::kDataLoss) << text;
  }
}

TEST_F(SessionStoreTest, DeleteRemovesTheSessionAndListSeesOnlySessions) {
  for (const std::string id : {"b", "a", "c"}) ASSERT_TRUE(store_->Create(Record(id)).ok());
  ASSERT_TRUE(store_->Delete("b").ok());
  EXPECT_EQ(store_->Delete("b").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Load("b").status().code(), absl::StatusCode::kNotFound);
  // Leftovers of an interrupted creation or deletion, and a stray file.
  fs::create_directories(root_ + "/.pending-x-1");
  fs::create_directories(root_ + "/.deleted-y-2");
  std::ofstream(root_ + "/stray") << "x";
  EXPECT_THAT(store_->List().value(), ElementsAre("a", "c"));
  Reopen();
  EXPECT_FALSE(fs::exists(root_ + "/.pending-x-1"));
  EXPECT_FALSE(fs::exists(root_ + "/.deleted-y-2"));
  EXPECT_THAT(store_->List().value(), ElementsAre("a", "c"));
  ASSERT_TRUE(store_->Create(Record("b")).ok());  // the id is free again
}

TEST_F(SessionStoreTest, OpenFailsOnAPathThatCannotBeADirectory) {
  std::ofstream(root_ + "-file") << "x";
  auto store = SessionStore::Open(root_ + "-file/sub");
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(std::string(store.status().message()), HasSubstr(root_ + "-file/sub"));
}

TEST_F(SessionStoreTest, TheClientSequenceNumberSurvivesSnapshotsAndReopening) {
  ASSERT_TRUE(store_->Create(Record("s"), InitialState{"", 0, Tokens(0, 3)}).ok());
  ASSERT_TRUE(store_->Append("s", 3, Tokens(3, 5), 41).ok());
  ASSERT_TRUE(store_->Append("s", 5, {}, 42).ok());
  // The snapshot covers every token but the last: the compacted journal keeps 42.
  ASSERT_TRUE(store_->WriteSnapshot("s", 4, "state").ok());
  Reopen();
  StoredSession s = store_->Load("s").value();
  EXPECT_EQ(s.journal.client_seq, 42u);
  EXPECT_EQ(s.journal.first_index, 4);
  EXPECT_EQ(s.journal.tokens, Tokens(4, 5));
  ASSERT_TRUE(store_->WriteSnapshot("s", 5, "state2").ok());
  Reopen();
  s = store_->Load("s").value();
  EXPECT_EQ(s.journal.client_seq, 42u);
  EXPECT_TRUE(s.journal.tokens.empty());
  EXPECT_EQ(store_->Stat("s").value().tokens, 5);
}

}  // namespace
}  // namespace infmem::store
