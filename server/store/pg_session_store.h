// PgSessionStore: sessions in PostgreSQL, shared by the replicas of a cluster
// (docs/operations.md "Cluster mode"). Each session has one owner at a time:
//
//   infmem_replicas (id, address, lease_until)       one row per live replica process,
//                                                    renewed every lease/3 by a heartbeat
//   infmem_sessions (id, seed, created_unix_ms, owner, epoch, previous_owner,
//                    snapshot_tokens, client_seq)
//   infmem_journal  (session_id, first_index, tokens bytea (int32 LE), epoch)
//   infmem_snapshots (session_id, chunk, data bytea)
//
// Ownership with fencing: Load takes a session with one conditional UPDATE that increments
// its epoch, allowed when the session is free or its owner's lease has expired; a session a
// live replica owns is first handed over (the `request_handoff` callback asks its owner).
// Every write (journal append, snapshot, release, delete) is one statement or transaction
// that checks the epoch on the session's row and locks it, so a former owner (paused,
// partitioned) never writes again: its write changes nothing and returns Unavailable. A
// takeover waits for a write in progress to commit, then reads it. Leases only decide how
// fast a crashed replica's sessions are served again; correctness never depends on clocks.
// Appends are durable on return (COMMIT waits for PostgreSQL's WAL flush).
//
// Thread-safety as SessionStore.
#ifndef INFMEM_SERVER_STORE_PG_SESSION_STORE_H_
#define INFMEM_SERVER_STORE_PG_SESSION_STORE_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/metrics/server_metrics.h"
#include "server/store/pg_client.h"
#include "server/store/session_store.h"

namespace infmem::store {

struct PgStoreOptions {
  std::string conninfo;           // libpq URI, e.g. postgresql://user@host:5432/db
  std::string replica_id;         // this replica's name (the owner is name + a random nonce)
  std::string advertise_address;  // host:port at which other replicas reach this one
  absl::Duration lease = absl::Seconds(5);
  int connections = 8;  // pooled connections for session work (the heartbeat has its own)
  // Asks the replica at `address` to hand session `id` over; OK once it has released it.
  std::function<absl::Status(const std::string& address, const std::string& id)> request_handoff;
  // Tests only (null in production): called by Append, WriteSnapshot, Release and Delete
  // ("append", "snapshot", "release", "delete") once they hold the session's epoch and before
  // their guarded statement runs, so that a test can interleave a takeover, a release or a
  // re-creation there deterministically.
  std::function<void(const std::string& write, const std::string& id)> before_guarded_write;
};

class PgSessionStore final : public SessionStore {
 public:
  // Connects, creates the tables if missing, registers this replica's lease and starts its
  // heartbeat. Errors name the database (never its password).
  static absl::StatusOr<std::unique_ptr<PgSessionStore>> Open(PgStoreOptions options,
                                                              metrics::ServerMetrics& metrics);
  // Stops the heartbeat and removes this replica's lease row, so sessions it still owns are
  // free at once.
  ~PgSessionStore() override;

  absl::Status Create(const SessionRecord& record, const InitialState& initial = {}) override;
  absl::StatusOr<StoredSession> Load(const std::string& id) override;
  absl::StatusOr<SessionStat> Stat(const std::string& id) const override;
  absl::Status Append(const std::string& id, int64_t first_index, absl::Span<const int32_t> tokens,
                      uint64_t client_seq = 0, CallShape shape = {}) override;
  absl::Status WriteSnapshot(const std::string& id, int64_t tokens_seen,
                             const std::string& state) override;
  void Release(const std::string& id) override;
  absl::Status Delete(const std::string& id) override;
  absl::StatusOr<std::vector<std::string>> List() const override;
  absl::Status CheckOwned(const std::string& id) const override;
  int64_t bytes_written() const override { return bytes_written_.load(); }

  // The owner name this process writes into infmem_sessions.owner.
  const std::string& owner() const { return owner_; }

 private:
  PgSessionStore(PgStoreOptions options, std::string owner, metrics::ServerMetrics& metrics,
                 std::unique_ptr<PgPool> pool, std::unique_ptr<PgPool> heartbeat_pool);
  absl::Status CreateSchema();
  // Renews this replica's lease row; on a renewal after the local lease lapsed, forgets
  // every epoch (another replica may hold those sessions now).
  // Ends the leases of this replica name's previous processes (see the .cc).
  absl::Status ForgetPreviousLives();
  absl::Status Heartbeat();
  void HeartbeatLoop();
  // Makes this replica the owner of `id` (handing it over from a live owner if needed) and
  // returns the new epoch.
  absl::StatusOr<int64_t> TakeOwnership(const std::string& id);
  // The epoch this replica holds `id` under; Unavailable when it holds none.
  absl::StatusOr<int64_t> EpochOf(const std::string& id) const;
  void Forget(const std::string& id);
  absl::Status Fenced(const std::string& id);

  const PgStoreOptions options_;
  const std::string owner_;
  metrics::ServerMetrics& metrics_;
  std::unique_ptr<PgPool> pool_;
  std::unique_ptr<PgPool> heartbeat_pool_;
  std::atomic<int64_t> bytes_written_{0};

  mutable absl::Mutex mu_;
  std::map<std::string, int64_t> epochs_ ABSL_GUARDED_BY(mu_);  // sessions this replica owns
  absl::Time lease_valid_until_ ABSL_GUARDED_BY(mu_);           // local view, ahead of expiry
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread heartbeat_;
};

}  // namespace infmem::store

#endif  // INFMEM_SERVER_STORE_PG_SESSION_STORE_H_
