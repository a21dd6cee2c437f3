// Simulated power loss for the local store: every write, sync, rename and directory sync of a
// session's life (creation, appends, a generation, a snapshot with its journal compaction, a
// fork, a deletion) goes through CrashFileSystem; at every point between those operations,
// every disk state a power loss may leave (crash_file_system.h) is recovered with the real
// recovery code (LocalSessionStore::Open, List and Load) and must hold every acknowledged
// token, never a token that was not appended, and no session half made or half deleted.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "server/store/local_session_store.h"
#include "tests/testing/crash_file_system.h"

namespace infmem::store {
namespace {

using testing::CrashFileSystem;

constexpr char kRoot[] = "/data/sessions";

// A snapshot here is the tokens it covers, as text: recovery can then rebuild the whole list.
std::string SnapshotOf(const std::vector<int32_t>& tokens, size_t n) {
  return "S" + absl::StrJoin(tokens.begin(), tokens.begin() + static_cast<std::ptrdiff_t>(n), ",");
}

struct Truth {
  std::vector<int32_t> tokens;            // every token given to the store, acknowledged or not
  size_t acked = 0;                       // tokens acknowledged
  size_t initial = 0;                     // tokens a creation made (a fork's), all or nothing
  bool created = false, deleted = false;  // acknowledged
};
using World = std::map<std::string, Truth>;

// The tokens of a recovered session, or why they cannot be read.
absl::StatusOr<std::vector<int32_t>> Recovered(const StoredSession& s) {
  std::vector<int32_t> tokens;
  if (!s.snapshot.empty()) {
    if (s.snapshot[0] != 'S') return absl::DataLossError("snapshot garbled");
    for (absl::string_view t : absl::StrSplit(s.snapshot.substr(1), ',', absl::SkipEmpty())) {
      int32_t v = 0;
      if (!absl::SimpleAtoi(t, &v)) return absl::DataLossError("snapshot garbled");
      tokens.push_back(v);
    }
  }
  const int64_t seen = static_cast<int64_t>(tokens.size());
  const int64_t end = s.journal.first_index + static_cast<int64_t>(s.journal.tokens.size());
  if (!s.journal.tokens.empty()) {
    if (s.journal.first_index > seen || end < seen) {
      return absl::DataLossError(absl::StrCat("journal [", s.journal.first_index, ", ", end,
                                              ") does not continue a snapshot of ", seen));
    }
    tokens.insert(tokens.end(), s.journal.tokens.begin() + (seen - s.journal.first_index),
                  s.journal.tokens.end());
  }
  return tokens;
}

// Recovers `disk` and returns what is wrong with it (empty: nothing), given what was
// acknowledged (`acked`) and everything ever given to the store (`all`).
std::string Check(CrashFileSystem& disk, const World& acked, const World& all) {
  auto store = LocalSessionStore::Open(kRoot, &disk);
  if (!store.ok()) return absl::StrCat("Open: ", store.status().ToString());
  auto ids = (*store)->List();
  if (!ids.ok()) return absl::StrCat("List: ", ids.status().ToString());
  for (const auto& [id, truth] : all) {
    const Truth& a = acked.count(id) ? acked.at(id) : Truth{};
    const bool listed = std::count(ids->begin(), ids->end(), id) > 0;
    absl::StatusOr<StoredSession> loaded = (*store)->Load(id);
    if (listed != loaded.ok()) {
      return absl::StrCat(id, listed ? " is listed" : " is not listed",
                          ", Load: ", loaded.status().ToString());
    }
    if (a.deleted) {
      if (listed) return absl::StrCat(id, ": deleted, yet back");
      continue;
    }
    if (!listed) {  // fine before its creation returned, or once its deletion began
      if (a.created && !truth.deleted) return absl::StrCat(id, ": created, yet gone");
      continue;
    }
    auto tokens = Recovered(*loaded);
    if (!tokens.ok()) return absl::StrCat(id, ": ", tokens.status().ToString());
    const size_t floor = std::max(a.acked, truth.initial);
    if (tokens->size() < floor) {
      return absl::StrCat(id, ": ", tokens->size(), " tokens recovered, ", floor,
                          " acknowledged (or made by its creation)");
    }
    if (tokens->size() > truth.tokens.size() ||
        !std::equal(tokens->begin(), tokens->end(), truth.tokens.begin())) {
      return absl::StrCat(id, ": recovered tokens [", absl::StrJoin(*tokens, ","),
                          "] are not a prefix of those appended [",
                          absl::StrJoin(truth.tokens, ","), "]");
    }
  }
  return "";
}

// The files of `disk` under `dir` with their sizes, for failure messages.
std::string Tree(CrashFileSystem& disk, const std::string& dir) {
  std::string out;
  auto entries = disk.List(dir);
  if (!entries.ok()) return out;
  for (const DirEntry& e : *entries) {
    const std::string path = dir + "/" + e.name;
    if (e.is_directory) {
      absl::StrAppend(&out, path, "/ ", Tree(disk, path));
    } else {
      absl::StrAppend(&out, path, " (", disk.ReadFile(path).value_or("").size(), " bytes) ");
    }
  }
  return out;
}

std::vector<int32_t> Tokens(int32_t first, int n) {
  std::vector<int32_t> t;
  for (int i = 0; i < n; ++i) t.push_back(first + i);
  return t;
}

TEST(PowerLossTest, EveryCrashStateKeepsEveryAcknowledgedTokenAndNothingElse) {
  CrashFileSystem fs;
  auto store = LocalSessionStore::Open(kRoot, &fs).value();
  World world;  // as given to the store
  struct Step {
    std::string name;
    int first, last;  // checkpoints: crash points from first to last belong to this step
    World acked;      // what was acknowledged when it returned
  };
  std::vector<Step> steps;
  World acked;
  auto run = [&](const std::string& name, auto&& op) {
    const int first = fs.checkpoints();
    const absl::Status status = op();
    ASSERT_TRUE(status.ok()) << name << ": " << status;
    steps.push_back({name, first, fs.checkpoints() - 1, {}});
    for (auto& [id, t] : world) t.acked = t.tokens.size();
    acked = world;
    steps.back().acked = acked;
  };
  auto append = [&](const std::string& id, std::vector<int32_t> t, uint64_t seq, CallShape shape) {
    Truth& truth = world[id];
    const int64_t first = static_cast<int64_t>(truth.tokens.size());
    truth.tokens.insert(truth.tokens.end(), t.begin(), t.end());
    return store->Append(id, first, t, seq, shape);
  };

  run("create", [&] {
    world["a"].tokens = {1};  // a session's first token (BOS)
    world["a"].initial = 1;
    world["a"].created = true;
    return store->Create({"a", 7, 1}, InitialState{"", 0, {1}});
  });
  run("append", [&] { return append("a", Tokens(100, 5), 0, {0, 7}); });
  run("generate", [&] { return append("a", Tokens(200, 4), 1, {4, 256}); });
  run("append", [&] { return append("a", Tokens(300, 3), 2, {0, 256}); });
  run("snapshot+compaction",
      [&] { return store->WriteSnapshot("a", 12, SnapshotOf(world["a"].tokens, 12)); });
  run("append", [&] { return append("a", Tokens(400, 2), 3, {0, 256}); });
  run("fork", [&] {
    const std::vector<int32_t>& a = world["a"].tokens;
    Truth& b = world["b"];
    b.tokens = a;
    b.initial = a.size();
    b.created = true;
    return store->Create({"b", 8, 2}, InitialState{SnapshotOf(a, 14), 14, {a[14]}});
  });
  run("generate", [&] { return append("b", Tokens(500, 3), 0, {3, 256}); });
  run("create", [&] {  // no first token: its journal is made by its first append
    world["c"].created = true;
    return store->Create({"c", 9, 3});
  });
  run("append", [&] { return append("c", Tokens(600, 2), 0, {0, 256}); });
  run("delete", [&] {
    world["a"].deleted = true;
    return store->Delete("a");
  });

  const auto start = std::chrono::steady_clock::now();
  int total = 0;
  World before;  // acknowledged before the step
  for (const Step& step : steps) {
    int states = 0;
    for (int k = step.first; k <= step.last; ++k) {
      // A crash inside the step: only what was acknowledged before it must hold; at its last
      // checkpoint the step has returned (acknowledged).
      const World& must = k == step.last ? step.acked : before;
      for (auto& disk : fs.CrashStates(k)) {
        ++states;
        const std::string files = Tree(*disk, kRoot);
        const std::string problem = Check(*disk, must, world);
        ASSERT_EQ(problem, "") << "power loss during " << step.name << " (checkpoint " << k
                               << "), disk: " << files;
      }
    }
    std::printf("%-20s %3d crash points, %5d disk states\n", step.name.c_str(),
                step.last - step.first + 1, states);
    total += states;
    before = step.acked;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%d disk states recovered in %.2f s\n", total, seconds);
  EXPECT_GT(total, 100);
}

// A failed fdatasync (EIO) or a disk that fills in the middle of a write: the call is not
// acknowledged, the journal holds none of it, the session goes on, and a power loss after
// all this still recovers exactly what was acknowledged.
TEST(PowerLossTest, AFailedSyncOrAFullDiskLeavesNoTraceAndTheSessionGoesOn) {
  CrashFileSystem fs;
  auto store = LocalSessionStore::Open(kRoot, &fs).value();
  ASSERT_TRUE(store->Create({"s", 1, 1}, InitialState{"", 0, {1}}).ok());
  ASSERT_TRUE(store->Append("s", 1, Tokens(10, 3), 1, {0, 256}).ok());

  fs.FailNext(CrashFileSystem::Op::kSync, absl::InternalError("syncing journal: EIO"));
  EXPECT_EQ(store->Append("s", 4, Tokens(20, 3), 2, {3, 256}).code(), absl::StatusCode::kInternal);
  fs.FailNext(CrashFileSystem::Op::kAppend,
              absl::ResourceExhaustedError("writing journal: No space left on device"));
  EXPECT_EQ(store->Append("s", 4, Tokens(30, 3), 2, {0, 256}).code(),
            absl::StatusCode::kResourceExhausted);
  store->Release("s");
  StoredSession s = store->Load("s").value();
  EXPECT_FALSE(s.journal.torn_tail);
  EXPECT_EQ(s.journal.tokens, (std::vector<int32_t>{1, 10, 11, 12}));
  EXPECT_EQ(s.journal.client_seq, 1u);  // the failed calls did not consume their numbers

  ASSERT_TRUE(store->Append("s", 4, Tokens(40, 2), 2, {2, 256}).ok());
  World acked;
  acked["s"].tokens = {1, 10, 11, 12, 40, 41};
  acked["s"].acked = 6;
  acked["s"].initial = 1;
  acked["s"].created = true;
  int states = 0;
  for (auto& disk : fs.CrashStates(fs.checkpoints() - 1)) {
    ++states;
    EXPECT_EQ(Check(*disk, acked, acked), "");
  }
  EXPECT_GE(states, 1);
}

}  // namespace
}  // namespace infmem::store
