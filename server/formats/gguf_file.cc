// GGUF parsing. A Reader walks the bytes with bounds checks; every failure names the file, the
// byte offset and what was being read.
#include "server/formats/gguf_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <set>

#include "absl/strings/str_cat.h"
#include "server/common/status_macros.h"

namespace infmem::formats {
namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read little-endian
constexpr uint64_t kMaxKeyLength = 65535;
constexpr int kMaxDims = 4;
constexpr int kMaxArrayDepth = 4;

bool IsValidUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || i + len > s.size()) return false;
    uint32_t cp = len == 1 ? c : c & (0x7F >> len);
    for (int k = 1; k < len; ++k) {
      const unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc >> 6) != 2) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += len;
  }
  return true;
}

class Reader {
 public:
  Reader(const uint8_t* data, size_t size, const std::string& path)
      : data_(data), size_(size), path_(path) {}

  size_t pos() const { return pos_; }

  absl::Status Truncated(absl::string_view what, uint64_t need) const {
    return absl::DataLossError(absl::StrCat(path_, ": truncated: ", what, " at byte ", pos_,
                                            " needs ", need, " bytes, the file has ", size_ - pos_,
                                            " left"));
  }
  absl::Status Invalid(absl::string_view message) const {
    return absl::InvalidArgumentError(absl::StrCat(path_, ": ", message));
  }

