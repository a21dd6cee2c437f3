#include "server/session/session_manager.h"

#include <glog/logging.h>

#include <algorithm>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "server/common/status_macros.h"
#include "server/session/journal_replay.h"

namespace infmem::session {
namespace {

double SecondsSince(absl::Time start) { return absl::ToDoubleSeconds(absl::Now() - start); }

// Prefixes `status`'s message with the session it concerns, keeping its code.
absl::Status About(const std::string& id, const absl::Status& status) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat("session '", id, "': ", status.message()));
}

}  // namespace

SessionLease& SessionLease::operator=(SessionLease&& other) noexcept {
  if (this != &other) {
    Reset();
    manager_ = std::exchange(other.manager_, nullptr);
    session_ = std::move(other.session_);
  }
  return *this;
}

void SessionLease::Reset() {
  if (session_ != nullptr && manager_ != nullptr) manager_->Release(session_->record.id);
  session_.reset();
  manager_ = nullptr;
}

absl::StatusOr<std::unique_ptr<SessionManager>> SessionManager::Create(
    const model::Model& model, store::SessionStore& store, metrics::ServerMetrics& metrics,
    SessionManagerOptions options) {
  if (!options.now_unix_ms) {
    options.now_unix_ms = [] { return absl::ToUnixMillis(absl::Now()); };
  }
  if (!options.random_u64) {
    auto gen = std::make_shared<absl::BitGen>();
    auto mu = std::make_shared<absl::Mutex>();
    options.random_u64 = [gen, mu] {
      absl::MutexLock lock(mu.get());
      return absl::Uniform<uint64_t>(*gen);
    };
  }
  ASSIGN_OR_RETURN(const std::vector<std::string> ids, store.List());
  return std::unique_ptr<SessionManager>(
      new SessionManager(model, store, metrics, std::move(options), ids));
}

SessionManager::SessionManager(const model::Model& model, store::SessionStore& store,
                               metrics::ServerMetrics& metrics, SessionManagerOptions options,
                               const std::vector<std::string>& stored)
    : model_(model),
      store_(store),
      metrics_(metrics),
      options_(std::move(options)),
      residency_(options_.max_resident_sessions, options_.max_resident_bytes) {
  absl::MutexLock lock(&mu_);
  for (const std::string& key : stored) CountStored(key, 1);
  UpdateGauges();
}

std::string SessionManager::TenantOf(const std::string& key) {
  const size_t dot = key.find('.');
  return dot == std::string::npos ? "" : key.substr(0, dot);
}

void SessionManager::CountStored(const std::string& key, int delta) {
  stored_ += delta;
  stored_by_tenant_[TenantOf(key)] += delta;
}

