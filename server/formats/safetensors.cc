// Safetensors reading and writing.
//
// Layout: an 8-byte little-endian uint64 N, then N bytes of UTF-8 JSON (possibly padded with
// trailing spaces), then the data section. The JSON is an object:
//   {"__metadata__": {"key": "value", ...},          // optional; string values only
//    "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
// where [begin, end) is relative to the start of the data section and
// end - begin == numel(shape) * DTypeSize(dtype).
//
// Parse treats its input as untrusted: every length, offset and shape product is checked for
// overflow before use, no byte outside the buffer is ever read, and nothing throws.

#include "server/formats/safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"
#include "server/common/file_io.h"
#include "server/common/status_macros.h"
#include "server/common/strict_json.h"

namespace infmem::formats {
namespace {

using Json = nlohmann::json;

// The reference implementation's limit on the header size.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
constexpr absl::string_view kMetadataKey = "__metadata__";

struct DTypeInfo {
  DType dtype;
  absl::string_view name;
  size_t size;
};

constexpr DTypeInfo kDTypes[] = {
    {DType::kF32, "F32", 4}, {DType::kF16, "F16", 2}, {DType::kBF16, "BF16", 2},
    {DType::kF64, "F64", 8}, {DType::kI64, "I64", 8}, {DType::kI32, "I32", 4},
    {DType::kU8, "U8", 1},
};

std::optional<DType> DTypeFromName(absl::string_view name) {
  for (const DTypeInfo& info : kDTypes) {
    if (info.name == name) {
      return info.dtype;
    }
  }
  return std::nullopt;
}

absl::Status Invalid(absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat("safetensors: ", message));
}

absl::Status Truncated(absl::string_view message) {
  return absl::DataLossError(absl::StrCat("safetensors: truncated: ", message));
}

// Tensor names in messages, quoted and truncated (they come from untrusted input).
std::string Quote(absl::string_view name) {
  constexpr size_t kMaxChars = 128;
  if (name.size() <= kMaxChars) {
    return absl::StrCat("'", name, "'");
  }
  return absl::StrCat("'", name.substr(0, kMaxChars), "...'");
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

// Returns the number of elements of `shape`, or an error when a dimension is negative or
// the product does not fit in int64.
absl::StatusOr<int64_t> CheckedNumel(const std::vector<int64_t>& shape) {
  for (int64_t d : shape) {
    if (d < 0) {
      return absl::InvalidArgumentError(absl::StrCat("negative dimension ", d));
    }
  }
  if (std::find(shape.begin(), shape.end(), 0) != shape.end()) {
    return 0;
  }
  int64_t numel = 1;
  for (int64_t d : shape) {
    if (numel > std::numeric_limits<int64_t>::max() / d) {
      return absl::InvalidArgumentError("element count overflows int64");
    }
    numel *= d;
  }
  return numel;
}

// numel * DTypeSize, or an error when it overflows.
absl::StatusOr<uint64_t> CheckedByteSize(const std::vector<int64_t>& shape, DType dtype) {
  ASSIGN_OR_RETURN(const int64_t numel, CheckedNumel(shape));
  const uint64_t size = DTypeSize(dtype);
  if (static_cast<uint64_t>(numel) > std::numeric_limits<uint64_t>::max() / size) {
    return absl::InvalidArgumentError("byte size overflows uint64");
  }
  return static_cast<uint64_t>(numel) * size;
}

// Parses `text` strictly (server/common/strict_json.h). Never throws.
absl::StatusOr<Json> ParseHeaderJson(absl::string_view text) {
  Json root;
  const JsonProblem problem = ParseStrictJson(text, &root);
  switch (problem.kind) {
    case JsonProblem::kNone:
      return root;
    case JsonProblem::kNulByte:
      return Invalid(absl::StrCat("header contains a NUL byte at offset ", problem.nul_offset));
    case JsonProblem::kSyntax:
      return Invalid(absl::StrCat("header is not valid JSON: ", problem.detail));
    case JsonProblem::kDuplicateKey:
      return Invalid(absl::StrCat("duplicate key ", Quote(problem.detail), " in header"));
  }
  return root;
}

// Reads a JSON array of exactly `count` (or, when count < 0, any number of) integers.
// `what` names the field in messages.
absl::Status ReadIntArray(const Json& value, absl::string_view what, int count,
                          std::vector<int64_t>* out, bool* negative) {
  *negative = false;
  if (!value.is_array() || (count >= 0 && value.size() != static_cast<size_t>(count))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", what, "' must be an array of ", count >= 0 ? absl::StrCat(count, " ") : std::string(),
        "integers, got ",
        value.is_array() ? absl::StrCat("an array of ", value.size()) : DescribeJson(value)));
  }
  out->clear();
  out->reserve(value.size());
  for (const Json& e : value) {
    if (e.is_number_unsigned()) {
      const uint64_t u = e.get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return absl::InvalidArgumentError(absl::StrCat("'", what, "' value ", u, " is too large"));
      }
      out->push_back(static_cast<int64_t>(u));
    } else if (e.is_number_integer()) {
      out->push_back(e.get<int64_t>());
      if (out->back() < 0) {
        *negative = true;
      }
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", what, "' must be an array of integers, got an element ", DescribeJson(e)));
    }
  }
  return absl::OkStatus();
}

