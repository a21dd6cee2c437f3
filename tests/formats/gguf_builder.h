// A tiny GGUF writer for tests: builds well-formed images (and, by editing its output, broken
// ones) without llama.cpp.
#ifndef INFMEM_TESTS_FORMATS_GGUF_BUILDER_H_
#define INFMEM_TESTS_FORMATS_GGUF_BUILDER_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace infmem::formats::testing {

class GgufBuilder {
 public:
  explicit GgufBuilder(uint32_t version = 3, uint64_t alignment = 32)
      : version_(version), alignment_(alignment) {}

  // When set, a key or tensor added again replaces the first (in its place); otherwise the
  // file holds both (to test duplicates).
  bool replace = false;

  void U32(const std::string& key, uint32_t v) { Kv(key, 4, Raw(v)); }
  void I32(const std::string& key, int32_t v) { Kv(key, 5, Raw(v)); }
  void U64(const std::string& key, uint64_t v) { Kv(key, 10, Raw(v)); }
  void F32(const std::string& key, float v) { Kv(key, 6, Raw(v)); }
  void Bool(const std::string& key, bool v) { Kv(key, 7, std::string(1, v ? 1 : 0)); }
  void String(const std::string& key, const std::string& v) { Kv(key, 8, Str(v)); }
  void Strings(const std::string& key, const std::vector<std::string>& v) {
    std::string body = Raw(uint32_t{8}) + Raw(uint64_t{v.size()});
    for (const std::string& s : v) body += Str(s);
    Kv(key, 9, body);
  }
  void I32s(const std::string& key, const std::vector<int32_t>& v) {
    std::string body = Raw(uint32_t{5}) + Raw(uint64_t{v.size()});
    for (int32_t x : v) body += Raw(x);
    Kv(key, 9, body);
  }
  void F32s(const std::string& key, const std::vector<float>& v) {
    std::string body = Raw(uint32_t{6}) + Raw(uint64_t{v.size()});
    for (float x : v) body += Raw(x);
    Kv(key, 9, body);
  }
  // A tensor of ggml type `type` with `dims` innermost first and raw `bytes`.
  void Tensor(const std::string& name, std::vector<uint64_t> dims, uint32_t type,
              const std::string& bytes) {
    for (T& t : tensors_) {
      if (replace && t.name == name) {
        t = {name, std::move(dims), type, bytes};
        return;
      }
    }
    tensors_.push_back({name, std::move(dims), type, bytes});
  }
  // An F32 tensor of the given values.
  void F32Tensor(const std::string& name, std::vector<uint64_t> dims,
                 const std::vector<float>& values) {
    std::string bytes(values.size() * 4, '\0');
    std::memcpy(bytes.data(), values.data(), bytes.size());
    Tensor(name, std::move(dims), 0, bytes);
  }

  std::string Build() const {
    std::string out =
        "GGUF" + Raw(version_) + Raw(uint64_t{tensors_.size()}) + Raw(uint64_t{kvs_.size()});
    for (const auto& kv : kvs_) out += kv.second;
    uint64_t offset = 0;
    std::vector<uint64_t> offsets;
    for (const auto& t : tensors_) {
      out += Str(t.name) + Raw(static_cast<uint32_t>(t.dims.size()));
      for (uint64_t d : t.dims) out += Raw(d);
      out += Raw(t.type) + Raw(offset);
      offsets.push_back(offset);
      offset += (t.bytes.size() + alignment_ - 1) / alignment_ * alignment_;
    }
    out.resize((out.size() + alignment_ - 1) / alignment_ * alignment_, '\0');
    const size_t data_start = out.size();
    for (size_t i = 0; i < tensors_.size(); ++i) {
      out.resize(data_start + offsets[i], '\0');
      out += tensors_[i].bytes;
    }
    return out;
  }

 private:
  struct T {
    std::string name;
    std::vector<uint64_t> dims;
    uint32_t type;
    std::string bytes;
  };
  template <typename V>
  static std::string Raw(V v) {
    std::string s(sizeof(V), '\0');
    std::memcpy(s.data(), &v, sizeof(V));
    return s;
  }
  static std::string Str(const std::string& s) { return Raw(uint64_t{s.size()}) + s; }
  void Kv(const std::string& key, uint32_t type, const std::string& value) {
    for (auto& kv : kvs_) {
      if (replace && kv.first == key) {
        kv.second = Str(key) + Raw(type) + value;
        return;
      }
    }
    kvs_.push_back({key, Str(key) + Raw(type) + value});
  }

  uint32_t version_;
  uint64_t alignment_;
  std::vector<std::pair<std::string, std::string>> kvs_;  // key, encoded entry
  std::vector<T> tensors_;
};

}  // namespace infmem::formats::testing

#endif  // INFMEM_TESTS_FORMATS_GGUF_BUILDER_H_
