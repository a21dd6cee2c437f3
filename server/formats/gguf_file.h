// Reading GGUF files (llama.cpp's model format, versions 2 and 3): a little-endian header
// ("GGUF", version, tensor count, metadata count), typed metadata key/value pairs, tensor
// infos (name, dims innermost first, ggml type, offset), then the tensor data, each tensor at
// an offset that is a multiple of general.alignment (default 32) from the aligned start of the
// data section. Plain C++, no torch. The file is untrusted: every count, length, type, dim and
// offset is checked against the file's size before use, so a truncated or hostile file is an
// error naming the field, never a crash or a huge allocation.
// Thread-safety: a GgufFile is immutable after Read/Parse and safe to read from any thread.
#ifndef INFMEM_SERVER_FORMATS_GGUF_FILE_H_
#define INFMEM_SERVER_FORMATS_GGUF_FILE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/formats/ggml_blocks.h"

namespace infmem::formats {

// The metadata value types of GGUF (their ids in the file).
enum class GgufType : uint32_t {
  kU8 = 0,
  kI8 = 1,
  kU16 = 2,
  kI16 = 3,
  kU32 = 4,
  kI32 = 5,
  kF32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kU64 = 10,
  kI64 = 11,
  kF64 = 12,
};

// Returns the name of `type` ("u32", "string", "array", ...).
absl::string_view GgufTypeName(GgufType type);

// One metadata value. Integers of every width are kept as int64 (a u64 above INT64_MAX is
// refused at parse time), floats as double; an array holds its elements (all of elem_type).
struct GgufValue {
  GgufType type = GgufType::kU8;
  int64_t integer = 0;  // the integer types and bool
  double number = 0;    // f32, f64
  std::string string;
  GgufType elem_type = GgufType::kU8;  // arrays only
  std::vector<GgufValue> array;

  bool is_integer() const;
};

// One tensor: `dims` innermost first (ne0 = row length), as GGUF stores them.
struct GgufTensor {
  std::string name;
  std::vector<int64_t> dims;
  GgmlType type = GgmlType::kF32;
  uint64_t offset = 0;  // from the start of the data section
  const uint8_t* data = nullptr;
  size_t size_bytes = 0;
  int64_t numel() const;
  int64_t rows() const { return numel() / dims[0]; }
};

class GgufFile {
 public:
  // Parses a whole file image; `path` names the file in error messages. InvalidArgument for
  // a bad magic, unsupported version, unknown value or tensor type, duplicate key or tensor,
  // an alignment that is not a power of two multiple of 8, a misaligned or overlapping tensor,
  // a non-UTF-8 key or name; DataLoss when a length, count or tensor runs past the end.
  static absl::StatusOr<GgufFile> Parse(std::shared_ptr<const std::string> bytes,
                                        const std::string& path = "gguf");
  // Reads `path` (memory-mapped) and parses it; NotFound when the file is missing.
  static absl::StatusOr<GgufFile> Read(const std::string& path);

  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  const std::string& path() const { return path_; }
  const std::map<std::string, GgufValue>& metadata() const { return metadata_; }
  const std::vector<GgufTensor>& tensors() const { return tensors_; }

  // The value of `key`, or null.
  const GgufValue* Find(absl::string_view key) const;
  // The tensor named `name`, or null.
  const GgufTensor* FindTensor(absl::string_view name) const;

  // Typed metadata access; errors name the file and the key. Get* fail when the key is
  // missing or has another type; Optional* return nullopt when it is missing.
  absl::StatusOr<std::string> GetString(absl::string_view key) const;
  absl::StatusOr<int64_t> GetInt(absl::string_view key) const;
  absl::StatusOr<std::optional<int64_t>> OptionalInt(absl::string_view key) const;
  absl::StatusOr<std::optional<double>> OptionalNumber(absl::string_view key) const;
  absl::StatusOr<std::optional<bool>> OptionalBool(absl::string_view key) const;
  absl::StatusOr<std::optional<std::string>> OptionalString(absl::string_view key) const;
  // An array of `elem` (strings; or any integer type for kI32; f32/f64 for kF32) of exactly
  // `count` elements when count >= 0.
  absl::StatusOr<std::vector<std::string>> GetStrings(absl::string_view key,
                                                      int64_t count = -1) const;
  absl::StatusOr<std::vector<int64_t>> GetInts(absl::string_view key, int64_t count = -1) const;
  absl::StatusOr<std::vector<double>> GetNumbers(absl::string_view key, int64_t count = -1) const;

 private:
  static absl::StatusOr<GgufFile> ParseBytes(std::shared_ptr<const void> owner, const uint8_t* data,
                                             size_t size, const std::string& path);

  std::shared_ptr<const void> owner_;  // keeps the bytes (string or mapping) alive
  std::string path_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  std::map<std::string, GgufValue> metadata_;
  std::vector<GgufTensor> tensors_;
};

}  // namespace infmem::formats

#endif  // INFMEM_SERVER_FORMATS_GGUF_FILE_H_
