#include "server/store/local_session_store.h"

#include <algorithm>
#include <filesystem>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "server/common/file_io.h"
#include "server/common/status_macros.h"
#include "server/common/strict_json.h"
#include "server/store/durable_file.h"

namespace infmem::store {
namespace {

namespace fs = std::filesystem;

constexpr char kRecordFile[] = "session.json";
constexpr char kSnapshotFile[] = "state.safetensors";
constexpr char kJournalFile[] = "journal";
// Directories being created or deleted; never valid session ids (they contain '.').
constexpr char kPendingPrefix[] = ".pending-";
constexpr char kDeletedPrefix[] = ".deleted-";

std::string RecordJson(const SessionRecord& r) {
  return nlohmann::json{{"format_version", 1},
                        {"seed", std::to_string(r.seed)},
                        {"created_unix_ms", r.created_unix_ms}}
      .dump();
}

absl::StatusOr<SessionRecord> ParseRecord(const std::string& id, const std::string& path) {
  ASSIGN_OR_RETURN(const std::string text, ReadFile(path));
  auto bad = [&](absl::string_view why) {
    return absl::DataLossError(absl::StrCat("session record ", path, ": ", why));
  };
  nlohmann::json j;
  if (ParseStrictJson(text, &j).kind != JsonProblem::kNone || !j.is_object()) {
    return bad("not a JSON object");
  }
  if (!j.contains("format_version") || j["format_version"] != 1) {
    return bad("unsupported or missing format_version");
  }
  SessionRecord r;
  r.id = id;
  if (!j.contains("seed") || !j["seed"].is_string() ||
      !absl::SimpleAtoi(j["seed"].get<std::string>(), &r.seed)) {
    return bad("'seed' must be a decimal string");
  }
  if (!j.contains("created_unix_ms") || !j["created_unix_ms"].is_number_integer()) {
    return bad("'created_unix_ms' must be an integer");
  }
  r.created_unix_ms = j["created_unix_ms"].get<int64_t>();
  return r;
}

// Writes the snapshot and journal of `initial` into the directory `dir`, durably.
absl::Status WriteInitialState(const std::string& dir, const InitialState& initial) {
  if (!initial.snapshot.empty()) {
    RETURN_IF_ERROR(WriteFileDurably(dir + "/" + kSnapshotFile, initial.snapshot));
  }
  if (initial.tokens.empty()) return absl::OkStatus();
  ASSIGN_OR_RETURN(auto writer, JournalWriter::Open(dir + "/" + kJournalFile, 0));
  RETURN_IF_ERROR(writer->Append(initial.tokens_seen, initial.tokens));
  return writer->Sync();
}

}  // namespace

LocalSessionStore::LocalSessionStore(std::string root) : root_(std::move(root)) {}
LocalSessionStore::~LocalSessionStore() = default;

absl::StatusOr<std::unique_ptr<LocalSessionStore>> LocalSessionStore::Open(
    const std::string& root) {
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec)
    return absl::InternalError(
        absl::StrCat("creating session directory ", root, ": ", ec.message()));
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(kPendingPrefix, 0) == 0 || name.rfind(kDeletedPrefix, 0) == 0) {
      fs::remove_all(entry.path(), ec);
    }
  }
  if (ec) return absl::InternalError(absl::StrCat("reading ", root, ": ", ec.message()));
  return std::unique_ptr<LocalSessionStore>(new LocalSessionStore(root));
}

