// The export file: the SessionChunk stream of ExportSession, stored so that ImportSession
// can replay it (`infmem export` writes it, `infmem import` reads it).
//
// Format: a sequence of frames and nothing else, one per SessionChunk, in stream order.
// A frame is the chunk's length in bytes as a 4-byte little-endian unsigned integer,
// followed by that many bytes: the chunk serialized as an infmem.v1.SessionChunk protobuf.
// The file ends after the last frame; an empty file holds no chunks (and imports nothing).
// A frame longer than kMaxChunkBytes is rejected as corrupt.
#ifndef INFMEM_CLIENT_CHUNK_FILE_H_
#define INFMEM_CLIENT_CHUNK_FILE_H_

#include <cstdint>
#include <istream>
#include <ostream>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "infmem/v1/infmem.pb.h"

namespace infmem::client {

// The largest frame a reader accepts (gRPC's default message limit is 4 MiB).
inline constexpr uint32_t kMaxChunkBytes = 64u << 20;

// Appends one frame holding `chunk` to `out`. INTERNAL when the stream fails.
absl::Status WriteChunk(const infmem::v1::SessionChunk& chunk, std::ostream* out);

// Reads frames from an export file, one at a time (the file may be larger than memory).
// Not thread-safe; does not own the stream.
class ChunkFileReader {
 public:
  explicit ChunkFileReader(std::istream* in) : in_(in) {}

  // Reads the next chunk into `chunk`. Returns false at the end of the file, true when a
  // chunk was read, DATA_LOSS (naming the byte offset) for a truncated length prefix, a frame
  // running past the end of the file, an oversized frame or bytes that do not parse.
  absl::StatusOr<bool> Next(infmem::v1::SessionChunk* chunk);

 private:
  std::istream* in_;
  uint64_t offset_ = 0;  // of the next frame
};

}  // namespace infmem::client

#endif  // INFMEM_CLIENT_CHUNK_FILE_H_
