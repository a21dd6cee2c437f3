// SessionStore: the durable home of sessions (ARCHITECTURE.md §4), an interface with a local
// (local_session_store.h) and a PostgreSQL (pg_session_store.h) implementation.
// Model-agnostic: it keeps bytes and token ids; the SessionManager turns them into model
// state. An Append is durable when it returns; recovery = snapshot + the journal's tokens from
// the snapshot's token count on.
//
// Thread-safety: safe to call from many threads; calls for one session must not overlap
// (the SessionManager serializes them with its per-session lock).
#ifndef INFMEM_SERVER_STORE_SESSION_STORE_H_
#define INFMEM_SERVER_STORE_SESSION_STORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
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
  JournalContents journal;  // tokens appended, journal.first_index being the first's index,
                            // journal.client_seq the last client sequence number applied,
                            // journal.calls the calls recorded with their shapes
};

// The durable home of sessions. Two implementations: LocalSessionStore (a directory, one
// machine) and PgSessionStore (PostgreSQL, shared by the replicas of a cluster, with one
// owner per session and fencing).
class SessionStore {
 public:
  // Opens the local store at `root` (LocalSessionStore::Open).
  static absl::StatusOr<std::unique_ptr<SessionStore>> Open(const std::string& root);
  virtual ~SessionStore() = default;

  // Creates a session durably, with `initial` as its snapshot and journal. AlreadyExists
  // when the id is taken.
  virtual absl::Status Create(const SessionRecord& record, const InitialState& initial = {}) = 0;
  // Reads a session (in a cluster: takes it over first). NotFound when it does not exist;
  // DataLoss naming the file or row when its record or journal is corrupt (the snapshot's own
  // checksum is the model's to check); Unavailable when another replica holds it.
  virtual absl::StatusOr<StoredSession> Load(const std::string& id) = 0;
  // Reads a session's record and journal, not its snapshot: NotFound / DataLoss as Load.
  // The token count is exact for sessions that keep their newest tokens in the journal
  // (the SessionManager's invariant).
  virtual absl::StatusOr<SessionStat> Stat(const std::string& id) const = 0;
  // Appends `tokens` (the first has absolute index `first_index`) and, when not 0, the
  // client sequence number of the call that added them, and its shape when known (the
  // journal's calls then hold it), durably. Unavailable when this process no longer owns the
  // session (cluster): nothing was written.
  virtual absl::Status Append(const std::string& id, int64_t first_index,
                              absl::Span<const int32_t> tokens, uint64_t client_seq = 0,
                              CallShape shape = {}) = 0;
  // Replaces the snapshot with `state`, which covers the first `tokens_seen` tokens, then
  // drops the journal's tokens before that index.
  virtual absl::Status WriteSnapshot(const std::string& id, int64_t tokens_seen,
                                     const std::string& state) = 0;
  // The session left memory: closes its files (and in a cluster gives up its ownership).
  virtual void Release(const std::string& id) = 0;
  // Removes a session. NotFound when it does not exist.
  virtual absl::Status Delete(const std::string& id) = 0;
  // Returns the ids of all stored sessions, sorted.
  virtual absl::StatusOr<std::vector<std::string>> List() const = 0;
  // OK while this process may keep serving the resident session `id` from memory; otherwise
  // (cluster: its lease on the store lapsed, or the session was handed over) the caller
  // must drop its copy and Load it again.
  virtual absl::Status CheckOwned(const std::string& /*id*/) const { return absl::OkStatus(); }
  // Returns the bytes written since Open (journals, snapshots, records).
  virtual int64_t bytes_written() const = 0;
};

}  // namespace infmem::store

#endif  // INFMEM_SERVER_STORE_SESSION_STORE_H_
