// The pieces of model_dir_writer.h that are not inline.
#include "server/formats/model_dir_writer.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/common/hash.h"
#include "server/common/status_macros.h"

namespace infmem::formats {

namespace fs = std::filesystem;

void ProgressMeter::Add(uint64_t bytes) {
  done_ += bytes;
  if (out_ == nullptr || total_ == 0) return;
  // One line even when a large tensor crosses several tenths at once.
  const int tenth = static_cast<int>(std::min<uint64_t>(done_ * 10 / total_, 10));
  if (tenth < next_tenth_) return;
  const double seconds = std::chrono::duration<double>(Clock::now() - start_).count();
  const double mb = static_cast<double>(done_) / 1e6;
  *out_ << absl::StrFormat("  %3d%%  %.1f of %.1f MB  %.1f MB/s\n", tenth * 10, mb,
                           static_cast<double>(total_) / 1e6, seconds > 0 ? mb / seconds : 0.0);
  out_->flush();
  next_tenth_ = tenth + 1;
}

absl::StatusOr<std::unique_ptr<SafetensorsStreamWriter>> SafetensorsStreamWriter::Open(
    const std::string& path, std::vector<TensorToWrite> tensors,
    const std::map<std::string, std::string>& metadata) {
  ASSIGN_OR_RETURN(const std::string preamble, SafetensorsPreamble(tensors, metadata));
  auto writer =
      std::unique_ptr<SafetensorsStreamWriter>(new SafetensorsStreamWriter(path, tensors));
  writer->out_.open(writer->tmp_path_, std::ios::binary | std::ios::trunc);
  if (!writer->out_) {
    return absl::InternalError(
        absl::StrCat(writer->tmp_path_, ": cannot create: ", std::strerror(errno)));
  }
  RETURN_IF_ERROR(writer->WriteBytes(preamble.data(), preamble.size()));
  return writer;
}

SafetensorsStreamWriter::~SafetensorsStreamWriter() {
  if (!finished_) {
    out_.close();
    std::error_code ignored;
    fs::remove(tmp_path_, ignored);
  }
}

absl::Status SafetensorsStreamWriter::Append(absl::string_view name, const void* data,
                                             size_t size) {
  if (next_ >= tensors_.size() || tensors_[next_].name != name ||
      tensors_[next_].size_bytes != size) {
    return absl::InternalError(
        absl::StrCat(path_, ": tensor '", name, "' (", size, " bytes) written out of order"));
  }
  ++next_;
  return WriteBytes(data, size);
}

absl::Status SafetensorsStreamWriter::Finish() {
  if (next_ != tensors_.size()) {
    return absl::InternalError(
        absl::StrCat(path_, ": only ", next_, " of ", tensors_.size(), " tensors written"));
  }
  out_.close();
  if (!out_) return absl::InternalError(absl::StrCat(tmp_path_, ": write failed"));
  std::error_code error;
  fs::rename(tmp_path_, path_, error);
  if (error) {
    return absl::InternalError(
        absl::StrCat(tmp_path_, ": cannot rename to ", path_, ": ", error.message()));
  }
  finished_ = true;
  return absl::OkStatus();
}

absl::Status SafetensorsStreamWriter::WriteBytes(const void* data, size_t size) {
  out_.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (!out_) {
    return absl::InternalError(
        absl::StrCat(tmp_path_, ": write failed (disk full?): ", std::strerror(errno)));
  }
  bytes_written_ += size;
  return absl::OkStatus();
}

// Writes `text` to `path` through a temporary file, so a reader never sees half a file.
absl::Status WriteTextFile(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.close();
    if (!out) {
      std::error_code ignored;
      fs::remove(tmp, ignored);
      return absl::InternalError(absl::StrCat(tmp, ": write failed"));
    }
  }
  std::error_code error;
  fs::rename(tmp, path, error);
  if (error) {
    return absl::InternalError(absl::StrCat(tmp, ": cannot rename: ", error.message()));
  }
  return absl::OkStatus();
}

absl::Status CopyFile(const std::string& from, const std::string& to) {
  std::error_code error;
  fs::copy_file(from, to, fs::copy_options::overwrite_existing, error);
  if (error) {
    return absl::InternalError(absl::StrCat(from, ": cannot copy to ", to, ": ", error.message()));
  }
  return absl::OkStatus();
}

