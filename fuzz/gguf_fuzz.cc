// Fuzzes the GGUF reader, the tokenizer conversion and dequantization: any bytes either parse
// into tensors whose data lie inside the image (every tensor is dequantized here, under ASan),
// or give an error; never a crash, a hang or a read out of bounds.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "server/formats/ggml_blocks.h"
#include "server/formats/gguf_file.h"
#include "server/formats/gguf_tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = infmem::formats::GgufFile::Parse(
      std::make_shared<const std::string>(reinterpret_cast<const char*>(data), size), "fuzz.gguf");
  if (!file.ok()) return 0;
  (void)infmem::formats::ConvertGgufTokenizer(*file);
  std::vector<float> out;
  for (const infmem::formats::GgufTensor& t : file->tensors()) {
    if (t.numel() > (int64_t{1} << 20)) continue;  // the file holds its bytes: bounded by size
    out.resize(static_cast<size_t>(t.numel()));
    if (!infmem::formats::Dequantize(t.type, t.data, t.numel(), out.data()).ok()) __builtin_trap();
  }
  return 0;
}
