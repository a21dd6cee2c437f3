#include "server/store/pg_session_store.h"

#include <glog/logging.h>

#include <cstring>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/common/status_macros.h"

namespace infmem::store {
namespace {

constexpr size_t kSnapshotChunkBytes = 8 << 20;
// Any 64-bit number; serializes schema creation among replicas starting together.
constexpr char kSchemaLockKey[] = "7368156029183";

constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS infmem_replicas (
  id text PRIMARY KEY,
  address text NOT NULL,
  lease_until timestamptz NOT NULL);
CREATE TABLE IF NOT EXISTS infmem_sessions (
  id text PRIMARY KEY,
  seed numeric(20) NOT NULL,
  created_unix_ms bigint NOT NULL,
  owner text,
  epoch bigint NOT NULL,
  previous_owner text,
  snapshot_tokens bigint NOT NULL DEFAULT 0,
  client_seq numeric(20) NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS infmem_journal (
  session_id text NOT NULL REFERENCES infmem_sessions (id) ON DELETE CASCADE,
  first_index bigint NOT NULL,
  tokens bytea NOT NULL,
  epoch bigint NOT NULL,
  PRIMARY KEY (session_id, first_index));
ALTER TABLE infmem_journal ADD COLUMN IF NOT EXISTS generated integer;
ALTER TABLE infmem_journal ADD COLUMN IF NOT EXISTS prefill_chunk integer;
ALTER TABLE infmem_journal ADD COLUMN IF NOT EXISTS client_seq numeric(20);
CREATE TABLE IF NOT EXISTS infmem_snapshots (
  session_id text NOT NULL REFERENCES infmem_sessions (id) ON DELETE CASCADE,
  chunk integer NOT NULL,
  data bytea NOT NULL,
  PRIMARY KEY (session_id, chunk));
)sql";

double SecondsSince(absl::Time start) { return absl::ToDoubleSeconds(absl::Now() - start); }

std::string TokenBytes(absl::Span<const int32_t> tokens) {
  std::string out(tokens.size() * sizeof(int32_t), '\0');
  if (!tokens.empty()) std::memcpy(out.data(), tokens.data(), out.size());
  return out;
}

std::string Num(int64_t v) { return std::to_string(v); }
std::string Num(uint64_t v) { return std::to_string(v); }

// Runs `body` inside BEGIN ... COMMIT on `conn`, rolling back when it fails.
absl::Status InTransaction(PgPool::Connection& conn, const std::function<absl::Status()>& body) {
  RETURN_IF_ERROR(conn.Exec("BEGIN").status());
  absl::Status status = body();
  if (status.ok()) status = conn.Exec("COMMIT").status();
  if (!status.ok()) (void)conn.Exec("ROLLBACK");
  return status;
}

}  // namespace

absl::StatusOr<std::unique_ptr<PgSessionStore>> PgSessionStore::Open(
    PgStoreOptions options, metrics::ServerMetrics& metrics) {
  if (options.replica_id.empty()) return absl::InvalidArgumentError("--replica_id is empty");
  if (options.advertise_address.empty()) {
    return absl::InvalidArgumentError("--advertise_address is empty");
  }
  if (options.lease < absl::Seconds(1)) {
    return absl::InvalidArgumentError("--lease_seconds must be at least 1");
  }
  // A restarted replica keeps its name but is a new owner: its previous incarnation's
  // sessions are taken over (epoch + 1), never continued under an old epoch.
  absl::BitGen gen;
  const std::string owner =
      absl::StrCat(options.replica_id, "/", absl::Hex(absl::Uniform<uint64_t>(gen)));
  ASSIGN_OR_RETURN(auto pool, PgPool::Open(options.conninfo, options.connections, options.lease));
  ASSIGN_OR_RETURN(auto heartbeat_pool, PgPool::Open(options.conninfo, 1, options.lease));
  auto store = std::unique_ptr<PgSessionStore>(new PgSessionStore(
      std::move(options), owner, metrics, std::move(pool), std::move(heartbeat_pool)));
  RETURN_IF_ERROR(store->CreateSchema());
  RETURN_IF_ERROR(store->ForgetPreviousLives());
  RETURN_IF_ERROR(store->Heartbeat());
  store->heartbeat_ = std::thread([s = store.get()] { s->HeartbeatLoop(); });
  LOG(INFO) << "cluster store " << store->pool_->where() << ": replica " << owner << " at "
            << store->options_.advertise_address << ", lease "
            << absl::FormatDuration(store->options_.lease);
  return store;
}

PgSessionStore::PgSessionStore(PgStoreOptions options, std::string owner,
                               metrics::ServerMetrics& metrics, std::unique_ptr<PgPool> pool,
                               std::unique_ptr<PgPool> heartbeat_pool)
    : options_(std::move(options)),
      owner_(std::move(owner)),
      metrics_(metrics),
      pool_(std::move(pool)),
      heartbeat_pool_(std::move(heartbeat_pool)) {}

PgSessionStore::~PgSessionStore() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (heartbeat_.joinable()) heartbeat_.join();
  auto conn = heartbeat_pool_->Take();
  absl::StatusOr<PgResult> gone =
      conn.Exec("DELETE FROM infmem_replicas WHERE id = $1", {PgParam::Text(owner_)});
  if (!gone.ok()) LOG(WARNING) << "removing this replica's lease: " << gone.status();
  metrics_.SetLeaseHeld(false);
}