absl::Status SessionManager::ReserveNew(const std::string& id) {
  if (entries_.count(id) != 0) {
    return absl::AlreadyExistsError(absl::StrCat("session '", id, "' already exists"));
  }
  if (options_.max_stored_sessions > 0 && stored_ >= options_.max_stored_sessions) {
    return absl::ResourceExhaustedError(absl::StrCat("the server already stores its limit of ",
                                                     options_.max_stored_sessions,
                                                     " sessions; delete some first"));
  }
  const std::string tenant = TenantOf(id);
  if (!tenant.empty() && options_.max_stored_per_tenant > 0 &&
      stored_by_tenant_[tenant] >= options_.max_stored_per_tenant) {
    return absl::ResourceExhaustedError(absl::StrCat("this tenant already stores its limit of ",
                                                     options_.max_stored_per_tenant,
                                                     " sessions; delete some first"));
  }
  Entry& entry = entries_[id];
  entry.busy = true;
  CountStored(id, 1);
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<Session>> SessionManager::CreateReserved(
    const std::string& id, store::SessionRecord record, std::unique_ptr<model::SessionState> state,
    std::vector<int32_t> pending, std::string snapshot) {
  const int64_t seen = state->tokens_seen();
  const bool has_snapshot = !snapshot.empty();
  absl::Status status =
      store_.Create(record, store::InitialState{std::move(snapshot), seen, pending});
  absl::MutexLock lock(&mu_);
  if (!status.ok()) {
    entries_.erase(id);
    CountStored(id, -1);
    evicted_.SignalAll();
    return status;
  }
  auto session = std::make_shared<Session>(std::move(record), std::move(state));
  session->pending = std::move(pending);
  session->journaled_tokens = session->tokens();
  session->snapshot_tokens = has_snapshot ? seen : 0;
  Entry& entry = entries_[id];
  entry.session = session;
  entry.tokens = session->journaled_tokens;
  entry.updated_unix_ms = options_.now_unix_ms();
  residency_.Touch(id, session->state->ByteSize());
  residency_.Pin(id);
  UpdateGauges();
  return session;
}

absl::StatusOr<SessionLease> SessionManager::CreateSession(const std::string& id, uint64_t seed) {
  RETURN_IF_ERROR(store::ValidateStoredId(id));
  while (seed == 0) seed = options_.random_u64();
  {
    absl::MutexLock lock(&mu_);
    RETURN_IF_ERROR(ReserveNew(id));
  }
  store::SessionRecord record{id, seed, options_.now_unix_ms()};
  std::vector<int32_t> pending;
  if (options_.bos_id >= 0) pending.push_back(options_.bos_id);
  ASSIGN_OR_RETURN(auto session, CreateReserved(id, std::move(record), model_.NewSession(seed),
                                                std::move(pending), ""));
  return SessionLease(this, std::move(session));
}

absl::StatusOr<std::shared_ptr<Session>> SessionManager::Load(const std::string& id) {
  ASSIGN_OR_RETURN(store::StoredSession stored, store_.Load(id));
  std::unique_ptr<model::SessionState> state;
  if (stored.snapshot.empty()) {
    state = model_.NewSession(stored.record.seed);
  } else {
    auto parsed = model_.DeserializeState(std::move(stored.snapshot));
    if (!parsed.ok()) return About(id, parsed.status());
    state = *std::move(parsed);
  }
  const int64_t seen = state->tokens_seen();
  const store::JournalContents& journal = stored.journal;
  const int64_t end = journal.first_index + static_cast<int64_t>(journal.tokens.size());
  std::vector<int32_t> pending;
  if (!journal.tokens.empty()) {
    if (journal.first_index > seen || end < seen) {
      return absl::DataLossError(absl::StrCat("session '", id, "': its journal holds tokens ",
                                              journal.first_index, " to ", end,
                                              ", which do not continue its snapshot of ", seen));
    }
    absl::StatusOr<Replayed> replayed = ReplayJournal(model_, *state, journal);
    if (!replayed.ok()) {
      return absl::InternalError(absl::StrCat("session '", id,
                                              "': replaying its journal from token ", seen, ": ",
                                              replayed.status().message()));
    }
    metrics_.AddReplayedTokens(replayed->fed);
    pending = std::move(replayed->pending);
  }
  auto session = std::make_shared<Session>(std::move(stored.record), std::move(state));
  session->pending = std::move(pending);
  session->journaled_tokens = session->tokens();
  session->snapshot_tokens = seen;
  session->client_seq = journal.client_seq;
  if (!journal.calls.empty() && journal.client_seq != 0) {
    const store::JournalCall& last = journal.calls.back();
    if (last.end == end && last.client_seq == journal.client_seq) {
      session->last_call_seq = last.client_seq;
      session->last_call_generated.assign(journal.tokens.end() - last.shape.generated,
                                          journal.tokens.end());
    }
  }
  return session;
}

absl::StatusOr<SessionLease> SessionManager::Acquire(const std::string& id) {
  RETURN_IF_ERROR(store::ValidateStoredId(id));
  {
    absl::MutexLock lock(&mu_);
    for (;;) {
      auto it = entries_.find(id);
      if (it == entries_.end()) break;
      Entry& entry = it->second;
      if (entry.evicting) {
        evicted_.Wait(&mu_);
        continue;
      }
      if (entry.busy) {
        return absl::AbortedError(absl::StrCat("session '", id, "' is busy in another call"));
      }
      if (absl::Status owned = store_.CheckOwned(id); !owned.ok()) {
        // Another replica may have taken it meanwhile: this copy may be stale. Drop it unsaved
        // and load what the store holds (taking the session back if it is free).
        LOG(WARNING) << "dropping resident session '" << id << "': " << owned;
        residency_.Remove(id);
        entries_.erase(it);
        UpdateGauges();
        break;
      }
      entry.busy = true;
      entry.updated_unix_ms = options_.now_unix_ms();
      residency_.Touch(id, entry.session->state->ByteSize());
      residency_.Pin(id);
      return SessionLease(this, entry.session);
    }
    entries_[id].busy = true;  // loading: other calls see it busy
  }
  const absl::Time start = absl::Now();
  absl::StatusOr<std::shared_ptr<Session>> loaded = Load(id);
  absl::MutexLock lock(&mu_);
  if (!loaded.ok()) {
    entries_.erase(id);
    evicted_.SignalAll();
    // Not found is the caller's mistake, unavailable a session another replica still holds
    // (cluster mode, retried by the client): neither is this server's error.
    const absl::StatusCode code = loaded.status().code();
    if (code != absl::StatusCode::kNotFound && code != absl::StatusCode::kUnavailable) {
      LOG(ERROR) << "loading session '" << id << "': " << loaded.status();
    }
    return loaded.status();
  }
  metrics_.ObserveSessionLoad(SecondsSince(start));
  Entry& entry = entries_[id];
  entry.session = *loaded;
  entry.tokens = entry.session->journaled_tokens;
  entry.updated_unix_ms = options_.now_unix_ms();
  residency_.Touch(id, entry.session->state->ByteSize());
  residency_.Pin(id);
  UpdateGauges();
  return SessionLease(this, entry.session);
}

absl::Status SessionManager::Commit(SessionLease& lease, absl::Span<const int32_t> tokens,
                                    uint64_t client_seq) {
  Session& s = lease.session();
  const std::string& id = s.record.id;
  absl::Status status;
  store::CallShape shape;
  if (s.journaled_tokens + static_cast<int64_t>(tokens.size()) != s.tokens()) {
    status = absl::InternalError(absl::StrCat("session '", id, "' holds ", s.tokens(),
                                              " tokens but ", s.journaled_tokens, " + ",
                                              tokens.size(), " are to be journaled"));
  } else if (!tokens.empty() || client_seq > s.client_seq) {
    // The tokens of exactly one scheduler call keep its shape (a bit-exact replay); others
    // are journaled plain, and a replay leaves them pending for the next call to feed.
    if (s.unjournaled_calls.size() == 1 &&
        s.unjournaled_calls[0].tokens == static_cast<int64_t>(tokens.size())) {
      shape = s.unjournaled_calls[0].shape;
    }
    const absl::Time start = absl::Now();
    status = store_.Append(id, s.journaled_tokens, tokens, client_seq, shape);
    metrics_.ObserveJournalSync(SecondsSince(start));
  }
  if (!status.ok()) {
    LOG(ERROR) << "journaling session '" << id << "': " << status;
    absl::MutexLock lock(&mu_);
    entries_[id].broken = true;
    return status;
  }
  s.journaled_tokens += static_cast<int64_t>(tokens.size());
  s.client_seq = std::max(s.client_seq, client_seq);
  if (client_seq > s.last_call_seq) {
    s.last_call_seq = client_seq;
    s.last_call_generated.assign(tokens.end() - shape.generated, tokens.end());
  }
  s.unjournaled_calls.clear();
  {
    absl::MutexLock lock(&mu_);
    entries_[id].tokens = s.journaled_tokens;
  }
  if (s.state->tokens_seen() - s.snapshot_tokens >= options_.snapshot_every_tokens) {
    // The journal already holds every token: a failed snapshot costs replay time, not data.
    absl::Status snap = SnapshotIfBehind(id, s);
    if (!snap.ok()) LOG(WARNING) << "snapshot of session '" << id << "': " << snap;
  }
  return absl::OkStatus();
}

absl::Status SessionManager::Snapshot(SessionLease& lease) {
  Session& s = lease.session();
  return SnapshotIfBehind(s.record.id, s);
}

void SessionManager::Discard(SessionLease& lease) {
  absl::MutexLock lock(&mu_);
  entries_[lease.session().record.id].broken = true;
}

absl::Status SessionManager::SnapshotIfBehind(const std::string& id, Session& session) {
  const int64_t seen = session.state->tokens_seen();
  if (seen <= session.snapshot_tokens) return absl::OkStatus();
  const absl::Time start = absl::Now();
  ASSIGN_OR_RETURN(const std::string bytes, model_.SerializeState(*session.state));
  RETURN_IF_ERROR(store_.WriteSnapshot(id, seen, bytes));
  session.snapshot_tokens = seen;
  metrics_.ObserveSessionSave(SecondsSince(start));
  return absl::OkStatus();
}

void SessionManager::Release(const std::string& id) {
  bool dropped = false;
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return;
    it->second.busy = false;
    if (residency_.Contains(id)) residency_.Unpin(id);
    if (it->second.broken) {
      residency_.Remove(id);
      entries_.erase(it);
      dropped = true;
      UpdateGauges();
    }
  }
  if (dropped) store_.Release(id);
  EvictOverBudget();
}