absl::Status MakeDirectory(const std::string& dir) {
  std::error_code error;
  fs::create_directories(dir, error);
  if (error) {
    return absl::InternalError(absl::StrCat(dir, ": cannot create directory: ", error.message()));
  }
  return absl::OkStatus();
}

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

namespace {

// Normal deviates from a SplitMix64 stream by the Box-Muller transform: deterministic for a
// seed on every platform (unlike std::normal_distribution).
class NormalStream {
 public:
  explicit NormalStream(uint64_t seed) : state_(seed) {}

  double Next() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    constexpr double kTwoPi = 6.283185307179586;
    // u1 in (0, 1] so that log(u1) is finite; u2 in [0, 1).
    const double u1 = static_cast<double>((SplitMix64(state_) >> 11) + 1) * 0x1.0p-53;
    const double u2 = static_cast<double>(SplitMix64(state_) >> 11) * 0x1.0p-53;
    const double r = std::sqrt(-2.0 * std::log(u1));
    spare_ = r * std::sin(kTwoPi * u2);
    has_spare_ = true;
    return r * std::cos(kTwoPi * u2);
  }

 private:
  uint64_t state_;
  bool has_spare_ = false;
  double spare_ = 0;
};

}  // namespace

// Lists the LTM tensors `config` needs (infinite mode) with their initialisation. The output
// projection is zero so that the LTM adds exactly nothing until fine-tuned (MODEL.md §6).
std::vector<LtmTensor> LtmTensors(const model::ModelConfig& config) {
  std::vector<LtmTensor> tensors;
  if (config.memory != model::MemoryMode::kInfinite) return tensors;
  const int64_t e = config.dim;
  const int64_t q = config.q_dim();
  const int64_t n = config.ltm.num_basis;
  const double basis_stddev = 1.0 / std::sqrt(static_cast<double>(n));
  for (int i = 0; i < config.n_layers; ++i) {
    const std::string p = absl::StrCat("layers.", i, ".ltm.");
    auto add = [&](const std::string& name, std::vector<int64_t> shape, double stddev) {
      int64_t numel = 1;
      for (int64_t d : shape) numel *= d;
      tensors.push_back({TensorToWrite{name, DType::kF32, std::move(shape), nullptr,
                                       static_cast<size_t>(numel) * sizeof(float)},
                         stddev});
    };
    add(p + "gate.weight", {e, e, 3}, 0.02);
    add(p + "gate.bias", {e}, 0.0);
    add(p + "wk.weight", {q, e}, 0.02);
    add(p + "wv.weight", {q, e}, 0.02);
    add(p + "wo.weight", {e, q}, 0.0);
    add(p + "w_mu", {n}, basis_stddev);
    add(p + "w_sigma", {n}, basis_stddev);
  }
  return tensors;
}

// Returns the float32 bytes of `tensor`, drawn from a stream seeded by `seed` and the
// tensor's name, so each tensor's values depend on nothing but the seed.
std::string GenerateLtmTensor(const LtmTensor& tensor, uint64_t seed) {
  const size_t numel = tensor.header.size_bytes / sizeof(float);
  std::vector<float> values(numel, 0.0f);
  if (tensor.stddev > 0) {
    const std::string& name = tensor.header.name;
    NormalStream normal(MixSeed(seed, Fnv1a64(name.data(), name.size())));
    for (float& v : values) v = static_cast<float>(tensor.stddev * normal.Next());
  }
  // safetensors is little-endian, as is every platform infmem builds for.
  std::string bytes(numel * sizeof(float), '\0');
  std::memcpy(bytes.data(), values.data(), bytes.size());
  return bytes;
}

absl::Status AppendLtmTensors(const std::vector<LtmTensor>& tensors, uint64_t seed,
                              SafetensorsStreamWriter& writer, ProgressMeter& meter) {
  for (const LtmTensor& t : tensors) {
    const std::string bytes = GenerateLtmTensor(t, seed);
    RETURN_IF_ERROR(writer.Append(t.header.name, bytes.data(), bytes.size()));
    meter.Add(bytes.size());
  }
  return absl::OkStatus();
}

}  // namespace infmem::formats