absl::Status Prefixed(absl::string_view prefix, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(prefix, status.message()));
}

}  // namespace

absl::string_view DTypeName(DType dtype) {
  for (const DTypeInfo& info : kDTypes) {
    if (info.dtype == dtype) {
      return info.name;
    }
  }
  return "UNKNOWN";
}

size_t DTypeSize(DType dtype) {
  for (const DTypeInfo& info : kDTypes) {
    if (info.dtype == dtype) {
      return info.size;
    }
  }
  return 1;
}

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) {
    n *= d;
  }
  return n;
}

absl::StatusOr<SafetensorsFile> SafetensorsFile::Parse(std::string bytes) {
  try {
    if (bytes.size() < 8) {
      return Truncated(
          absl::StrCat("file is ", bytes.size(), " bytes, shorter than the 8-byte header length"));
    }
    uint64_t header_len = 0;
    for (int i = 0; i < 8; ++i) {
      header_len |= static_cast<uint64_t>(static_cast<uint8_t>(bytes[i])) << (8 * i);
    }
    if (header_len > kMaxHeaderBytes) {
      return Invalid(absl::StrCat("header length ", header_len, " exceeds the limit of ",
                                  kMaxHeaderBytes, " bytes"));
    }
    const uint64_t after_len = bytes.size() - 8;
    if (header_len > after_len) {
      return Truncated(absl::StrCat("header length is ", header_len, " bytes but only ", after_len,
                                    " bytes follow"));
    }
    const size_t data_start = 8 + static_cast<size_t>(header_len);
    const uint64_t data_size = bytes.size() - data_start;

    ASSIGN_OR_RETURN(const Json root, ParseHeaderJson(absl::string_view(
                                          bytes.data() + 8, static_cast<size_t>(header_len))));
    if (!root.is_object()) {
      return Invalid(absl::StrCat("header must be a JSON object, got ", DescribeJson(root)));
    }

    SafetensorsFile file;
    for (const auto& [name, value] : root.get_ref<const Json::object_t&>()) {
      if (name == kMetadataKey) {
        if (!value.is_object()) {
          return Invalid(absl::StrCat("'__metadata__' must be an object of strings, got ",
                                      DescribeJson(value)));
        }
        for (const auto& [key, v] : value.get_ref<const Json::object_t&>()) {
          if (!v.is_string()) {
            return Invalid(absl::StrCat("'__metadata__' value for key ", Quote(key),
                                        " must be a string, got ", DescribeJson(v)));
          }
          file.metadata_.emplace(key, v.get<std::string>());
        }
        continue;
      }

      const std::string where = absl::StrCat("safetensors: tensor ", Quote(name), ": ");
      auto error = [&where](absl::string_view message) {
        return absl::InvalidArgumentError(absl::StrCat(where, message));
      };
      if (!value.is_object()) {
        return error(absl::StrCat("entry must be a JSON object, got ", DescribeJson(value)));
      }
      const auto& fields = value.get_ref<const Json::object_t&>();
      auto dtype_it = fields.find("dtype");
      auto shape_it = fields.find("shape");
      auto offsets_it = fields.find("data_offsets");
      if (dtype_it == fields.end()) {
        return error("missing 'dtype'");
      }
      if (shape_it == fields.end()) {
        return error("missing 'shape'");
      }
      if (offsets_it == fields.end()) {
        return error("missing 'data_offsets'");
      }

      Entry entry;
      if (!dtype_it->second.is_string()) {
        return error(
            absl::StrCat("'dtype' must be a string, got ", DescribeJson(dtype_it->second)));
      }
      const auto& dtype_name = dtype_it->second.get_ref<const std::string&>();
      const std::optional<DType> dtype = DTypeFromName(dtype_name);
      if (!dtype.has_value()) {
        return error(absl::StrCat("unknown dtype ", DescribeJson(dtype_it->second)));
      }
      entry.dtype = *dtype;

      bool negative = false;
      absl::Status s = ReadIntArray(shape_it->second, "shape", -1, &entry.shape, &negative);
      if (!s.ok()) {
        return Prefixed(where, s);
      }
      if (negative) {
        return error(absl::StrCat("negative dimension in 'shape' ", ShapeString(entry.shape)));
      }
      absl::StatusOr<uint64_t> nbytes = CheckedByteSize(entry.shape, entry.dtype);
      if (!nbytes.ok()) {
        return error(
            absl::StrCat("'shape' ", ShapeString(entry.shape), ": ", nbytes.status().message()));
      }

      std::vector<int64_t> offsets;
      s = ReadIntArray(offsets_it->second, "data_offsets", 2, &offsets, &negative);
      if (!s.ok()) {
        return Prefixed(where, s);
      }
      if (negative) {
        return error(
            absl::StrCat("negative value in 'data_offsets' [", offsets[0], ", ", offsets[1], "]"));
      }
      const uint64_t begin = static_cast<uint64_t>(offsets[0]);
      const uint64_t end = static_cast<uint64_t>(offsets[1]);
      if (begin > end) {
        return error(absl::StrCat("'data_offsets' begin ", begin, " is after end ", end));
      }
      if (end > data_size) {
        return absl::DataLossError(absl::StrCat(where, "'data_offsets' end ", end,
                                                " is past the end of the data section (", data_size,
                                                " bytes); file truncated?"));
      }
      if (end - begin != *nbytes) {
        return error(absl::StrCat("'data_offsets' [", begin, ", ", end, ") span ", end - begin,
                                  " bytes but dtype ", DTypeName(entry.dtype), " shape ",
                                  ShapeString(entry.shape), " needs ", *nbytes,
                                  " bytes (size mismatch)"));
      }
      entry.begin = static_cast<size_t>(begin);
      entry.end = static_cast<size_t>(end);
      file.entries_.emplace(name, std::move(entry));
    }

    // No two tensors may share a byte. Sorting by (begin, end) puts empty tensors before a
    // tensor starting at the same offset, so they never count as overlapping it.
    std::vector<std::tuple<size_t, size_t, const std::string*>> spans;
    spans.reserve(file.entries_.size());
    for (const auto& [name, entry] : file.entries_) {
      spans.emplace_back(entry.begin, entry.end, &name);
    }
    std::sort(spans.begin(), spans.end());
    size_t max_end = 0;
    const std::string* max_end_name = nullptr;
    for (const auto& [begin, end, name] : spans) {
      if (max_end_name != nullptr && begin < max_end) {
        return Invalid(absl::StrCat("tensors ", Quote(*max_end_name), " and ", Quote(*name),
                                    " have overlapping data_offsets"));
      }
      if (end > max_end || max_end_name == nullptr) {
        max_end = std::max(max_end, end);
        max_end_name = name;
      }
    }

    file.data_start_ = data_start;
    file.bytes_ = std::make_shared<const std::string>(std::move(bytes));
    return file;
  } catch (const std::exception& e) {  // defensive: e.g. std::bad_alloc
    return absl::InternalError(absl::StrCat("safetensors: unexpected error: ", e.what()));
  }
}

