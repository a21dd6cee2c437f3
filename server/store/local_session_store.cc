#include "server/store/local_session_store.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "server/common/status_macros.h"
#include "server/common/strict_json.h"

namespace infmem::store {
namespace {

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

absl::StatusOr<SessionRecord> ParseRecord(FileSystem& fs, const std::string& id,
                                          const std::string& path) {
  ASSIGN_OR_RETURN(const std::string text, fs.ReadFile(path));
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
absl::Status WriteInitialState(FileSystem& fs, const std::string& dir,
                               const InitialState& initial) {
  if (!initial.snapshot.empty()) {
    RETURN_IF_ERROR(WriteFileDurably(fs, dir + "/" + kSnapshotFile, initial.snapshot));
  }
  if (initial.tokens.empty()) return absl::OkStatus();
  ASSIGN_OR_RETURN(auto writer, JournalWriter::Open(dir + "/" + kJournalFile, 0, &fs));
  RETURN_IF_ERROR(writer->Append(initial.tokens_seen, initial.tokens));
  return writer->Sync();
}

}  // namespace

LocalSessionStore::LocalSessionStore(std::string root, FileSystem& fs)
    : root_(std::move(root)), fs_(fs) {}
LocalSessionStore::~LocalSessionStore() = default;

absl::StatusOr<std::unique_ptr<LocalSessionStore>> LocalSessionStore::Open(const std::string& root,
                                                                           FileSystem* fs) {
  FileSystem& files = fs != nullptr ? *fs : FileSystem::Default();
  // The directories made here must be durable before any session in them is acknowledged:
  // sync the parent of each one created (found by the power-loss explorer).
  std::vector<std::string> missing;
  for (std::string dir = root; !dir.empty() && dir != "/" && dir != "." && !files.Exists(dir);
       dir = ParentDir(dir)) {
    missing.push_back(dir);
  }
  if (absl::Status made = files.CreateDirs(root); !made.ok()) {
    return absl::InternalError(
        absl::StrCat("creating session directory ", root, ": ", made.message()));
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    RETURN_IF_ERROR(files.SyncDir(ParentDir(*it)));
  }
  ASSIGN_OR_RETURN(const std::vector<DirEntry> entries, files.List(root));
  for (const DirEntry& entry : entries) {
    if (entry.name.rfind(kPendingPrefix, 0) == 0 || entry.name.rfind(kDeletedPrefix, 0) == 0) {
      files.RemoveAll(root + "/" + entry.name).IgnoreError();
    }
  }
  return std::unique_ptr<LocalSessionStore>(new LocalSessionStore(root, files));
}

absl::Status LocalSessionStore::Create(const SessionRecord& record, const InitialState& initial) {
  RETURN_IF_ERROR(ValidateStoredId(record.id));
  const std::string dir = Dir(record.id);
  if (fs_.Exists(dir)) {
    return absl::AlreadyExistsError(absl::StrCat("session '", record.id, "' already exists"));
  }
  // Build the directory aside and rename it into place, so a crash never leaves a session
  // without its record.
  const std::string pending =
      absl::StrCat(root_, "/", kPendingPrefix, record.id, "-", nonce_.fetch_add(1));
  RETURN_IF_ERROR(fs_.CreateDir(pending));
  const std::string json = RecordJson(record);
  absl::Status status = WriteInitialState(fs_, pending, initial);
  if (status.ok()) status = WriteFileDurably(fs_, pending + "/" + kRecordFile, json);
  if (status.ok()) {
    status = fs_.Rename(pending, dir);
    if (absl::IsAlreadyExists(status)) {
      status = absl::AlreadyExistsError(absl::StrCat("session '", record.id, "' already exists"));
    }
  }
  if (!status.ok()) {
    fs_.RemoveAll(pending).IgnoreError();
    return status;
  }
  bytes_written_ +=
      static_cast<int64_t>(json.size() + initial.snapshot.size() + 4 * initial.tokens.size());
  return fs_.SyncDir(root_);
}

absl::StatusOr<StoredSession> LocalSessionStore::Load(const std::string& id) {
  RETURN_IF_ERROR(ValidateStoredId(id));
  const std::string dir = Dir(id);
  if (!fs_.IsDirectory(dir)) {
    return absl::NotFoundError(absl::StrCat("session '", id, "' not found"));
  }
  StoredSession s;
  ASSIGN_OR_RETURN(s.record, ParseRecord(fs_, id, dir + "/" + kRecordFile));
  absl::StatusOr<std::string> snapshot = fs_.ReadFile(dir + "/" + kSnapshotFile);
  if (snapshot.ok()) {
    s.snapshot = *std::move(snapshot);
  } else if (!absl::IsNotFound(snapshot.status())) {
    return snapshot.status();
  }
  ASSIGN_OR_RETURN(s.journal, ReadJournal(dir + "/" + kJournalFile, &fs_));
  // Reopen the writer so that the torn tail, if any, is cut before the next append. File
  // work stays outside the lock, which only guards the map: other sessions never wait on it.
  ASSIGN_OR_RETURN(auto writer,
                   JournalWriter::Open(dir + "/" + kJournalFile, s.journal.valid_bytes, &fs_));
  absl::MutexLock lock(&mu_);
  writers_[id] = std::move(writer);
  return s;
}

absl::StatusOr<SessionStat> LocalSessionStore::Stat(const std::string& id) const {
  RETURN_IF_ERROR(ValidateStoredId(id));
  const std::string dir = Dir(id);
  if (!fs_.IsDirectory(dir)) {
    return absl::NotFoundError(absl::StrCat("session '", id, "' not found"));
  }
  SessionStat stat;
  ASSIGN_OR_RETURN(stat.record, ParseRecord(fs_, id, dir + "/" + kRecordFile));
  ASSIGN_OR_RETURN(const JournalContents journal, ReadJournal(dir + "/" + kJournalFile, &fs_));
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
  if (!fs_.IsDirectory(Dir(id))) {
    return absl::NotFoundError(absl::StrCat("session '", id, "' not found"));
  }
  const std::string path = Dir(id) + "/" + kJournalFile;
  ASSIGN_OR_RETURN(const JournalContents contents, ReadJournal(path, &fs_));
  ASSIGN_OR_RETURN(auto writer, JournalWriter::Open(path, contents.valid_bytes, &fs_));
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
  absl::Status synced = writer->Sync();
  if (!synced.ok()) {
    // Not acknowledged: take the record back out (best effort: after a failed fsync the page
    // cache may not say what the disk holds), and reopen the journal on the next call.
    writer->Truncate(before).IgnoreError();
    Release(id);
  }
  return synced;
}

absl::Status LocalSessionStore::WriteSnapshot(const std::string& id, int64_t tokens_seen,
                                              const std::string& state) {
  RETURN_IF_ERROR(ValidateStoredId(id));
  const std::string dir = Dir(id);
  if (!fs_.IsDirectory(dir)) {
    return absl::NotFoundError(absl::StrCat("session '", id, "' not found"));
  }
  RETURN_IF_ERROR(WriteFileDurably(fs_, dir + "/" + kSnapshotFile, state));
  bytes_written_ += static_cast<int64_t>(state.size());
  // Compact the journal: keep only tokens the snapshot does not cover. A crash before the
  // rename leaves the old journal, whose covered tokens recovery skips.
  const std::string journal = dir + "/" + kJournalFile;
  ASSIGN_OR_RETURN(const JournalContents contents, ReadJournal(journal, &fs_));
  const int64_t skip = std::clamp<int64_t>(tokens_seen - contents.first_index, 0,
                                           static_cast<int64_t>(contents.tokens.size()));
  Release(id);
  const std::string fresh = journal + ".new";
  RETURN_IF_ERROR(fs_.Remove(fresh));
  {
    ASSIGN_OR_RETURN(auto writer, JournalWriter::Open(fresh, 0, &fs_));
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
  RETURN_IF_ERROR(fs_.Rename(fresh, journal));
  RETURN_IF_ERROR(fs_.SyncDir(dir));
  ASSIGN_OR_RETURN(auto writer, JournalWriter::Open(journal, INT64_MAX, &fs_));
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
  if (!fs_.IsDirectory(dir)) {
    return absl::NotFoundError(absl::StrCat("session '", id, "' not found"));
  }
  RETURN_IF_ERROR(fs_.Rename(dir, gone));
  RETURN_IF_ERROR(fs_.SyncDir(root_));
  fs_.RemoveAll(gone).IgnoreError();  // leftovers are removed by the next Open
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> LocalSessionStore::List() const {
  std::vector<std::string> ids;
  ASSIGN_OR_RETURN(const std::vector<DirEntry> entries, fs_.List(root_));
  for (const DirEntry& entry : entries) {
    if (entry.is_directory && ValidateStoredId(entry.name).ok()) ids.push_back(entry.name);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

}  // namespace infmem::store