void SessionManager::EvictOverBudget() {
  std::vector<std::pair<std::string, std::shared_ptr<Session>>> victims;
  {
    absl::MutexLock lock(&mu_);
    for (const std::string& id : residency_.Victims()) {
      Entry& entry = entries_[id];
      if (entry.busy || entry.session == nullptr) continue;
      entry.busy = true;
      entry.evicting = true;
      victims.emplace_back(id, entry.session);
    }
  }
  if (victims.empty()) return;
  for (auto& [id, session] : victims) {
    absl::Status status = SnapshotIfBehind(id, *session);
    // The journal holds every token, so the session stays recoverable without the snapshot.
    if (!status.ok()) LOG(WARNING) << "snapshot of evicted session '" << id << "': " << status;
    store_.Release(id);
  }
  absl::MutexLock lock(&mu_);
  for (auto& [id, session] : victims) {
    residency_.Remove(id);
    entries_.erase(id);
  }
  metrics_.AddSessionEvictions(static_cast<int64_t>(victims.size()));
  UpdateGauges();
  evicted_.SignalAll();
}

absl::StatusOr<SessionInfo> SessionManager::Fork(SessionLease& source, const std::string& id) {
  const Session& src = source.session();
  RETURN_IF_ERROR(store::ValidateStoredId(id));
  std::unique_ptr<model::SessionState> clone = model_.Clone(*src.state);
  ASSIGN_OR_RETURN(std::string snapshot, model_.SerializeState(*clone));
  {
    absl::MutexLock lock(&mu_);
    RETURN_IF_ERROR(ReserveNew(id));
  }
  store::SessionRecord record{id, src.record.seed, options_.now_unix_ms()};
  ASSIGN_OR_RETURN(auto session, CreateReserved(id, std::move(record), std::move(clone),
                                                src.pending, std::move(snapshot)));
  SessionLease lease(this, std::move(session));
  absl::MutexLock lock(&mu_);
  return InfoLocked(id, entries_[id]);
}

