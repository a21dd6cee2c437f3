// Reading and writing the safetensors format (an 8-byte little-endian header length, a JSON
// header mapping tensor names to {dtype, shape, data_offsets} plus an optional
// "__metadata__" string map, then the raw little-endian tensor bytes). Plain C++, no torch:
// the model converts TensorView bytes into tensors itself. Used for weights and for session
// snapshots so Python tools can read both.
// Thread-safety: SafetensorsFile is immutable after Parse and safe to read from any thread.
#ifndef INFMEM_SERVER_FORMATS_SAFETENSORS_H_
#define INFMEM_SERVER_FORMATS_SAFETENSORS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace infmem::formats {

enum class DType { kF32, kF16, kBF16, kF64, kI64, kI32, kU8 };

// Returns the safetensors name ("F32", "BF16", ...) of `dtype`.
absl::string_view DTypeName(DType dtype);
// Returns the element size in bytes of `dtype`.
size_t DTypeSize(DType dtype);

// One tensor of a parsed file; `data` points into the owning SafetensorsFile's buffer.
struct TensorView {
  DType dtype;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;
  size_t size_bytes = 0;
  int64_t numel() const;
};

// A tensor to write; `data` must stay valid until WriteSafetensors returns.
struct TensorToWrite {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  const void* data = nullptr;
  size_t size_bytes = 0;
};

class SafetensorsFile {
 public:
  // Parses a whole file image. Every structural problem is InvalidArgument (DataLoss for a
  // file that is truncated or whose offsets run past the end) with a message naming it:
  // bad JSON, unknown dtype, shape/offset size mismatch, overlapping or out-of-range
  // offsets, header length larger than the file.
  static absl::StatusOr<SafetensorsFile> Parse(std::string bytes);
  // Reads `path` and parses it; NotFound when the file is missing.
  static absl::StatusOr<SafetensorsFile> Read(const std::string& path);

  // Returns the named tensor, or NotFound naming it.
  absl::StatusOr<TensorView> Get(absl::string_view name) const;
  bool Has(absl::string_view name) const;
  std::vector<std::string> Names() const;  // sorted
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  struct Entry {
    DType dtype;
    std::vector<int64_t> shape;
    size_t begin = 0;
    size_t end = 0;
  };
  std::shared_ptr<const std::string> bytes_;
  size_t data_start_ = 0;
  std::map<std::string, Entry, std::less<>> entries_;
  std::map<std::string, std::string> metadata_;
};

// Returns the start of the safetensors image of `tensors` and `metadata`: the 8-byte header
// length and the JSON header, padded with spaces to a multiple of 8 bytes. The tensors' bytes
// follow it in the given order; `data` is not read (and may be null), so a caller can stream
// a file larger than memory: write the preamble, then each tensor's size_bytes in order.
// InvalidArgument for a reserved or duplicate name, an invalid dtype, a size_bytes that does
// not match dtype and shape, a string that is not UTF-8 or an oversized header.
absl::StatusOr<std::string> SafetensorsPreamble(const std::vector<TensorToWrite>& tensors,
                                                const std::map<std::string, std::string>& metadata);

// Serialises `tensors` and `metadata` into one safetensors image (tensors laid out in the
// given order, header padded with spaces to a multiple of 8 bytes). Checks what
// SafetensorsPreamble checks, and that every non-empty tensor's data is non-null.
absl::StatusOr<std::string> SerializeSafetensors(
    const std::vector<TensorToWrite>& tensors, const std::map<std::string, std::string>& metadata);

}  // namespace infmem::formats

#endif  // INFMEM_SERVER_FORMATS_SAFETENSORS_H_