  template <typename T>
  absl::StatusOr<T> Read(absl::string_view what) {
    if (size_ - pos_ < sizeof(T)) return Truncated(what, sizeof(T));
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  absl::StatusOr<std::string> ReadString(absl::string_view what, uint64_t max_length) {
    ASSIGN_OR_RETURN(const uint64_t n, Read<uint64_t>(what));
    if (n > max_length) {
      return Invalid(absl::StrCat(what, " at byte ", pos_ - 8, " has length ", n,
                                  ", more than the limit ", max_length));
    }
    if (size_ - pos_ < n) return Truncated(what, n);
    std::string s(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return s;
  }

  // A value of `type`; `depth` counts enclosing arrays.
  absl::StatusOr<GgufValue> ReadValue(GgufType type, absl::string_view key, int depth) {
    GgufValue v;
    v.type = type;
    switch (type) {
      case GgufType::kU8: {
        ASSIGN_OR_RETURN(v.integer, Read<uint8_t>(key));
        break;
      }
      case GgufType::kI8: {
        ASSIGN_OR_RETURN(v.integer, Read<int8_t>(key));
        break;
      }
      case GgufType::kU16: {
        ASSIGN_OR_RETURN(v.integer, Read<uint16_t>(key));
        break;
      }
      case GgufType::kI16: {
        ASSIGN_OR_RETURN(v.integer, Read<int16_t>(key));
        break;
      }
      case GgufType::kU32: {
        ASSIGN_OR_RETURN(v.integer, Read<uint32_t>(key));
        break;
      }
      case GgufType::kI32: {
        ASSIGN_OR_RETURN(v.integer, Read<int32_t>(key));
        break;
      }
      case GgufType::kI64: {
        ASSIGN_OR_RETURN(v.integer, Read<int64_t>(key));
        break;
      }
      case GgufType::kU64: {
        ASSIGN_OR_RETURN(const uint64_t u, Read<uint64_t>(key));
        if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
          return Invalid(absl::StrCat("key '", key, "': u64 value ", u, " is too large"));
        }
        v.integer = static_cast<int64_t>(u);
        break;
      }
      case GgufType::kBool: {
        ASSIGN_OR_RETURN(const uint8_t b, Read<uint8_t>(key));
        if (b > 1) return Invalid(absl::StrCat("key '", key, "': bool byte is ", int{b}));
        v.integer = b;
        break;
      }
      case GgufType::kF32: {
        ASSIGN_OR_RETURN(const float f, Read<float>(key));
        v.number = f;
        break;
      }
      case GgufType::kF64: {
        ASSIGN_OR_RETURN(v.number, Read<double>(key));
        break;
      }
      case GgufType::kString: {
        ASSIGN_OR_RETURN(v.string, ReadString(absl::StrCat("string of key '", key, "'"),
                                              std::numeric_limits<uint64_t>::max()));
        break;
      }
      case GgufType::kArray: {
        if (depth >= kMaxArrayDepth) {
          return Invalid(
              absl::StrCat("key '", key, "': arrays nested deeper than ", kMaxArrayDepth));
        }
        ASSIGN_OR_RETURN(const uint32_t elem, Read<uint32_t>(key));
        if (elem > static_cast<uint32_t>(GgufType::kF64)) {
          return Invalid(absl::StrCat("key '", key, "': unknown array element type ", elem));
        }
        v.elem_type = static_cast<GgufType>(elem);
        ASSIGN_OR_RETURN(const uint64_t count, Read<uint64_t>(key));
        // Every element takes at least one byte: a count beyond the bytes left is a lie, and
        // checking it first keeps a hostile count from reserving memory.
        if (count > size_ - pos_) {
          return Truncated(absl::StrCat("array of key '", key, "' (", count, " elements)"), count);
        }
        v.array.reserve(count);
        for (uint64_t i = 0; i < count; ++i) {
          ASSIGN_OR_RETURN(GgufValue e, ReadValue(v.elem_type, key, depth + 1));
          v.array.push_back(std::move(e));
        }
        break;
      }
      default:
        return Invalid(
            absl::StrCat("key '", key, "': unknown value type ", static_cast<uint32_t>(type)));
    }
    return v;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  const std::string& path_;
};

absl::Status WrongType(const std::string& path, absl::string_view key, absl::string_view want,
                       const GgufValue& got) {
  return absl::InvalidArgumentError(
      absl::StrCat(path, ": key '", key, "' must be ", want, ", got ", GgufTypeName(got.type)));
}

// The mapping of a file, unmapped when the last GgufFile sharing it goes.
struct Mapping {
  void* address = nullptr;
  size_t size = 0;
  ~Mapping() {
    if (address != nullptr && address != MAP_FAILED) munmap(address, size);
  }
};

}  // namespace

absl::string_view GgufTypeName(GgufType type) {
  switch (type) {
    case GgufType::kU8:
      return "u8";
    case GgufType::kI8:
      return "i8";
    case GgufType::kU16:
      return "u16";
    case GgufType::kI16:
      return "i16";
    case GgufType::kU32:
      return "u32";
    case GgufType::kI32:
      return "i32";
    case GgufType::kF32:
      return "f32";
    case GgufType::kBool:
      return "bool";
    case GgufType::kString:
      return "string";
    case GgufType::kArray:
      return "array";
    case GgufType::kU64:
      return "u64";
    case GgufType::kI64:
      return "i64";
    case GgufType::kF64:
      return "f64";
  }
  return "unknown";
}

bool GgufValue::is_integer() const {
  switch (type) {
    case GgufType::kU8:
    case GgufType::kI8:
    case GgufType::kU16:
    case GgufType::kI16:
    case GgufType::kU32:
    case GgufType::kI32:
    case GgufType::kU64:
    case GgufType::kI64:
      return true;
    default:
      return false;
  }
}

int64_t GgufTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

absl::StatusOr<GgufFile> GgufFile::Parse(std::shared_ptr<const std::string> bytes,
                                         const std::string& path) {
  const uint8_t* data = reinterpret_cast<const uint8_t*>(bytes->data());
  const size_t size = bytes->size();
  return ParseBytes(std::move(bytes), data, size, path);
}

absl::StatusOr<GgufFile> GgufFile::Read(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const std::string reason = std::strerror(errno);
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat(path, ": no such file"));
    return absl::InvalidArgumentError(absl::StrCat(path, ": cannot open: ", reason));
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a regular file"));
  }
  auto mapping = std::make_shared<Mapping>();
  mapping->size = static_cast<size_t>(st.st_size);
  if (mapping->size > 0) {
    mapping->address = mmap(nullptr, mapping->size, PROT_READ, MAP_PRIVATE, fd, 0);
  }
  close(fd);
  if (mapping->address == MAP_FAILED) {
    return absl::InternalError(absl::StrCat(path, ": cannot map: ", std::strerror(errno)));
  }
  static const uint8_t kEmpty = 0;
  const uint8_t* data = mapping->size > 0 ? static_cast<const uint8_t*>(mapping->address) : &kEmpty;
  return ParseBytes(mapping, data, mapping->size, path);
}

