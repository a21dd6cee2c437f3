// Whole-file reads with errors that name the path. Stateless; thread-safe.
#ifndef INFMEM_SERVER_COMMON_FILE_IO_H_
#define INFMEM_SERVER_COMMON_FILE_IO_H_

#include <string>

#include "absl/status/statusor.h"

namespace infmem {

// Reads the whole of `path`. NotFound when it does not exist; Internal naming the path for
// any other failure (permissions, a directory, a read error).
absl::StatusOr<std::string> ReadFile(const std::string& path);

}  // namespace infmem

#endif  // INFMEM_SERVER_COMMON_FILE_IO_H_