absl::StatusOr<SessionImage> SessionManager::Export(SessionLease& lease) {
  const Session& s = lease.session();
  SessionImage image;
  ASSIGN_OR_RETURN(image.snapshot, model_.SerializeState(*s.state));
  image.pending = s.pending;
  absl::MutexLock lock(&mu_);
  image.info = InfoLocked(s.record.id, entries_[s.record.id]);
  return image;
}

absl::StatusOr<SessionInfo> SessionManager::Import(const std::string& requested_id,
                                                   SessionImage image) {
  const std::string id = requested_id.empty() ? image.info.id : requested_id;
  RETURN_IF_ERROR(store::ValidateStoredId(id));
  auto state = model_.DeserializeState(image.snapshot);
  if (!state.ok()) {
    return absl::Status(state.status().code(),
                        absl::StrCat("imported state: ", state.status().message()));
  }
  const int vocab = model_.config().vocab_size;
  for (size_t i = 0; i < image.pending.size(); ++i) {
    if (image.pending[i] < 0 || image.pending[i] >= vocab) {
      return absl::InvalidArgumentError(absl::StrCat(
          "imported pending token ", i, " is ", image.pending[i], ", outside [0, ", vocab, ")"));
    }
  }
  {
    absl::MutexLock lock(&mu_);
    RETURN_IF_ERROR(ReserveNew(id));
  }
  store::SessionRecord record{id, (*state)->seed(), options_.now_unix_ms()};
  ASSIGN_OR_RETURN(auto session,
                   CreateReserved(id, std::move(record), *std::move(state),
                                  std::move(image.pending), std::move(image.snapshot)));
  SessionLease lease(this, std::move(session));
  absl::MutexLock lock(&mu_);
  return InfoLocked(id, entries_[id]);
}

absl::Status SessionManager::Delete(const std::string& id) {
  RETURN_IF_ERROR(store::ValidateStoredId(id));
  {
    absl::MutexLock lock(&mu_);
    while (entries_.count(id) != 0 && entries_[id].evicting) evicted_.Wait(&mu_);
    Entry& entry = entries_[id];  // a placeholder when not resident: no call may load it now
    if (entry.busy) {
      return absl::AbortedError(absl::StrCat("session '", id, "' is busy in another call"));
    }
    entry.busy = true;
  }
  const absl::Status status = store_.Delete(id);
  absl::MutexLock lock(&mu_);
  residency_.Remove(id);
  entries_.erase(id);
  if (status.ok()) CountStored(id, -1);
  UpdateGauges();
  evicted_.SignalAll();
  return status;
}

SessionInfo SessionManager::InfoLocked(const std::string& id, const Entry& entry) const {
  SessionInfo info;
  info.id = id;
  info.tokens = entry.tokens;
  info.seed = entry.session->record.seed;
  info.created_unix_ms = entry.session->record.created_unix_ms;
  info.updated_unix_ms = entry.updated_unix_ms;
  info.resident = true;
  return info;
}

