// SessionManager: the registry of sessions. Keeps up to a count and byte budget of sessions
// resident in memory, evicts the least recently used to the store (snapshot first) and loads
// them back on demand (snapshot + journal tail, the tail left pending for the scheduler to
// feed), and lets one call at a time use a session through a SessionLease: a second call gets
// ABORTED. Durability: Commit journals a call's tokens before the caller acknowledges them.
//
// Owned by the Server; holds references to the model, the store and the metrics, which
// outlive it. Thread-safe. Methods that touch the disk block: call them off the scheduler's
// loop and gRPC's callback threads (the service uses a WorkQueue).
#ifndef INFMEM_SERVER_SESSION_SESSION_MANAGER_H_
#define INFMEM_SERVER_SESSION_SESSION_MANAGER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "server/metrics/server_metrics.h"
#include "server/model/model.h"
#include "server/session/residency.h"
#include "server/session/session.h"
#include "server/store/session_store.h"

namespace infmem::session {

struct SessionManagerOptions {
  int64_t max_resident_sessions = 1024;  // 0 = unlimited
  int64_t max_resident_bytes = 0;        // state bytes of resident sessions; 0 = unlimited
  int64_t max_stored_sessions = 0;       // 0 = unlimited
  int64_t max_stored_per_tenant = 0;     // sessions keyed "<tenant>.<id>" per tenant; 0 = unlimited
  // A snapshot is written when a session's state has advanced this many tokens past its
  // last one (bounding the journal a restart replays); eviction and shutdown write one too.
  int64_t snapshot_every_tokens = 8192;
  int32_t bos_id = -1;                   // a new session starts with this token; -1 = none
  std::function<int64_t()> now_unix_ms;  // default: the wall clock
  std::function<uint64_t()> random_u64;  // session seeds; default: absl::BitGen
};

// What GetSession and ListSessions report.
struct SessionInfo {
  std::string id;
  int64_t tokens = 0;  // durable tokens
  uint64_t seed = 0;
  int64_t created_unix_ms = 0;
  int64_t updated_unix_ms = 0;  // 0 when not resident (not tracked on disk)
  bool resident = false;
};

// A session's full state, for export and import.
struct SessionImage {
  SessionInfo info;
  std::string snapshot;          // Model::SerializeState bytes
  std::vector<int32_t> pending;  // tokens after the snapshot's
};

class SessionManager;

// Exclusive use of one resident session for the length of a call. Move-only; releasing it
// (destruction) may evict other sessions, so destroy it off the latency-critical threads.
class SessionLease {
 public:
  SessionLease() = default;
  SessionLease(SessionManager* manager, std::shared_ptr<Session> session)
      : manager_(manager), session_(std::move(session)) {}
  SessionLease(SessionLease&& other) noexcept { *this = std::move(other); }
  SessionLease& operator=(SessionLease&& other) noexcept;
  ~SessionLease() { Reset(); }

  Session& session() const { return *session_; }
  bool valid() const { return session_ != nullptr; }
  // Releases the session now.
  void Reset();

 private:
  SessionManager* manager_ = nullptr;
  std::shared_ptr<Session> session_;
};

class SessionManager {
 public:
  // Counts the stored sessions of `store`. All references must outlive the manager.
  static absl::StatusOr<std::unique_ptr<SessionManager>> Create(const model::Model& model,
                                                                store::SessionStore& store,
                                                                metrics::ServerMetrics& metrics,
                                                                SessionManagerOptions options);

