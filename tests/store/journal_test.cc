#include "server/store/journal.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "server/common/file_io.h"
#include "server/common/hash.h"

namespace infmem::store {
namespace {

using ::testing::HasSubstr;

class JournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = ::testing::TempDir() + "/journal_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove(path_);
  }
  // Writes three records: tokens 0..2, 3..4, 5..9 (values 100 + index).
  std::vector<int64_t> WriteThree() {
    auto w = JournalWriter::Open(path_, 0).value();
    std::vector<int64_t> ends;
    int64_t next = 0;
    for (int n : {3, 2, 5}) {
      std::vector<int32_t> t;
      for (int i = 0; i < n; ++i) t.push_back(static_cast<int32_t>(100 + next + i));
      EXPECT_TRUE(w->Append(next, t).ok());
      next += n;
      ends.push_back(w->size());
    }
    EXPECT_TRUE(w->Sync().ok());
    return ends;
  }
  void Rewrite(const std::string& bytes) { std::ofstream(path_, std::ios::binary) << bytes; }
  std::string Bytes() { return ReadFile(path_).value(); }

  std::string path_;
};

std::vector<int32_t> Range(int from, int to) {
  std::vector<int32_t> v;
  for (int i = from; i < to; ++i) v.push_back(100 + i);
  return v;
}

TEST_F(JournalTest, MissingFileReadsAsEmpty) {
  auto j = ReadJournal(path_).value();
  EXPECT_TRUE(j.tokens.empty());
  EXPECT_EQ(j.valid_bytes, 0);
  EXPECT_FALSE(j.torn_tail);
}

TEST_F(JournalTest, RecordsReadBackContiguously) {
  WriteThree();
  auto j = ReadJournal(path_).value();
  EXPECT_EQ(j.first_index, 0);
  EXPECT_EQ(j.tokens, Range(0, 10));
  EXPECT_FALSE(j.torn_tail);
  EXPECT_EQ(j.valid_bytes, static_cast<int64_t>(Bytes().size()));
}

TEST_F(JournalTest, JournalMayStartAfterASnapshot) {
  auto w = JournalWriter::Open(path_, 0).value();
  ASSERT_TRUE(w->Append(4096, {7, 8}).ok());
  auto j = ReadJournal(path_).value();
  EXPECT_EQ(j.first_index, 4096);
  EXPECT_EQ(j.tokens, (std::vector<int32_t>{7, 8}));
}

TEST_F(JournalTest, EveryTruncationOfTheLastRecordIsATornTail) {
  const auto ends = WriteThree();
  const std::string full = Bytes();
  for (int64_t cut = ends[1] + 1; cut < ends[2]; ++cut) {
    Rewrite(full.substr(0, cut));
    auto j = ReadJournal(path_);
    ASSERT_TRUE(j.ok()) << "cut at " << cut << ": " << j.status();
    EXPECT_TRUE(j->torn_tail);
    EXPECT_EQ(j->tokens, Range(0, 5));
    EXPECT_EQ(j->valid_bytes, ends[1]);
  }
}

TEST_F(JournalTest, ReopeningCutsTheTornTailAndAppendsContinue) {
  const auto ends = WriteThree();
  Rewrite(Bytes().substr(0, ends[2] - 3));
  auto j = ReadJournal(path_).value();
  auto w = JournalWriter::Open(path_, j.valid_bytes).value();
  EXPECT_EQ(w->size(), ends[1]);
  ASSERT_TRUE(w->Append(5, Range(5, 8)).ok());
  auto again = ReadJournal(path_).value();
  EXPECT_FALSE(again.torn_tail);
  EXPECT_EQ(again.tokens, Range(0, 8));
}

TEST_F(JournalTest, ZeroFilledTailIsTorn) {
  WriteThree();
  Rewrite(Bytes() + std::string(4096, '\0'));
  auto j = ReadJournal(path_).value();
  EXPECT_TRUE(j.torn_tail);
  EXPECT_EQ(j.tokens, Range(0, 10));
}

