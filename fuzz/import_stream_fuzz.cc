// Fuzzes the ImportSession stream's reassembly (ImportAssembler): the input is split into
// messages (a 2-byte big-endian length, then that many bytes of an ImportSessionRequest); any
// stream either assembles into an image within the size limit or is refused with an error.
// What the image's state then goes through, Model::DeserializeState, has its own target.
#include <cstddef>
#include <cstdint>

#include "infmem/v1/infmem.pb.h"
#include "server/service/session_transfer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  constexpr int64_t kMaxBytes = 1 << 16;
  infmem::service::ImportAssembler assembler(kMaxBytes);
  size_t pos = 0;
  while (pos + 2 <= size) {
    const size_t n = (static_cast<size_t>(data[pos]) << 8) | data[pos + 1];
    pos += 2;
    if (n > size - pos) break;
    infmem::v1::ImportSessionRequest message;
    if (!message.ParseFromArray(data + pos, static_cast<int>(n))) return 0;  // gRPC refuses it
    pos += n;
    if (!assembler.Add(message).ok()) return 0;
  }
  auto image = assembler.Finish();
  if (image.ok() &&
      (image->snapshot.empty() || static_cast<int64_t>(image->snapshot.size()) > kMaxBytes)) {
    __builtin_trap();
  }
  return 0;
}