absl::StatusOr<SafetensorsFile> SafetensorsFile::Read(const std::string& path) {
  ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
  absl::StatusOr<SafetensorsFile> file = Parse(std::move(bytes));
  if (!file.ok()) {
    return Prefixed(absl::StrCat(path, ": "), file.status());
  }
  return file;
}

absl::StatusOr<TensorView> SafetensorsFile::Get(absl::string_view name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) {
    return absl::NotFoundError(absl::StrCat("safetensors: no tensor named ", Quote(name)));
  }
  const Entry& entry = it->second;
  TensorView view;
  view.dtype = entry.dtype;
  view.shape = entry.shape;
  view.data = reinterpret_cast<const uint8_t*>(bytes_->data()) + data_start_ + entry.begin;
  view.size_bytes = entry.end - entry.begin;
  return view;
}

bool SafetensorsFile::Has(absl::string_view name) const {
  return entries_.find(name) != entries_.end();
}

std::vector<std::string> SafetensorsFile::Names() const {
  std::vector<std::string> names;
  names.reserve(entries_.size());
  for (const auto& [name, entry] : entries_) {
    names.push_back(name);
  }
  return names;
}

absl::StatusOr<std::string> SafetensorsPreamble(
    const std::vector<TensorToWrite>& tensors, const std::map<std::string, std::string>& metadata) {
  // The header is assembled by hand (each key and string escaped by nlohmann) so the tensors
  // keep their given order without an O(n^2) ordered map.
  auto quote = [](const std::string& s) -> absl::StatusOr<std::string> {
    try {
      return Json(s).dump(-1, ' ', false, Json::error_handler_t::strict);
    } catch (const std::exception&) {
      return absl::InvalidArgumentError(
          absl::StrCat("safetensors: string is not valid UTF-8: ", Quote(s)));
    }
  };

  std::string header = "{";
  bool first = true;
  if (!metadata.empty()) {
    absl::StrAppend(&header, "\"", kMetadataKey, "\":{");
    for (const auto& [key, value] : metadata) {
      ASSIGN_OR_RETURN(const std::string k, quote(key));
      ASSIGN_OR_RETURN(const std::string v, quote(value));
      absl::StrAppend(&header, first ? "" : ",", k, ":", v);
      first = false;
    }
    header += "}";
    first = false;
  }

  std::set<absl::string_view> names;
  uint64_t offset = 0;
  for (const TensorToWrite& t : tensors) {
    const std::string where = absl::StrCat("safetensors: tensor ", Quote(t.name), ": ");
    if (t.name == kMetadataKey) {
      return absl::InvalidArgumentError(absl::StrCat(where, "the name is reserved"));
    }
    if (!names.insert(t.name).second) {
      return absl::InvalidArgumentError(absl::StrCat(where, "duplicate tensor name"));
    }
    if (!DTypeFromName(DTypeName(t.dtype)).has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(where, "invalid dtype"));
    }
    absl::StatusOr<uint64_t> nbytes = CheckedByteSize(t.shape, t.dtype);
    if (!nbytes.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "shape ", ShapeString(t.shape), ": ", nbytes.status().message()));
    }
    if (t.size_bytes != *nbytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "size_bytes is ", t.size_bytes, " but dtype ", DTypeName(t.dtype),
                       " shape ", ShapeString(t.shape), " needs ", *nbytes, " bytes"));
    }
    ASSIGN_OR_RETURN(const std::string name, quote(t.name));
    absl::StrAppend(&header, first ? "" : ",", name, ":{\"dtype\":\"", DTypeName(t.dtype),
                    "\",\"shape\":[", absl::StrJoin(t.shape, ","), "],\"data_offsets\":[", offset,
                    ",", offset + t.size_bytes, "]}");
    first = false;
    offset += t.size_bytes;
  }
  header += "}";
  while ((8 + header.size()) % 8 != 0) {
    header += ' ';
  }
  if (header.size() > kMaxHeaderBytes) {
    return absl::InvalidArgumentError(absl::StrCat("safetensors: header of ", header.size(),
                                                   " bytes exceeds the limit of ", kMaxHeaderBytes,
                                                   " bytes"));
  }

  std::string out;
  out.reserve(8 + header.size());
  const uint64_t header_len = header.size();
  for (int i = 0; i < 8; ++i) {
    out.push_back(static_cast<char>((header_len >> (8 * i)) & 0xff));
  }
  out += header;
  return out;
}

absl::StatusOr<std::string> SerializeSafetensors(
    const std::vector<TensorToWrite>& tensors, const std::map<std::string, std::string>& metadata) {
  uint64_t data_bytes = 0;
  for (const TensorToWrite& t : tensors) {
    if (t.size_bytes > 0 && t.data == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("safetensors: tensor ", Quote(t.name), ": data is null"));
    }
    data_bytes += t.size_bytes;
  }
  ASSIGN_OR_RETURN(std::string out, SafetensorsPreamble(tensors, metadata));
  out.reserve(out.size() + data_bytes);
  for (const TensorToWrite& t : tensors) {
    if (t.size_bytes > 0) {
      out.append(static_cast<const char*>(t.data), t.size_bytes);
    }
  }
  return out;
}

}  // namespace infmem::formats