TEST_F(JournalTest, ABadChecksumBeforeTheEndIsDataLoss) {
  const auto ends = WriteThree();
  std::string bytes = Bytes();
  bytes[ends[0] + 18] ^= 0x01;  // a token of the second record
  Rewrite(bytes);
  auto j = ReadJournal(path_);
  ASSERT_EQ(j.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(j.status().message()), HasSubstr("checksum"));
  EXPECT_THAT(std::string(j.status().message()), HasSubstr(std::to_string(ends[0])));
}

TEST_F(JournalTest, ABadChecksumInTheLastRecordIsATornTail) {
  const auto ends = WriteThree();
  std::string bytes = Bytes();
  bytes[ends[2] - 1] ^= 0x40;
  Rewrite(bytes);
  auto j = ReadJournal(path_).value();
  EXPECT_TRUE(j.torn_tail);
  EXPECT_EQ(j.tokens, Range(0, 5));
}

TEST_F(JournalTest, GapsInTokenIndexesAreDataLoss) {
  auto w = JournalWriter::Open(path_, 0).value();
  ASSERT_TRUE(w->Append(0, {1, 2}).ok());
  ASSERT_TRUE(w->Append(3, {4}).ok());
  auto j = ReadJournal(path_);
  ASSERT_EQ(j.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(j.status().message()), HasSubstr("expected 2"));
}

TEST_F(JournalTest, GarbageNeverCrashesAndIsNeverMistakenForTokens) {
  const auto ends = WriteThree();
  const std::string full = Bytes();
  uint64_t state = 42;
  for (int trial = 0; trial < 500; ++trial) {
    std::string bytes = full;
    const int flips = 1 + static_cast<int>(SplitMix64(state) % 4);
    for (int f = 0; f < flips; ++f) {
      bytes[SplitMix64(state) % bytes.size()] = static_cast<char>(SplitMix64(state));
    }
    Rewrite(bytes);
    auto j = ReadJournal(path_);
    if (!j.ok()) {
      EXPECT_EQ(j.status().code(), absl::StatusCode::kDataLoss);
      continue;
    }
    // Whatever survives is a prefix of what was written (a checksum guards every record).
    ASSERT_LE(j->tokens.size(), 10u);
    EXPECT_EQ(j->tokens, Range(0, static_cast<int>(j->tokens.size())));
  }
}

TEST_F(JournalTest, ClientSequenceNumbersRideOnRecordsAndSurviveTornTails) {
  auto w = JournalWriter::Open(path_, 0).value();
  ASSERT_TRUE(w->Append(0, Range(0, 3)).ok());  // IMJ1, no sequence number
  ASSERT_TRUE(w->Append(3, Range(3, 5), 7).ok());
  ASSERT_TRUE(w->Append(5, {}, 9).ok());  // a call that added no tokens
  const int64_t before_last = w->size();
  ASSERT_TRUE(w->Append(5, Range(5, 6), 12).ok());
  auto j = ReadJournal(path_).value();
  EXPECT_EQ(j.tokens, Range(0, 6));
  EXPECT_EQ(j.client_seq, 12u);
  // The last record torn: its tokens and its sequence number are gone together.
  const std::string bytes = Bytes();
  Rewrite(bytes.substr(0, bytes.size() - 3));
  j = ReadJournal(path_).value();
  EXPECT_TRUE(j.torn_tail);
  EXPECT_EQ(j.tokens, Range(0, 5));
  EXPECT_EQ(j.client_seq, 9u);
  EXPECT_EQ(j.valid_bytes, before_last);
  // A record with no tokens and no sequence number is not a thing a writer makes.
  Rewrite(bytes.substr(0, static_cast<size_t>(before_last)));
  auto w2 = JournalWriter::Open(path_, before_last).value();
  ASSERT_TRUE(w2->Append(5, {}).ok());
  EXPECT_EQ(w2->size(), before_last);
}