absl::Status LocalSessionStore::Create(const SessionRecord& record, const InitialState& initial) {
  RETURN_IF_ERROR(ValidateStoredId(record.id));
  const std::string dir = Dir(record.id);
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    return absl::AlreadyExistsError(absl::StrCat("session '", record.id, "' already exists"));
  }
  // Build the directory aside and rename it into place, so a crash never leaves a session
  // without its record.
  const std::string pending =
      absl::StrCat(root_, "/", kPendingPrefix, record.id, "-", nonce_.fetch_add(1));
  fs::create_directory(pending, ec);
  if (ec) return absl::InternalError(absl::StrCat("creating ", pending, ": ", ec.message()));
  const std::string json = RecordJson(record);
  absl::Status status = WriteInitialState(pending, initial);
  if (status.ok()) status = WriteFileDurably(pending + "/" + kRecordFile, json);
  if (status.ok()) {
    fs::rename(pending, dir, ec);
    if (ec) {
      status =
          ec == std::errc::directory_not_empty || ec == std::errc::file_exists
              ? absl::AlreadyExistsError(absl::StrCat("session '", record.id, "' already exists"))
              : absl::InternalError(absl::StrCat("creating ", dir, ": ", ec.message()));
    }
  }
  if (!status.ok()) {
    fs::remove_all(pending, ec);
    return status;
  }
  bytes_written_ +=
      static_cast<int64_t>(json.size() + initial.snapshot.size() + 4 * initial.tokens.size());
  return SyncDirectory(root_);
}

absl::StatusOr<StoredSession> LocalSessionStore::Load(const std::string& id) {
  RETURN_IF_ERROR(ValidateStoredId(id));
  const std::string dir = Dir(id);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::NotFoundError(absl::StrCat("session '", id, "' not found"));
  }
  StoredSession s;
  ASSIGN_OR_RETURN(s.record, ParseRecord(id, dir + "/" + kRecordFile));
  const std::string snapshot = dir + "/" + kSnapshotFile;
  if (fs::exists(snapshot, ec)) {
    ASSIGN_OR_RETURN(s.snapshot, ReadFile(snapshot));
  }
  ASSIGN_OR_RETURN(s.journal, ReadJournal(dir + "/" + kJournalFile));
  // Reopen the writer so that the torn tail, if any, is cut before the next append. File
  // work stays outside the lock, which only guards the map: other sessions never wait on it.
  ASSIGN_OR_RETURN(auto writer,
                   JournalWriter::Open(dir + "/" + kJournalFile, s.journal.valid_bytes));
  absl::MutexLock lock(&mu_);
  writers_[id] = std::move(writer);
  return s;
}

absl::StatusOr<SessionStat> LocalSessionStore::Stat(const std::string& id) const {
  RETURN_IF_ERROR(ValidateStoredId(id));
  const std::string dir = Dir(id);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::NotFoundError(absl::StrCat("session '", id, "' not found"));
  }
  SessionStat stat;
  ASSIGN_OR_RETURN(stat.record, ParseRecord(id, dir + "/" + kRecordFile));
  ASSIGN_OR_RETURN(const JournalContents journal, ReadJournal(dir + "/" + kJournalFile));
  stat.tokens = journal.first_index + static_cast<int64_t>(journal.tokens.size());
  return stat;
}

absl::StatusOr<JournalWriter*> LocalSessionStore::Writer(const std::string& id) {
  {
    absl::MutexLock lock(&mu_);
    auto it = writers_.find(id);
    if (it != writers_.end()) return it->second.get();
  }
  // Calls for one session never overlap, so nobody else opens this writer meanwhile.
  std::error_code ec;
  if (!fs::is_directory(Dir(id), ec)) {
    return absl::NotFoundError(absl::StrCat("session '", id, "' not found"));
  }
  const std::string path = Dir(id) + "/" + kJournalFile;
  ASSIGN_OR_RETURN(const JournalContents contents, ReadJournal(path));
  ASSIGN_OR_RETURN(auto writer, JournalWriter::Open(path, contents.valid_bytes));
  JournalWriter* raw = writer.get();
  absl::MutexLock lock(&mu_);
  writers_[id] = std::move(writer);
  return raw;
}

absl::Status LocalSessionStore::Append(const std::string& id, int64_t first_index,
                                       absl::Span<const int32_t> tokens, uint64_t client_seq,
                                       CallShape shape) {
  RETURN_IF_ERROR(ValidateStoredId(id));
  if (tokens.empty() && client_seq == 0) return absl::OkStatus();
  ASSIGN_OR_RETURN(JournalWriter * writer, Writer(id));
  const int64_t before = writer->size();
  RETURN_IF_ERROR(writer->Append(first_index, tokens, client_seq, shape));
  bytes_written_ += writer->size() - before;
  // Concurrent syncs of different sessions' journals share the file system's journal commit
  // (ext4/xfs group them), so many sessions appending at once do not pay one flush each.
  return writer->Sync();
}