absl::Status PgSessionStore::CreateSchema() {
  auto conn = pool_->Take();
  return InTransaction(conn, [&]() -> absl::Status {
    RETURN_IF_ERROR(
        conn.Exec(absl::StrCat("SELECT pg_advisory_xact_lock(", kSchemaLockKey, ")")).status());
    return conn.Exec(kSchema).status();
  });
}

absl::Status PgSessionStore::ForgetPreviousLives() {
  // One process runs under a replica name at a time (a container or pod restarted in place
  // keeps its name and address): rows of this name with another nonce are this replica's
  // previous lives, dead. Ending their leases lets this life take their sessions at once
  // instead of asking itself for a handover or waiting out the lease; the epoch still fences
  // anything such a life might yet write.
  const absl::StatusOr<PgResult> ended = pool_->Take().Exec(
      "DELETE FROM infmem_replicas WHERE left(id, length($1) + 1) = $1 || '/' AND id <> $2 "
      "RETURNING id",
      {PgParam::Text(options_.replica_id), PgParam::Text(owner_)});
  RETURN_IF_ERROR(ended.status());
  for (int i = 0; i < ended->rows(); ++i) {
    LOG(INFO) << "replica " << owner_ << " ended the lease of its previous life "
              << ended->Text(i, 0);
  }
  return absl::OkStatus();
}

absl::Status PgSessionStore::Heartbeat() {
  const absl::Time sent = absl::Now();
  auto conn = heartbeat_pool_->Take();
  absl::StatusOr<PgResult> renewed = conn.Exec(
      "INSERT INTO infmem_replicas (id, address, lease_until) "
      "VALUES ($1, $2, now() + $3 * interval '1 millisecond') "
      "ON CONFLICT (id) DO UPDATE SET address = EXCLUDED.address, "
      "lease_until = EXCLUDED.lease_until",
      {PgParam::Text(owner_), PgParam::Text(options_.advertise_address),
       PgParam::Text(Num(absl::ToInt64Milliseconds(options_.lease)))});
  if (renewed.ok()) {
    // Rows of replicas long gone (crashed, never drained). Deleting one changes nothing for
    // ownership: an owner without a live row is as free to take as one with an expired row.
    absl::StatusOr<PgResult> swept =
        conn.Exec("DELETE FROM infmem_replicas WHERE lease_until < now() - interval '1 hour'");
    if (!swept.ok()) LOG(WARNING) << "removing stale replica rows: " << swept.status();
  }
  absl::MutexLock lock(&mu_);
  if (!renewed.ok()) {
    metrics_.SetLeaseHeld(absl::Now() < lease_valid_until_);
    return renewed.status();
  }
  if (sent >= lease_valid_until_ && !epochs_.empty()) {
    LOG(WARNING) << "this replica's lease lapsed (paused or cut off from the store): dropping "
                 << "its claim on " << epochs_.size() << " sessions";
    epochs_.clear();
  }
  // The database set lease_until from its clock at or after `sent`; expire locally a tenth
  // early, so this replica stops serving from memory before anyone may take over.
  lease_valid_until_ = sent + options_.lease * 0.9;
  metrics_.SetLeaseHeld(true);
  return absl::OkStatus();
}

void PgSessionStore::HeartbeatLoop() {
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), options_.lease / 3);
    if (stopping_) break;
    mu_.Unlock();
    absl::Status status = Heartbeat();
    if (!status.ok()) LOG(WARNING) << "lease heartbeat: " << status;
    mu_.Lock();
  }
}