absl::StatusOr<GgufFile> GgufFile::ParseBytes(std::shared_ptr<const void> owner,
                                              const uint8_t* data, size_t size,
                                              const std::string& path) {
  Reader in(data, size, path);
  ASSIGN_OR_RETURN(const uint32_t magic, in.Read<uint32_t>("the magic"));
  if (magic != kMagic) return in.Invalid("not a GGUF file (the first 4 bytes are not \"GGUF\")");
  ASSIGN_OR_RETURN(const uint32_t version, in.Read<uint32_t>("the version"));
  if (version != 2 && version != 3) {
    return in.Invalid(absl::StrCat("GGUF version ", version, " is not supported (2 and 3 are)"));
  }
  ASSIGN_OR_RETURN(const uint64_t tensor_count, in.Read<uint64_t>("the tensor count"));
  ASSIGN_OR_RETURN(const uint64_t kv_count, in.Read<uint64_t>("the metadata count"));
  // A key takes at least 12 bytes, a tensor info at least 24: bound the counts by the file.
  if (kv_count > size / 12) {
    return in.Invalid(
        absl::StrCat("metadata count ", kv_count, " is impossible in ", size, " bytes"));
  }
  if (tensor_count > size / 24) {
    return in.Invalid(
        absl::StrCat("tensor count ", tensor_count, " is impossible in ", size, " bytes"));
  }

  std::map<std::string, GgufValue> metadata;
  for (uint64_t i = 0; i < kv_count; ++i) {
    ASSIGN_OR_RETURN(std::string key,
                     in.ReadString(absl::StrCat("key ", i, " of ", kv_count), kMaxKeyLength));
    if (!IsValidUtf8(key)) return in.Invalid(absl::StrCat("key ", i, " is not UTF-8"));
    ASSIGN_OR_RETURN(const uint32_t type, in.Read<uint32_t>(key));
    if (type > static_cast<uint32_t>(GgufType::kF64)) {
      return in.Invalid(absl::StrCat("key '", key, "' has unknown value type ", type));
    }
    ASSIGN_OR_RETURN(GgufValue value, in.ReadValue(static_cast<GgufType>(type), key, 0));
    if (metadata.count(key) > 0) return in.Invalid(absl::StrCat("key '", key, "' appears twice"));
    metadata.emplace(std::move(key), std::move(value));
  }

  uint64_t alignment = 32;
  if (auto it = metadata.find("general.alignment"); it != metadata.end()) {
    if (!it->second.is_integer() || it->second.integer < 8 || it->second.integer > (1 << 30) ||
        (it->second.integer & (it->second.integer - 1)) != 0) {
      return in.Invalid("key 'general.alignment' must be a power of two of at least 8");
    }
    alignment = static_cast<uint64_t>(it->second.integer);
  }

  std::vector<GgufTensor> tensors;
  std::set<std::string> names;
  for (uint64_t i = 0; i < tensor_count; ++i) {
    GgufTensor t;
    ASSIGN_OR_RETURN(t.name, in.ReadString(absl::StrCat("the name of tensor ", i), 64));
    if (!IsValidUtf8(t.name)) return in.Invalid(absl::StrCat("tensor ", i, "'s name is not UTF-8"));
    if (!names.insert(t.name).second) {
      return in.Invalid(absl::StrCat("tensor '", t.name, "' appears twice"));
    }
    ASSIGN_OR_RETURN(const uint32_t n_dims, in.Read<uint32_t>(t.name));
    if (n_dims < 1 || n_dims > kMaxDims) {
      return in.Invalid(
          absl::StrCat("tensor '", t.name, "' has ", n_dims, " dimensions (1 to 4 allowed)"));
    }
    uint64_t numel = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      ASSIGN_OR_RETURN(const uint64_t dim, in.Read<uint64_t>(t.name));
      if (dim == 0 || dim > (uint64_t{1} << 40) || numel > (uint64_t{1} << 40) / dim) {
        return in.Invalid(absl::StrCat("tensor '", t.name, "' dimension ", d, " is ", dim,
                                       " (each must be positive, the product below 2^40)"));
      }
      numel *= dim;
      t.dims.push_back(static_cast<int64_t>(dim));
    }
    ASSIGN_OR_RETURN(const uint32_t type_id, in.Read<uint32_t>(t.name));
    const std::optional<GgmlType> type = GgmlTypeFromId(type_id);
    if (!type.has_value()) {
      return in.Invalid(absl::StrCat("tensor '", t.name, "' has ggml type ", type_id,
                                     "; supported: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K"));
    }
    t.type = *type;
    if (t.dims[0] % GgmlBlockSize(t.type) != 0) {
      return in.Invalid(absl::StrCat("tensor '", t.name, "' has rows of ", t.dims[0],
                                     " elements, not whole ", GgmlTypeName(t.type), " blocks of ",
                                     GgmlBlockSize(t.type)));
    }
    t.size_bytes = static_cast<size_t>(numel / GgmlBlockSize(t.type) * GgmlBlockBytes(t.type));
    ASSIGN_OR_RETURN(t.offset, in.Read<uint64_t>(t.name));
    if (t.offset % alignment != 0) {
      return in.Invalid(absl::StrCat("tensor '", t.name, "' offset ", t.offset,
                                     " is not a multiple of the alignment ", alignment));
    }
    tensors.push_back(std::move(t));
  }

  const uint64_t data_start = (in.pos() + alignment - 1) / alignment * alignment;
  if (data_start > size && !tensors.empty()) {
    return in.Truncated("the data section", data_start - in.pos());
  }
  // Tensors must lie inside the file and must not overlap.
  std::map<uint64_t, const GgufTensor*> by_offset;
  for (GgufTensor& t : tensors) {
    if (t.offset > size - data_start || t.size_bytes > size - data_start - t.offset) {
      return absl::DataLossError(
          absl::StrCat(path, ": tensor '", t.name, "' (", t.size_bytes, " bytes at data offset ",
                       t.offset, ") runs past the end of the file (", size, " bytes)"));
    }
    t.data = data + data_start + t.offset;
    if (!by_offset.emplace(t.offset, &t).second) {
      return in.Invalid(absl::StrCat("tensors overlap at data offset ", t.offset));
    }
  }
  uint64_t end = 0;
  const GgufTensor* previous = nullptr;
  for (const auto& [offset, t] : by_offset) {
    if (previous != nullptr && offset < end) {
      return in.Invalid(absl::StrCat("tensors '", previous->name, "' and '", t->name, "' overlap"));
    }
    end = offset + t->size_bytes;
    previous = t;
  }

  GgufFile file;
  file.owner_ = std::move(owner);
  file.path_ = path;
  file.version_ = version;
  file.alignment_ = alignment;
  file.metadata_ = std::move(metadata);
  file.tensors_ = std::move(tensors);
  return file;
}