TEST_F(JournalTest, AnEmptyRecordWithoutASequenceNumberIsCorrupt) {
  std::string rec;
  auto put = [&rec](auto v) { rec.append(reinterpret_cast<const char*>(&v), sizeof(v)); };
  put(uint32_t{0x314a4d49});
  put(uint32_t{0});
  put(int64_t{0});
  put(Fnv1a64(rec.data(), rec.size()));
  Rewrite(rec + rec);
  auto j = ReadJournal(path_);
  EXPECT_EQ(j.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(j.status().message(), HasSubstr("bad token count"));
}

TEST_F(JournalTest, CallShapesRideOnTheCallsLastRecords) {
  auto w = JournalWriter::Open(path_, 0).value();
  ASSERT_TRUE(w->Append(0, Range(0, 3)).ok());  // a session's first tokens: no shape
  ASSERT_TRUE(w->Append(3, Range(3, 8), 5, CallShape{2, 7}).ok());
  ASSERT_TRUE(w->Append(8, Range(8, 9), 0, CallShape{0, 3}).ok());
  // A shape cannot claim more generated tokens than the call has.
  EXPECT_EQ(w->Append(9, Range(9, 10), 0, CallShape{2, 3}).code(), absl::StatusCode::kInternal);
  auto j = ReadJournal(path_).value();
  EXPECT_EQ(j.tokens, Range(0, 9));
  EXPECT_EQ(j.client_seq, 5u);
  ASSERT_EQ(j.calls.size(), 2u);
  EXPECT_EQ(j.calls[0].begin, 3);
  EXPECT_EQ(j.calls[0].end, 8);
  EXPECT_EQ(j.calls[0].shape.generated, 2);
  EXPECT_EQ(j.calls[0].shape.prefill_chunk, 7);
  EXPECT_EQ(j.calls[0].client_seq, 5u);
  EXPECT_EQ(j.calls[1].begin, 8);
  EXPECT_EQ(j.calls[1].end, 9);
  EXPECT_EQ(j.calls[1].shape.generated, 0);
  EXPECT_EQ(j.calls[1].shape.prefill_chunk, 3);
  EXPECT_EQ(j.calls[1].client_seq, 0u);
  // The last call torn: its tokens and its shape are gone together.
  const std::string bytes = Bytes();
  Rewrite(bytes.substr(0, bytes.size() - 1));
  j = ReadJournal(path_).value();
  EXPECT_TRUE(j.torn_tail);
  EXPECT_EQ(j.tokens, Range(0, 8));
  EXPECT_EQ(j.calls.size(), 1u);
}

TEST_F(JournalTest, ACallShapeThatDoesNotFitItsTokensIsCorrupt) {
  // IMJ3 records of two tokens at index 0 with (begin, generated, chunk) as given.
  auto record = [](int64_t begin, uint32_t generated, uint32_t chunk) {
    std::string rec;
    auto put = [&rec](auto v) { rec.append(reinterpret_cast<const char*>(&v), sizeof(v)); };
    put(uint32_t{0x334a4d49});
    put(uint32_t{2});
    put(int64_t{0});
    put(uint64_t{0});
    put(begin);
    put(generated);
    put(chunk);
    put(int32_t{1});
    put(int32_t{2});
    put(Fnv1a64(rec.data(), rec.size()));
    return rec;
  };
  Rewrite(record(0, 2, 1));
  ASSERT_TRUE(ReadJournal(path_).ok());  // all generated, chunk 1: fits
  for (const std::string& bad : {record(0, 3, 7), record(0, 1, 0), record(1, 0, 7),
                                 record(-1, 0, 7), record(0, 0xffffffffu, 7)}) {
    Rewrite(bad + record(0, 0, 7));  // followed by more data: not a torn tail
    auto j = ReadJournal(path_);
    EXPECT_EQ(j.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_THAT(j.status().message(), HasSubstr("bad call shape"));
  }
}

TEST_F(JournalTest, OpenFailsWithThePathInTheMessage) {
  auto w = JournalWriter::Open("/nonexistent-dir/journal", 0);
  ASSERT_FALSE(w.ok());
  EXPECT_THAT(std::string(w.status().message()), HasSubstr("/nonexistent-dir/journal"));
}

}  // namespace
}  // namespace infmem::store