absl::StatusOr<int64_t> PgSessionStore::EpochOf(const std::string& id) const {
  absl::MutexLock lock(&mu_);
  auto it = epochs_.find(id);
  if (it == epochs_.end()) {
    return absl::UnavailableError(absl::StrCat(
        "session '", id, "' moved to another replica; retry (this call stored nothing)"));
  }
  return it->second;
}

void PgSessionStore::Forget(const std::string& id) {
  absl::MutexLock lock(&mu_);
  epochs_.erase(id);
}

absl::Status PgSessionStore::Fenced(const std::string& id) {
  Forget(id);
  LOG(WARNING) << "session '" << id << "': another replica took it over; this write was refused";
  return absl::UnavailableError(absl::StrCat(
      "session '", id, "' moved to another replica; retry (this call stored nothing)"));
}

absl::Status PgSessionStore::CheckOwned(const std::string& id) const {
  absl::MutexLock lock(&mu_);
  if (absl::Now() >= lease_valid_until_) {
    return absl::UnavailableError("this replica's lease on the cluster store has lapsed");
  }
  if (epochs_.count(id) == 0) {
    return absl::UnavailableError(absl::StrCat("this replica no longer owns session '", id, "'"));
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> PgSessionStore::TakeOwnership(const std::string& id) {
  const absl::Time start = absl::Now();
  bool handed_over = false;
  for (int attempt = 0; attempt < 3; ++attempt) {
    absl::StatusOr<PgResult> taken = pool_->Take().Exec(
        "UPDATE infmem_sessions s SET owner = $2, epoch = epoch + 1, previous_owner = owner "
        "WHERE id = $1 AND (owner IS NULL OR owner = $2 OR NOT EXISTS ("
        "  SELECT 1 FROM infmem_replicas r WHERE r.id = s.owner AND r.lease_until > now())) "
        "RETURNING epoch, previous_owner",
        {PgParam::Text(id), PgParam::Text(owner_)});
    RETURN_IF_ERROR(taken.status());
    if (taken->rows() == 1) {
      ASSIGN_OR_RETURN(const int64_t epoch, taken->Int(0, 0));
      const bool from_other = !taken->IsNull(0, 1) && taken->Text(0, 1) != owner_;
      if (handed_over) {
        metrics_.AddHandoff(/*in=*/true);
      } else if (from_other) {
        metrics_.AddTakeover();
        LOG(INFO) << "took session '" << id << "' over from " << taken->Text(0, 1)
                  << ", whose lease had expired (epoch " << epoch << ")";
      }
      metrics_.ObserveStore("takeover", SecondsSince(start));
      absl::MutexLock lock(&mu_);
      epochs_[id] = epoch;
      return epoch;
    }
    absl::StatusOr<PgResult> holder = pool_->Take().Exec(
        "SELECT s.owner, r.address FROM infmem_sessions s "
        "LEFT JOIN infmem_replicas r ON r.id = s.owner WHERE s.id = $1",
        {PgParam::Text(id)});
    RETURN_IF_ERROR(holder.status());
    if (holder->rows() == 0) {
      return absl::NotFoundError(absl::StrCat("session '", id, "' not found"));
    }
    if (holder->IsNull(0, 1)) continue;  // its owner's lease just ended: try again
    const std::string owner = holder->Text(0, 0), address = holder->Text(0, 1);
    if (!options_.request_handoff) {
      return absl::UnavailableError(absl::StrCat("session '", id, "' is held by replica ", owner));
    }
    absl::Status handoff = options_.request_handoff(address, id);
    if (!handoff.ok()) {
      return absl::UnavailableError(absl::StrCat("session '", id, "' is held by replica ", owner,
                                                 " at ", address, ", which did not hand it over (",
                                                 handoff.message(), "); retry"));
    }
    handed_over = true;
  }
  return absl::UnavailableError(
      absl::StrCat("session '", id, "' is moving between replicas; retry"));
}

absl::Status PgSessionStore::Create(const SessionRecord& record, const InitialState& initial) {
  RETURN_IF_ERROR(ValidateStoredId(record.id));
  auto conn = pool_->Take();
  int64_t written = 0;
  RETURN_IF_ERROR(InTransaction(conn, [&]() -> absl::Status {
    ASSIGN_OR_RETURN(
        PgResult inserted,
        conn.Exec("INSERT INTO infmem_sessions (id, seed, created_unix_ms, owner, epoch, "
                  "snapshot_tokens) VALUES ($1, $2, $3, $4, 1, $5) ON CONFLICT (id) DO NOTHING",
                  {PgParam::Text(record.id), PgParam::Text(Num(record.seed)),
                   PgParam::Text(Num(record.created_unix_ms)), PgParam::Text(owner_),
                   PgParam::Text(Num(initial.snapshot.empty() ? 0 : initial.tokens_seen))}));
    if (inserted.affected() != 1) {
      return absl::AlreadyExistsError(absl::StrCat("session '", record.id, "' already exists"));
    }
    for (size_t off = 0, chunk = 0; off < initial.snapshot.size();
         off += kSnapshotChunkBytes, ++chunk) {
      RETURN_IF_ERROR(
          conn.Exec("INSERT INTO infmem_snapshots (session_id, chunk, data) VALUES ($1, $2, $3)",
                    {PgParam::Text(record.id), PgParam::Text(Num(static_cast<int64_t>(chunk))),
                     PgParam::Binary(initial.snapshot.substr(off, kSnapshotChunkBytes))})
              .status());
    }
    if (!initial.tokens.empty()) {
      RETURN_IF_ERROR(conn.Exec("INSERT INTO infmem_journal (session_id, first_index, tokens, "
                                "epoch) VALUES ($1, $2, $3, 1)",
                                {PgParam::Text(record.id), PgParam::Text(Num(initial.tokens_seen)),
                                 PgParam::Binary(TokenBytes(initial.tokens))})
                          .status());
    }
    written = static_cast<int64_t>(initial.snapshot.size() + 4 * initial.tokens.size());
    return absl::OkStatus();
  }));
  bytes_written_ += written;
  absl::MutexLock lock(&mu_);
  epochs_[record.id] = 1;
  return absl::OkStatus();
}

absl::StatusOr<StoredSession> PgSessionStore::Load(const std::string& id) {
  RETURN_IF_ERROR(ValidateStoredId(id));
  ASSIGN_OR_RETURN(const int64_t epoch, TakeOwnership(id));
  (void)epoch;
  const absl::Time start = absl::Now();
  // This replica owns the session now: no other process can write it, and every write of a
  // former owner committed before the takeover, so these reads see all of it.
  auto conn = pool_->Take();
  ASSIGN_OR_RETURN(PgResult row,
                   conn.Exec("SELECT seed, created_unix_ms, snapshot_tokens, client_seq FROM "
                             "infmem_sessions WHERE id = $1",
                             {PgParam::Text(id)}));
  if (row.rows() != 1) return absl::NotFoundError(absl::StrCat("session '", id, "' not found"));
  StoredSession s;
  s.record.id = id;
  ASSIGN_OR_RETURN(s.record.seed, row.Uint(0, 0));
  ASSIGN_OR_RETURN(s.record.created_unix_ms, row.Int(0, 1));
  ASSIGN_OR_RETURN(const int64_t snapshot_tokens, row.Int(0, 2));
  ASSIGN_OR_RETURN(s.journal.client_seq, row.Uint(0, 3));
  ASSIGN_OR_RETURN(PgResult chunks,
                   conn.Exec("SELECT data FROM infmem_snapshots WHERE session_id = $1 "
                             "ORDER BY chunk",
                             {PgParam::Text(id)}));
  for (int i = 0; i < chunks.rows(); ++i) {
    ASSIGN_OR_RETURN(const std::string bytes, chunks.Bytes(i, 0));
    s.snapshot += bytes;
  }
  if (s.snapshot.empty() && snapshot_tokens != 0) {
    return absl::DataLossError(absl::StrCat("session '", id, "': its snapshot of ", snapshot_tokens,
                                            " tokens is missing"));
  }
  ASSIGN_OR_RETURN(PgResult journal,
                   conn.Exec("SELECT first_index, tokens, generated, prefill_chunk, "
                             "COALESCE(client_seq, 0) FROM infmem_journal WHERE session_id = "
                             "$1 ORDER BY first_index",
                             {PgParam::Text(id)}));
  int64_t next = -1;
  for (int i = 0; i < journal.rows(); ++i) {
    ASSIGN_OR_RETURN(const int64_t first, journal.Int(i, 0));
    ASSIGN_OR_RETURN(const std::string bytes, journal.Bytes(i, 1));
    if (bytes.size() % sizeof(int32_t) != 0 || (next >= 0 && first != next)) {
      return absl::DataLossError(absl::StrCat("session '", id, "': journal row at token ", first,
                                              " does not continue the previous row"));
    }
    if (next < 0) s.journal.first_index = first;
    const size_t old = s.journal.tokens.size();
    s.journal.tokens.resize(old + bytes.size() / sizeof(int32_t));
    std::memcpy(s.journal.tokens.data() + old, bytes.data(), bytes.size());
    next = first + static_cast<int64_t>(bytes.size() / sizeof(int32_t));
    if (!journal.IsNull(i, 2) && !journal.IsNull(i, 3)) {  // a row is one call
      JournalCall call{first, next, {}};
      ASSIGN_OR_RETURN(const int64_t generated, journal.Int(i, 2));
      ASSIGN_OR_RETURN(const int64_t chunk, journal.Int(i, 3));
      if (generated < 0 || generated > next - first || chunk < 1 || chunk > INT32_MAX) {
        return absl::DataLossError(absl::StrCat("session '", id, "': journal row at token ", first,
                                                " has a bad call shape"));
      }
      call.shape = {static_cast<int32_t>(generated), static_cast<int32_t>(chunk)};
      ASSIGN_OR_RETURN(call.client_seq, journal.Uint(i, 4));
      s.journal.calls.push_back(call);
    }
  }
  metrics_.ObserveStore("load", SecondsSince(start));
  return s;
}

absl::StatusOr<SessionStat> PgSessionStore::Stat(const std::string& id) const {
  RETURN_IF_ERROR(ValidateStoredId(id));
  ASSIGN_OR_RETURN(
      PgResult row,
      pool_->Take().Exec(
          "SELECT seed, created_unix_ms, COALESCE((SELECT max(first_index + length(tokens) / 4) "
          "FROM infmem_journal WHERE session_id = $1), snapshot_tokens) FROM infmem_sessions "
          "WHERE id = $1",
          {PgParam::Text(id)}));
  if (row.rows() != 1) return absl::NotFoundError(absl::StrCat("session '", id, "' not found"));
  SessionStat stat;
  stat.record.id = id;
  ASSIGN_OR_RETURN(stat.record.seed, row.Uint(0, 0));
  ASSIGN_OR_RETURN(stat.record.created_unix_ms, row.Int(0, 1));
  ASSIGN_OR_RETURN(stat.tokens, row.Int(0, 2));
  return stat;
}

absl::Status PgSessionStore::Append(const std::string& id, int64_t first_index,
                                    absl::Span<const int32_t> tokens, uint64_t client_seq,
                                    CallShape shape) {
  RETURN_IF_ERROR(ValidateStoredId(id));
  if (tokens.empty() && client_seq == 0) return absl::OkStatus();
  ASSIGN_OR_RETURN(const int64_t epoch, EpochOf(id));
  if (options_.before_guarded_write) options_.before_guarded_write("append", id);
  const absl::Time start = absl::Now();
  // One statement: the UPDATE checks the epoch and locks the session's row until the insert
  // commits, so a takeover either waits for this append (and reads it) or fences it.
  std::vector<PgParam> params = {PgParam::Text(id), PgParam::Text(Num(epoch)),
                                 PgParam::Text(owner_), PgParam::Text(Num(client_seq))};
  const char* guard =
      "UPDATE infmem_sessions SET client_seq = GREATEST(client_seq, $4::numeric) "
      "WHERE id = $1 AND epoch = $2 AND owner = $3 RETURNING id";
  std::string sql = guard;
  if (!tokens.empty()) {
    sql = absl::StrCat("WITH s AS (", guard,
                       ") INSERT INTO infmem_journal (session_id, first_index, tokens, epoch, "
                       "generated, prefill_chunk, client_seq) SELECT id, $5, $6, $2, "
                       "$7::integer, $8::integer, $4::numeric FROM s");
    params.push_back(PgParam::Text(Num(first_index)));
    params.push_back(PgParam::Binary(TokenBytes(tokens)));
    const bool known = shape.prefill_chunk > 0;
    params.push_back(known ? PgParam::Text(Num(static_cast<int64_t>(shape.generated)))
                           : PgParam::Null());
    params.push_back(known ? PgParam::Text(Num(static_cast<int64_t>(shape.prefill_chunk)))
                           : PgParam::Null());
  }
  ASSIGN_OR_RETURN(PgResult done, pool_->Take().Exec(sql, params));
  metrics_.ObserveStore("append", SecondsSince(start));
  if (done.affected() != 1) return Fenced(id);
  bytes_written_ += static_cast<int64_t>(4 * tokens.size());
  return absl::OkStatus();
}

absl::Status PgSessionStore::WriteSnapshot(const std::string& id, int64_t tokens_seen,
                                           const std::string& state) {
  RETURN_IF_ERROR(ValidateStoredId(id));
  ASSIGN_OR_RETURN(const int64_t epoch, EpochOf(id));
  if (options_.before_guarded_write) options_.before_guarded_write("snapshot", id);
  const absl::Time start = absl::Now();
  auto conn = pool_->Take();
  bool fenced = false;
  const absl::Status written = InTransaction(conn, [&]() -> absl::Status {
    ASSIGN_OR_RETURN(
        PgResult mine,
        conn.Exec("SELECT 1 FROM infmem_sessions WHERE id = $1 AND epoch = $2 AND "
                  "owner = $3 FOR UPDATE",
                  {PgParam::Text(id), PgParam::Text(Num(epoch)), PgParam::Text(owner_)}));
    if (mine.rows() != 1) {
      fenced = true;
      return absl::AbortedError("fenced");
    }
    RETURN_IF_ERROR(
        conn.Exec("DELETE FROM infmem_snapshots WHERE session_id = $1", {PgParam::Text(id)})
            .status());
    for (size_t off = 0, chunk = 0; off < state.size(); off += kSnapshotChunkBytes, ++chunk) {
      RETURN_IF_ERROR(
          conn.Exec("INSERT INTO infmem_snapshots (session_id, chunk, data) VALUES ($1, $2, $3)",
                    {PgParam::Text(id), PgParam::Text(Num(static_cast<int64_t>(chunk))),
                     PgParam::Binary(state.substr(off, kSnapshotChunkBytes))})
              .status());
    }
    RETURN_IF_ERROR(conn.Exec("UPDATE infmem_sessions SET snapshot_tokens = $2 WHERE id = $1",
                              {PgParam::Text(id), PgParam::Text(Num(tokens_seen))})
                        .status());
    // Rows wholly before the snapshot are covered by it; a row straddling it stays.
    return conn
        .Exec(
            "DELETE FROM infmem_journal WHERE session_id = $1 AND "
            "first_index + length(tokens) / 4 <= $2",
            {PgParam::Text(id), PgParam::Text(Num(tokens_seen))})
        .status();
  });
  // A fenced write rolled back: UNAVAILABLE naming the session, as for an append.
  if (fenced) return Fenced(id);
  RETURN_IF_ERROR(written);
  bytes_written_ += static_cast<int64_t>(state.size());
  metrics_.ObserveStore("snapshot", SecondsSince(start));
  return absl::OkStatus();
}

void PgSessionStore::Release(const std::string& id) {
  int64_t epoch = 0;
  {
    absl::MutexLock lock(&mu_);
    auto it = epochs_.find(id);
    if (it == epochs_.end()) return;
    epoch = it->second;
    epochs_.erase(it);
  }
  if (options_.before_guarded_write) options_.before_guarded_write("release", id);
  absl::StatusOr<PgResult> freed = pool_->Take().Exec(
      "UPDATE infmem_sessions SET owner = NULL WHERE id = $1 AND epoch = $2 AND owner = $3",
      {PgParam::Text(id), PgParam::Text(Num(epoch)), PgParam::Text(owner_)});
  // When this fails the session stays ours until this replica's lease ends.
  if (!freed.ok()) LOG(WARNING) << "releasing session '" << id << "': " << freed.status();
}

absl::Status PgSessionStore::Delete(const std::string& id) {
  RETURN_IF_ERROR(ValidateStoredId(id));
  ASSIGN_OR_RETURN(const int64_t epoch, TakeOwnership(id));
  if (options_.before_guarded_write) options_.before_guarded_write("delete", id);
  ASSIGN_OR_RETURN(
      PgResult gone,
      pool_->Take().Exec("DELETE FROM infmem_sessions WHERE id = $1 AND epoch = $2 AND owner = $3",
                         {PgParam::Text(id), PgParam::Text(Num(epoch)), PgParam::Text(owner_)}));
  if (gone.affected() != 1) return Fenced(id);
  Forget(id);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> PgSessionStore::List() const {
  ASSIGN_OR_RETURN(PgResult rows,
                   pool_->Take().Exec("SELECT id FROM infmem_sessions ORDER BY id COLLATE \"C\""));
  std::vector<std::string> ids;
  ids.reserve(static_cast<size_t>(rows.rows()));
  for (int i = 0; i < rows.rows(); ++i) ids.push_back(rows.Text(i, 0));
  return ids;
}

}  // namespace infmem::store