const GgufValue* GgufFile::Find(absl::string_view key) const {
  auto it = metadata_.find(std::string(key));
  return it == metadata_.end() ? nullptr : &it->second;
}

const GgufTensor* GgufFile::FindTensor(absl::string_view name) const {
  for (const GgufTensor& t : tensors_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

absl::StatusOr<std::string> GgufFile::GetString(absl::string_view key) const {
  ASSIGN_OR_RETURN(std::optional<std::string> s, OptionalString(key));
  if (!s.has_value())
    return absl::InvalidArgumentError(absl::StrCat(path_, ": missing key '", key, "'"));
  return *s;
}

absl::StatusOr<int64_t> GgufFile::GetInt(absl::string_view key) const {
  ASSIGN_OR_RETURN(std::optional<int64_t> v, OptionalInt(key));
  if (!v.has_value())
    return absl::InvalidArgumentError(absl::StrCat(path_, ": missing key '", key, "'"));
  return *v;
}

absl::StatusOr<std::optional<int64_t>> GgufFile::OptionalInt(absl::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return std::optional<int64_t>();
  if (!v->is_integer()) return WrongType(path_, key, "an integer", *v);
  return std::optional<int64_t>(v->integer);
}

absl::StatusOr<std::optional<double>> GgufFile::OptionalNumber(absl::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return std::optional<double>();
  if (v->type == GgufType::kF32 || v->type == GgufType::kF64)
    return std::optional<double>(v->number);
  if (v->is_integer()) return std::optional<double>(static_cast<double>(v->integer));
  return WrongType(path_, key, "a number", *v);
}

absl::StatusOr<std::optional<bool>> GgufFile::OptionalBool(absl::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return std::optional<bool>();
  if (v->type != GgufType::kBool) return WrongType(path_, key, "a bool", *v);
  return std::optional<bool>(v->integer != 0);
}

absl::StatusOr<std::optional<std::string>> GgufFile::OptionalString(absl::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return std::optional<std::string>();
  if (v->type != GgufType::kString) return WrongType(path_, key, "a string", *v);
  return std::optional<std::string>(v->string);
}

namespace {

// The array at `key` with elements accepted by `accept`, of `count` elements when >= 0.
absl::StatusOr<const GgufValue*> ArrayOf(const GgufFile& file, absl::string_view key,
                                         bool (*accept)(const GgufValue&), absl::string_view want,
                                         int64_t count) {
  const GgufValue* v = file.Find(key);
  if (v == nullptr)
    return absl::InvalidArgumentError(absl::StrCat(file.path(), ": missing key '", key, "'"));
  GgufValue probe;
  probe.type = v->elem_type;
  if (v->type != GgufType::kArray || !accept(probe)) {
    return absl::InvalidArgumentError(absl::StrCat(
        file.path(), ": key '", key, "' must be an array of ", want, ", got ",
        v->type == GgufType::kArray ? absl::StrCat("an array of ", GgufTypeName(v->elem_type))
                                    : std::string(GgufTypeName(v->type))));
  }
  if (count >= 0 && static_cast<int64_t>(v->array.size()) != count) {
    return absl::InvalidArgumentError(absl::StrCat(file.path(), ": key '", key, "' has ",
                                                   v->array.size(), " elements, expected ", count));
  }
  return v;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> GgufFile::GetStrings(absl::string_view key,
                                                              int64_t count) const {
  ASSIGN_OR_RETURN(const GgufValue* v,
                   ArrayOf(
                       *this, key, [](const GgufValue& e) { return e.type == GgufType::kString; },
                       "strings", count));
  std::vector<std::string> out;
  out.reserve(v->array.size());
  for (const GgufValue& e : v->array) out.push_back(e.string);
  return out;
}

absl::StatusOr<std::vector<int64_t>> GgufFile::GetInts(absl::string_view key, int64_t count) const {
  ASSIGN_OR_RETURN(
      const GgufValue* v,
      ArrayOf(
          *this, key, [](const GgufValue& e) { return e.is_integer(); }, "integers", count));
  std::vector<int64_t> out;
  out.reserve(v->array.size());
  for (const GgufValue& e : v->array) out.push_back(e.integer);
  return out;
}

absl::StatusOr<std::vector<double>> GgufFile::GetNumbers(absl::string_view key,
                                                         int64_t count) const {
  ASSIGN_OR_RETURN(
      const GgufValue* v,
      ArrayOf(
          *this, key,
          [](const GgufValue& e) { return e.type == GgufType::kF32 || e.type == GgufType::kF64; },
          "floats", count));
  std::vector<double> out;
  out.reserve(v->array.size());
  for (const GgufValue& e : v->array) out.push_back(e.number);
  return out;
}

}  // namespace infmem::formats
