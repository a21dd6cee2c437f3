// SessionStore: the durable home of sessions on disk (ARCHITECTURE.md §4). Model-agnostic: it
// keeps bytes and token ids; the SessionManager turns them into model state.
//
// Layout under the root directory, one directory per session:
//   <id>/session.json        {"format_version": 1, "seed": "<u64>", "created_unix_ms": N}
//   <id>/state.safetensors   newest snapshot (Model::SerializeState), absent until the first
//   <id>/journal             token journal (journal.h): tokens appended since the snapshot
// Creation and deletion are atomic (a directory renamed into or out of place), snapshots
// replace the old one atomically (durable_file.h), and an Append is durable when it returns.
// Recovery = snapshot + the journal's tokens from the snapshot's token count on; a torn
// journal tail is cut.
//
// Thread-safety: safe to call from many threads; calls for one session must not overlap
// (the SessionManager serializes them with its per-session lock).
#ifndef INFMEM_SERVER_STORE_SESSION_STORE_H_
#define INFMEM_SERVER_STORE_SESSION_STORE_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "server/store/journal.h"

namespace infmem::store {

// Returns InvalidArgument unless `id` matches [A-Za-z0-9_-]{1,128} (checked before any path
// is built from it).
absl::Status ValidateSessionId(absl::string_view id);
// Returns InvalidArgument unless `key` is a session id, optionally in a tenant's namespace:
// "<tenant>.<id>" with the tenant matching [A-Za-z0-9_]{1,64}. The store and the
// SessionManager key sessions this way; one '.' never makes a path component "..".
absl::Status ValidateStoredId(absl::string_view key);
// Returns InvalidArgument unless `tenant` matches [A-Za-z0-9_]{1,64}.
absl::Status ValidateTenant(absl::string_view tenant);

struct SessionRecord {
  std::string id;
  uint64_t seed = 0;  // the session's sticky-memory seed
  int64_t created_unix_ms = 0;
};

// What a session starts from when it is made from another (fork, import): a snapshot that
// covers its first `tokens_seen` tokens and the tokens after them.
struct InitialState {
  std::string snapshot;  // Model::SerializeState bytes; empty: none (tokens_seen must be 0)
  int64_t tokens_seen = 0;
  std::vector<int32_t> tokens;
};

// A session's record and length, read without its snapshot.
struct SessionStat {
  SessionRecord record;
  int64_t tokens = 0;  // index after the journal's last token (0 when the journal is empty)
};

struct StoredSession {
  SessionRecord record;
  std::string snapshot;     // Model::SerializeState bytes; empty when none was written yet
  JournalContents journal;  // tokens appended, journal.first_index being the first's index
};

class SessionStore {
 public:
  // Opens the store at `root`, creating the directory if missing, and removes leftovers of
  // interrupted creations and deletions.
  static absl::StatusOr<std::unique_ptr<SessionStore>> Open(const std::string& root);
  ~SessionStore();

  // Creates a session durably, with `initial` as its snapshot and journal. AlreadyExists
  // when the id is taken.
  absl::Status Create(const SessionRecord& record, const InitialState& initial = {});
  // Reads a session. NotFound when it does not exist; DataLoss naming the file when its
  // record or journal is corrupt (the snapshot's own checksum is the model's to check).
  absl::StatusOr<StoredSession> Load(const std::string& id);
  // Reads a session's record and journal, not its snapshot: NotFound / DataLoss as Load.
  // The token count is exact for sessions that keep their newest tokens in the journal
  // (the SessionManager's invariant).
  absl::StatusOr<SessionStat> Stat(const std::string& id) const;
  // Appends `tokens` (the first has absolute index `first_index`) and syncs them to disk.
  absl::Status Append(const std::string& id, int64_t first_index, absl::Span<const int32_t> tokens);
  // Replaces the snapshot with `state`, which covers the first `tokens_seen` tokens, then
  // drops the journal's tokens before that index.
  absl::Status WriteSnapshot(const std::string& id, int64_t tokens_seen, const std::string& state);
  // Closes the session's open files (when it leaves memory); a later call reopens them.
  void Release(const std::string& id);
  // Removes a session. NotFound when it does not exist.
  absl::Status Delete(const std::string& id);
  // Returns the ids of all stored sessions, sorted.
  absl::StatusOr<std::vector<std::string>> List() const;
  // Returns the bytes written to session files since Open (journals, snapshots, records).
  int64_t bytes_written() const { return bytes_written_.load(); }

 private:
  explicit SessionStore(std::string root);
  std::string Dir(const std::string& id) const { return root_ + "/" + id; }
  // Returns the open journal writer of `id`, opening it (and cutting a torn tail) if needed.
  absl::StatusOr<JournalWriter*> Writer(const std::string& id);

  const std::string root_;
  std::atomic<int64_t> bytes_written_{0};
  std::atomic<uint64_t> nonce_{0};
  absl::Mutex mu_;  // guards the map only; file work happens outside it
  std::map<std::string, std::unique_ptr<JournalWriter>> writers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace infmem::store

#endif  // INFMEM_SERVER_STORE_SESSION_STORE_H_
