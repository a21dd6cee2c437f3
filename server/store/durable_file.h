// Crash-safe file replacement: write a temporary file, fsync it, rename it over the target,
// fsync the directory. After a crash the target holds either the old or the new contents,
// never a mix. Stateless; thread-safe for different targets.
#ifndef INFMEM_SERVER_STORE_DURABLE_FILE_H_
#define INFMEM_SERVER_STORE_DURABLE_FILE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace infmem::store {

// Replaces `path` with `contents` durably (see above). Errors name the path.
absl::Status WriteFileDurably(const std::string& path, absl::string_view contents);

// Makes the entries of directory `dir` (creations, renames, removals) durable.
absl::Status SyncDirectory(const std::string& dir);

}  // namespace infmem::store

#endif  // INFMEM_SERVER_STORE_DURABLE_FILE_H_