  // Creates a session (`seed` 0: the server picks) and
  // leases it. AlreadyExists, InvalidArgument for a bad id, ResourceExhausted over the
  // stored-sessions limit.
  absl::StatusOr<SessionLease> CreateSession(const std::string& id, uint64_t seed);
  // Leases a session, loading it if it is not resident. NotFound, Aborted when another call
  // holds it, DataLoss / FailedPrecondition when its stored state is corrupt or foreign.
  absl::StatusOr<SessionLease> Acquire(const std::string& id);
  // Journals `tokens`, the ones the lease's call added to the session (it already holds
  // them), with the call's client sequence number (0: none), and syncs them to disk. On
  // failure the in-memory session is discarded at release, so the next call sees what the
  // disk holds.
  absl::Status Commit(SessionLease& lease, absl::Span<const int32_t> tokens,
                      uint64_t client_seq = 0);
  // Writes a snapshot of the leased session's state now (when it has advanced past its last),
  // so that a restart replays none of its journal (stored responses: the next turn then
  // computes only its new tokens even after a crash).
  absl::Status Snapshot(SessionLease& lease);
  // Drops the leased session from memory at release, unsaved: its state is suspect (the
  // model failed mid-call), and the next call reloads what the store holds.
  void Discard(SessionLease& lease);
  // Creates session `id` as a copy of the leased session.
  absl::StatusOr<SessionInfo> Fork(SessionLease& source, const std::string& id);
  // Returns the leased session's full state.
  absl::StatusOr<SessionImage> Export(SessionLease& lease);
  // Creates a session from an exported image (`id` empty: the image's id).
  // FailedPrecondition for a state from another model, DataLoss for a corrupt one.
  absl::StatusOr<SessionInfo> Import(const std::string& id, SessionImage image);
  // Deletes a session. NotFound; Aborted when a call holds it.
  absl::Status Delete(const std::string& id);
  // Describes a session without loading it.
  absl::StatusOr<SessionInfo> Get(const std::string& id);
  // Returns up to `page_size` sessions whose keys start with `prefix` (a tenant's "<tenant>.";
  // empty: keys outside every tenant) and come after `after`, in key order, and whether more
  // follow.
  absl::StatusOr<std::vector<SessionInfo>> List(const std::string& prefix, const std::string& after,
                                                int page_size, bool* more);
  // Hands session `id` over (cluster: another replica asked for it): waits until `deadline`
  // for its call to end, snapshots it and releases it to the store. OK when it is not
  // resident (nothing to hand over); Unavailable when its call outlasts the deadline.
  absl::Status Handoff(const std::string& id, absl::Time deadline);
  // Snapshots every resident session that has advanced past its snapshot and releases it
  // (clean shutdown: a restart replays nothing; in a cluster the sessions move at once).
  // Calls must have ended.
  void ReleaseAll();

  int64_t resident_sessions() const;

 private:
  friend class SessionLease;
  struct Entry {
    std::shared_ptr<Session> session;  // null while loading, creating or deleting
    bool busy = false;
    bool evicting = false;
    bool broken = false;  // a commit failed: drop at release, never snapshot
    int64_t tokens = 0;   // durable tokens
    int64_t updated_unix_ms = 0;
  };

  SessionManager(const model::Model& model, store::SessionStore& store,
                 metrics::ServerMetrics& metrics, SessionManagerOptions options,
                 const std::vector<std::string>& stored);
  // Returns the tenant of a session key ("" outside every tenant).
  static std::string TenantOf(const std::string& key);
  // Counts a stored session in or out of the totals.
  void CountStored(const std::string& key, int delta) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Release(const std::string& id);
  // Writes a snapshot of `session` if its state moved past the last one.
  absl::Status SnapshotIfBehind(const std::string& id, Session& session);
  absl::StatusOr<std::shared_ptr<Session>> Load(const std::string& id);
  // Reserves `id` for a new session: AlreadyExists when taken, ResourceExhausted when the
  // store is full. On success an empty busy entry holds the id.
  absl::Status ReserveNew(const std::string& id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Registers a session created from `initial` under the reserved `id`.
  absl::StatusOr<std::shared_ptr<Session>> CreateReserved(
      const std::string& id, store::SessionRecord record,
      std::unique_ptr<model::SessionState> state, std::vector<int32_t> pending,
      std::string snapshot);
  SessionInfo InfoLocked(const std::string& id, const Entry& entry) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EvictOverBudget();
  void UpdateGauges() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const model::Model& model_;
  store::SessionStore& store_;
  metrics::ServerMetrics& metrics_;
  const SessionManagerOptions options_;

  mutable absl::Mutex mu_;
  absl::CondVar evicted_;  // signalled when an entry leaves (eviction, deletion, failed load)
  std::map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);  // resident or in transition
  Residency residency_ ABSL_GUARDED_BY(mu_);
  int64_t stored_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, int64_t> stored_by_tenant_ ABSL_GUARDED_BY(mu_);
};

}  // namespace infmem::session

#endif  // INFMEM_SERVER_SESSION_SESSION_MANAGER_H_