absl::Status LocalSessionStore::WriteSnapshot(const std::string& id, int64_t tokens_seen,
                                              const std::string& state) {
  RETURN_IF_ERROR(ValidateStoredId(id));
  const std::string dir = Dir(id);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::NotFoundError(absl::StrCat("session '", id, "' not found"));
  }
  RETURN_IF_ERROR(WriteFileDurably(dir + "/" + kSnapshotFile, state));
  bytes_written_ += static_cast<int64_t>(state.size());
  // Compact the journal: keep only tokens the snapshot does not cover. A crash before the
  // rename leaves the old journal, whose covered tokens recovery skips.
  const std::string journal = dir + "/" + kJournalFile;
  ASSIGN_OR_RETURN(const JournalContents contents, ReadJournal(journal));
  const int64_t skip = std::clamp<int64_t>(tokens_seen - contents.first_index, 0,
                                           static_cast<int64_t>(contents.tokens.size()));
  Release(id);
  const std::string fresh = journal + ".new";
  fs::remove(fresh, ec);
  {
    ASSIGN_OR_RETURN(auto writer, JournalWriter::Open(fresh, 0));
    // The kept tokens keep their calls' shapes: a call the snapshot covers in part becomes
    // plain tokens (pending after the snapshot), and the sequence number rides on the last.
    const absl::Span<const int32_t> all(contents.tokens);
    auto span = [&](int64_t begin, int64_t end) {
      return all.subspan(static_cast<size_t>(begin - contents.first_index),
                         static_cast<size_t>(end - begin));
    };
    const int64_t end = contents.first_index + static_cast<int64_t>(contents.tokens.size());
    int64_t at = contents.first_index + skip;
    for (const JournalCall& call : contents.calls) {
      if (call.begin < at) continue;
      const bool last = call.end == end;
      if (call.begin > at) RETURN_IF_ERROR(writer->Append(at, span(at, call.begin)));
      RETURN_IF_ERROR(writer->Append(call.begin, span(call.begin, call.end),
                                     last ? contents.client_seq : 0, call.shape));
      at = call.end;
    }
    if (at < end || (at == contents.first_index + skip && contents.client_seq != 0)) {
      RETURN_IF_ERROR(writer->Append(at, span(at, end), contents.client_seq));
    }
    RETURN_IF_ERROR(writer->Sync());
    bytes_written_ += writer->size();
  }
  fs::rename(fresh, journal, ec);
  if (ec) return absl::InternalError(absl::StrCat("replacing ", journal, ": ", ec.message()));
  RETURN_IF_ERROR(SyncDirectory(dir));
  ASSIGN_OR_RETURN(auto writer, JournalWriter::Open(journal, INT64_MAX));
  absl::MutexLock lock(&mu_);
  writers_[id] = std::move(writer);
  return absl::OkStatus();
}

void LocalSessionStore::Release(const std::string& id) {
  absl::MutexLock lock(&mu_);
  writers_.erase(id);
}

absl::Status LocalSessionStore::Delete(const std::string& id) {
  RETURN_IF_ERROR(ValidateStoredId(id));
  Release(id);
  const std::string dir = Dir(id);
  const std::string gone = absl::StrCat(root_, "/", kDeletedPrefix, id, "-", nonce_.fetch_add(1));
  std::error_code ec;
  fs::rename(dir, gone, ec);
  if (ec == std::errc::no_such_file_or_directory) {
    return absl::NotFoundError(absl::StrCat("session '", id, "' not found"));
  }
  if (ec) return absl::InternalError(absl::StrCat("deleting ", dir, ": ", ec.message()));
  RETURN_IF_ERROR(SyncDirectory(root_));
  fs::remove_all(gone, ec);  // leftovers are removed by the next Open
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> LocalSessionStore::List() const {
  std::vector<std::string> ids;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root_, ec)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_directory(ec) && ValidateStoredId(name).ok()) ids.push_back(name);
  }
  if (ec) return absl::InternalError(absl::StrCat("listing ", root_, ": ", ec.message()));
  std::sort(ids.begin(), ids.end());
  return ids;
}

}  // namespace infmem::store
