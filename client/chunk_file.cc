// Framing of the export file (format in chunk_file.h).
#include "client/chunk_file.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace infmem::client {

absl::Status WriteChunk(const infmem::v1::SessionChunk& chunk, std::ostream* out) {
  std::string bytes;
  if (!chunk.SerializeToString(&bytes)) return absl::InternalError("cannot serialize a chunk");
  if (bytes.size() > kMaxChunkBytes) {
    return absl::InternalError(absl::StrCat("chunk of ", bytes.size(), " bytes is too large"));
  }
  const uint32_t size = static_cast<uint32_t>(bytes.size());
  // Little-endian whatever the host's byte order.
  const char prefix[4] = {static_cast<char>(size & 0xff), static_cast<char>((size >> 8) & 0xff),
                          static_cast<char>((size >> 16) & 0xff),
                          static_cast<char>((size >> 24) & 0xff)};
  out->write(prefix, sizeof(prefix));
  out->write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!*out) return absl::InternalError("cannot write the export file");
  return absl::OkStatus();
}

absl::StatusOr<bool> ChunkFileReader::Next(infmem::v1::SessionChunk* chunk) {
  unsigned char prefix[4];
  in_->read(reinterpret_cast<char*>(prefix), sizeof(prefix));
  const std::streamsize got = in_->gcount();
  if (got == 0 && in_->eof()) return false;
  if (in_->bad()) return absl::DataLossError(absl::StrCat("cannot read at byte ", offset_));
  if (got != sizeof(prefix)) {
    return absl::DataLossError(
        absl::StrCat("export file truncated: ", got, "-byte length prefix at byte ", offset_));
  }
  const uint32_t size = static_cast<uint32_t>(prefix[0]) | static_cast<uint32_t>(prefix[1]) << 8 |
                        static_cast<uint32_t>(prefix[2]) << 16 |
                        static_cast<uint32_t>(prefix[3]) << 24;
  if (size > kMaxChunkBytes) {
    return absl::DataLossError(
        absl::StrCat("export file corrupt: frame at byte ", offset_, " claims ", size, " bytes"));
  }
  std::string bytes(size, '\0');
  in_->read(bytes.data(), size);
  if (in_->gcount() != static_cast<std::streamsize>(size)) {
    return absl::DataLossError(absl::StrCat("export file truncated: frame at byte ", offset_,
                                            " has ", size, " bytes but the file ends after ",
                                            in_->gcount()));
  }
  if (!chunk->ParseFromString(bytes)) {
    return absl::DataLossError(
        absl::StrCat("export file corrupt: frame at byte ", offset_, " is not a SessionChunk"));
  }
  offset_ += sizeof(prefix) + size;
  return true;
}

}  // namespace infmem::client
