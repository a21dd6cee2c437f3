// FileSystem: the one seam through which the local store (journal, snapshots, records,
// compaction, creation and deletion of sessions) touches the disk. Production uses the POSIX
// file system (Default()); tests substitute one that records every write, sync, rename and
// directory sync, to enumerate the states a power loss may leave (tests/testing/
// crash_file_system.h) or to fail I/O on demand. Errors name the path.
//
// Durability contract, as POSIX gives it: appended bytes are durable after AppendFile::Sync;
// a created, renamed or removed entry is durable after SyncDir of its directory.
#ifndef INFMEM_SERVER_STORE_FILE_SYSTEM_H_
#define INFMEM_SERVER_STORE_FILE_SYSTEM_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace infmem::store {

// A file open for appending. Not thread-safe.
class AppendFile {
 public:
  virtual ~AppendFile() = default;
  // Appends `data`; on an error some of it may have been written (the caller truncates).
  virtual absl::Status Append(absl::string_view data) = 0;
  // Cuts the file to `size` bytes.
  virtual absl::Status Truncate(int64_t size) = 0;
  // Makes the file's bytes durable (fdatasync).
  virtual absl::Status Sync() = 0;
  // The file's size.
  virtual int64_t Size() const = 0;
};

struct DirEntry {
  std::string name;
  bool is_directory = false;
};

class FileSystem {
 public:
  // The POSIX file system.
  static FileSystem& Default();
  virtual ~FileSystem() = default;

  // Opens `path` for appending, creating it (empty) when missing; `*created` says which.
  virtual absl::StatusOr<std::unique_ptr<AppendFile>> OpenAppend(const std::string& path,
                                                                 bool* created) = 0;
  // Reads the whole of `path`: NotFound when missing.
  virtual absl::StatusOr<std::string> ReadFile(const std::string& path) = 0;
  // Renames `from` to `to`, replacing a file `to` (or an empty directory): NotFound when `from`
  // is missing, AlreadyExists when `to` is a directory that is not empty.
  virtual absl::Status Rename(const std::string& from, const std::string& to) = 0;
  // Removes the file `path`; a missing one is not an error.
  virtual absl::Status Remove(const std::string& path) = 0;
  // Removes `path` and everything under it; a missing one is not an error.
  virtual absl::Status RemoveAll(const std::string& path) = 0;
  // Creates the directory `path`: AlreadyExists when something is there.
  virtual absl::Status CreateDir(const std::string& path) = 0;
  // Creates `path` and its missing parents.
  virtual absl::Status CreateDirs(const std::string& path) = 0;
  // Makes the entries of directory `dir` (creations, renames, removals) durable.
  virtual absl::Status SyncDir(const std::string& dir) = 0;
  virtual bool IsDirectory(const std::string& path) = 0;
  virtual bool Exists(const std::string& path) = 0;
  // The entries of directory `dir`, in no particular order.
  virtual absl::StatusOr<std::vector<DirEntry>> List(const std::string& dir) = 0;
};

// Replaces `path` with `contents` through `fs`: a temporary file, synced, renamed over `path`,
// then the directory synced. After a crash `path` holds the old or the new contents.
absl::Status WriteFileDurably(FileSystem& fs, const std::string& path, absl::string_view contents);

// The directory part of `path` ("." for a bare name).
std::string ParentDir(const std::string& path);

}  // namespace infmem::store

#endif  // INFMEM_SERVER_STORE_FILE_SYSTEM_H_
