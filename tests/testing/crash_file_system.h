// CrashFileSystem: an in-memory store::FileSystem that keeps, beside what a reader sees, what
// a power loss would leave, the POSIX way: a file's bytes are durable once synced (appended
// bytes beyond that may be lost or torn at any byte), and a created, renamed or removed entry
// once its directory is synced. After each operation that changes anything it records a
// checkpoint; CrashStates(checkpoint) enumerates the disk states a power loss at that point
// may leave, each as a fresh CrashFileSystem on which recovery code runs.
//
// Model of the unsynced namespace operations: they reach the disk in the order they were made
// (any prefix of them survives), as in ext4's and XFS's metadata journals; POSIX allows any
// subset, which this does not enumerate. Per state, at most one file is torn inside its
// unsynced bytes (the others keep all or none of theirs). Not thread-safe.
//
// Fault injection: FailNext(op, status) makes the next call of that kind fail with `status`
// (after writing half of an Append's bytes, as a full disk would).
#ifndef INFMEM_TESTS_TESTING_CRASH_FILE_SYSTEM_H_
#define INFMEM_TESTS_TESTING_CRASH_FILE_SYSTEM_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "server/store/file_system.h"

namespace infmem::testing {

class CrashFileSystem : public store::FileSystem {
 public:
  enum class Op { kAppend, kSync, kRename, kSyncDir };

  CrashFileSystem();

  // The number of checkpoints so far (one per change; checkpoint 0 is the empty disk).
  int checkpoints() const { return static_cast<int>(history_.size()); }
  // The disk states a power loss right after checkpoint `k` may leave.
  std::vector<std::unique_ptr<CrashFileSystem>> CrashStates(int k) const;
  // Fails the next operation of kind `op` with `status`.
  void FailNext(Op op, absl::Status status);

  absl::StatusOr<std::unique_ptr<store::AppendFile>> OpenAppend(const std::string& path,
                                                                bool* created) override;
  absl::StatusOr<std::string> ReadFile(const std::string& path) override;
  absl::Status Rename(const std::string& from, const std::string& to) override;
  absl::Status Remove(const std::string& path) override;
  absl::Status RemoveAll(const std::string& path) override;
  absl::Status CreateDir(const std::string& path) override;
  absl::Status CreateDirs(const std::string& path) override;
  absl::Status SyncDir(const std::string& dir) override;
  bool IsDirectory(const std::string& path) override;
  bool Exists(const std::string& path) override;
  absl::StatusOr<std::vector<store::DirEntry>> List(const std::string& dir) override;

 private:
  class File;
  struct Inode {
    bool dir = false;
    std::string data;    // what a reader sees
    std::string synced;  // what a power loss keeps for sure
  };
  using Names = std::map<std::string, int>;  // path -> inode
  // A namespace change: `path` (and everything under it) now names `inode` at `to` (a
  // rename), or is gone (to empty, inode -1), or is created (from empty).
  struct Change {
    std::string from, to;
    int inode = -1;
    std::string dir;  // the directory whose sync makes it durable (of `to`, else of `from`)
    std::string from_dir;
  };
  struct State {
    std::vector<Inode> inodes;
    Names names, durable;
    std::vector<Change> pending;
  };

  static void Apply(Names& names, const Change& change);
  absl::Status Check(Op op);
  void Record() { history_.push_back(state_); }
  void Change_(Change change);

  State state_;
  std::vector<State> history_;
  std::map<Op, absl::Status> failures_;
};

}  // namespace infmem::testing

#endif  // INFMEM_TESTS_TESTING_CRASH_FILE_SYSTEM_H_
