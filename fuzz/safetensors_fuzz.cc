// Fuzzes the safetensors parser (weights files and session snapshots): any bytes either parse
// into tensors whose views lie inside the image, or give an error; never a crash or a read
// out of bounds.
#include <cstddef>
#include <cstdint>
#include <string>

#include "server/formats/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = infmem::formats::SafetensorsFile::Parse(
      std::string(reinterpret_cast<const char*>(data), size));
  if (!file.ok()) return 0;
  volatile uint8_t sink = 0;
  for (const std::string& name : file->Names()) {
    auto view = file->Get(name);
    if (!view.ok()) __builtin_trap();  // a listed name must be readable
    if (view->size_bytes > 0) sink ^= view->data[0] ^ view->data[view->size_bytes - 1];
  }
  (void)sink;
  return 0;
}
