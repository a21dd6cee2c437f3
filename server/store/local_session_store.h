// LocalSessionStore: sessions in a directory on one machine (the single-node default).
//
// Layout under the root directory, one directory per session:
//   <id>/session.json        {"format_version": 1, "seed": "<u64>", "created_unix_ms": N}
//   <id>/state.safetensors   newest snapshot (Model::SerializeState), absent until the first
//   <id>/journal             token journal (journal.h): tokens appended since the snapshot
// Creation and deletion are atomic (a directory renamed into or out of place), snapshots
// replace the old one atomically (file_system.h), and an Append is durable when it returns.
// A torn journal tail is cut. All disk work goes through one FileSystem (the POSIX one, or a
// test's). Thread-safety as SessionStore.
#ifndef INFMEM_SERVER_STORE_LOCAL_SESSION_STORE_H_
#define INFMEM_SERVER_STORE_LOCAL_SESSION_STORE_H_

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/store/file_system.h"
#include "server/store/session_store.h"

namespace infmem::store {

class LocalSessionStore final : public SessionStore {
 public:
  // Opens the store at `root`, creating the directory if missing, and removes leftovers of
  // interrupted creations and deletions. `fs` (null: FileSystem::Default()) must outlive it.
  static absl::StatusOr<std::unique_ptr<LocalSessionStore>> Open(const std::string& root,
                                                                 FileSystem* fs = nullptr);
  ~LocalSessionStore() override;

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
  int64_t bytes_written() const override { return bytes_written_.load(); }

 private:
  LocalSessionStore(std::string root, FileSystem& fs);
  std::string Dir(const std::string& id) const { return root_ + "/" + id; }
  // Returns the open journal writer of `id`, opening it (and cutting a torn tail) if needed.
  absl::StatusOr<JournalWriter*> Writer(const std::string& id);

  const std::string root_;
  FileSystem& fs_;
  std::atomic<int64_t> bytes_written_{0};
  std::atomic<uint64_t> nonce_{0};
  absl::Mutex mu_;  // guards the map only; file work happens outside it
  std::map<std::string, std::unique_ptr<JournalWriter>> writers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace infmem::store

#endif  // INFMEM_SERVER_STORE_LOCAL_SESSION_STORE_H_