absl::StatusOr<SessionInfo> SessionManager::Get(const std::string& id) {
  RETURN_IF_ERROR(store::ValidateStoredId(id));
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(id);
    // A resident copy this replica may no longer own (cluster) is not the truth: ask the store.
    if (it != entries_.end() && it->second.session != nullptr && store_.CheckOwned(id).ok()) {
      return InfoLocked(id, it->second);
    }
  }
  ASSIGN_OR_RETURN(const store::SessionStat stat, store_.Stat(id));
  SessionInfo info;
  info.id = id;
  info.tokens = stat.tokens;
  info.seed = stat.record.seed;
  info.created_unix_ms = stat.record.created_unix_ms;
  return info;
}

absl::StatusOr<std::vector<SessionInfo>> SessionManager::List(const std::string& prefix,
                                                              const std::string& after,
                                                              int page_size, bool* more) {
  ASSIGN_OR_RETURN(const std::vector<std::string> ids, store_.List());
  std::vector<SessionInfo> page;
  *more = false;
  for (auto it = std::upper_bound(ids.begin(), ids.end(), after); it != ids.end(); ++it) {
    const bool mine = prefix.empty() ? it->find('.') == std::string::npos
                                     : it->compare(0, prefix.size(), prefix) == 0;
    if (!mine) continue;
    if (static_cast<int>(page.size()) == page_size) {
      *more = true;
      break;
    }
    absl::StatusOr<SessionInfo> info = Get(*it);
    if (info.ok()) {
      page.push_back(*std::move(info));
    } else if (info.status().code() != absl::StatusCode::kNotFound) {
      // A corrupt session stays listed (so it can be found and deleted); its use says why.
      LOG(WARNING) << "listing session '" << *it << "': " << info.status();
      page.push_back(SessionInfo{*it});
    }
  }
  return page;
}

absl::Status SessionManager::Handoff(const std::string& id, absl::Time deadline) {
  RETURN_IF_ERROR(store::ValidateStoredId(id));
  std::shared_ptr<Session> session;
  {
    absl::MutexLock lock(&mu_);
    for (;;) {
      auto it = entries_.find(id);
      if (it == entries_.end()) break;  // not resident: only its ownership, if any, to drop
      Entry& entry = it->second;
      if (!entry.busy && entry.session != nullptr) {
        entry.busy = true;
        entry.evicting = true;  // calls that arrive now wait, then load from the store
        session = entry.session;
        break;
      }
      if (absl::Now() >= deadline) {
        return absl::UnavailableError(absl::StrCat(
            "session '", id, "' is still in a call on this replica; retry the handover"));
      }
      // Releasing a call's lease does not signal: poll.
      evicted_.WaitWithDeadline(&mu_, std::min(deadline, absl::Now() + absl::Milliseconds(20)));
    }
  }
  if (session == nullptr) {
    store_.Release(id);
    return absl::OkStatus();
  }
  absl::Status status = SnapshotIfBehind(id, *session);
  // The journal holds every token, so the session stays recoverable without the snapshot.
  if (!status.ok()) LOG(WARNING) << "snapshot of handed-over session '" << id << "': " << status;
  store_.Release(id);
  metrics_.AddHandoff(/*in=*/false);
  absl::MutexLock lock(&mu_);
  residency_.Remove(id);
  entries_.erase(id);
  UpdateGauges();
  evicted_.SignalAll();
  return absl::OkStatus();
}

void SessionManager::ReleaseAll() {
  std::vector<std::pair<std::string, std::shared_ptr<Session>>> idle;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [id, entry] : entries_) {
      if (entry.busy || entry.session == nullptr) continue;
      entry.busy = true;
      entry.evicting = true;
      idle.emplace_back(id, entry.session);
    }
  }
  for (auto& [id, session] : idle) {
    if (absl::Status status = SnapshotIfBehind(id, *session); !status.ok()) {
      LOG(WARNING) << "snapshot of session '" << id << "': " << status;
    }
    store_.Release(id);
  }
  absl::MutexLock lock(&mu_);
  for (auto& [id, session] : idle) {
    residency_.Remove(id);
    entries_.erase(id);
  }
  UpdateGauges();
  evicted_.SignalAll();
}

int64_t SessionManager::resident_sessions() const {
  absl::MutexLock lock(&mu_);
  return residency_.sessions();
}

void SessionManager::UpdateGauges() {
  metrics_.SetSessionsResident(residency_.sessions());
  metrics_.SetSessionStateBytes(residency_.bytes());
  metrics_.SetSessionsStored(stored_);
}

}  // namespace infmem::session
