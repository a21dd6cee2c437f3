// Writing infmem model directories from converted checkpoints (Hugging Face, GGUF): the
// streamed safetensors writer, atomic text files, progress lines, and the freshly initialised
// long-term-memory tensors of an `infinite` import. Plain C++, no torch.
#ifndef INFMEM_SERVER_FORMATS_MODEL_DIR_WRITER_H_
#define INFMEM_SERVER_FORMATS_MODEL_DIR_WRITER_H_

#include <chrono>
#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/formats/safetensors.h"
#include "server/model/config.h"

namespace infmem::formats {

using Clock = std::chrono::steady_clock;

// Prints one progress line per tenth of the bytes, with the throughput so far.
class ProgressMeter {
 public:
  ProgressMeter(std::ostream* out, uint64_t total_bytes)
      : out_(out), total_(total_bytes), start_(Clock::now()) {}

  // Counts `bytes` more as done.
  void Add(uint64_t bytes);

 private:
  std::ostream* out_;
  uint64_t total_;
  uint64_t done_ = 0;
  int next_tenth_ = 1;
  Clock::time_point start_;
};

// Writes a safetensors file whose tensors arrive one at a time, in header order, so no more
// than one tensor need be in memory. The file is written under a temporary name and renamed
// by Finish; destroying an unfinished writer removes the temporary file. Not thread-safe.
class SafetensorsStreamWriter {
 public:
  // Starts `path` with the header of `tensors` (whose data is not read).
  static absl::StatusOr<std::unique_ptr<SafetensorsStreamWriter>> Open(
      const std::string& path, std::vector<TensorToWrite> tensors,
      const std::map<std::string, std::string>& metadata);
  ~SafetensorsStreamWriter();

  // Writes the bytes of the next tensor, which must be `name` with the declared size.
  absl::Status Append(absl::string_view name, const void* data, size_t size);
  // Closes the file and moves it to its final name; every tensor must have been appended.
  absl::Status Finish();

  uint64_t bytes_written() const { return bytes_written_; }

 private:
  SafetensorsStreamWriter(const std::string& path, std::vector<TensorToWrite> tensors)
      : path_(path), tmp_path_(path + ".tmp"), tensors_(std::move(tensors)) {}
  absl::Status WriteBytes(const void* data, size_t size);

  std::string path_;
  std::string tmp_path_;
  std::vector<TensorToWrite> tensors_;
  size_t next_ = 0;
  std::ofstream out_;
  uint64_t bytes_written_ = 0;
  bool finished_ = false;
};

// Writes `text` to `path` through a temporary file, so a reader never sees half a file.
absl::Status WriteTextFile(const std::string& path, const std::string& text);
absl::Status CopyFile(const std::string& from, const std::string& to);
absl::Status MakeDirectory(const std::string& dir);
double SecondsSince(Clock::time_point start);

// One LTM tensor to generate: its shape and the standard deviation of its normal
// initialisation (0: all zeros).
struct LtmTensor {
  TensorToWrite header;
  double stddev = 0;
};

// Lists the LTM tensors `config` needs (infinite mode) with their initialisation. The output
// projection is zero so that the LTM adds exactly nothing until fine-tuned (MODEL.md §6).
std::vector<LtmTensor> LtmTensors(const model::ModelConfig& config);

// Returns the float32 bytes of `tensor`, drawn from a stream seeded by `seed` and the
// tensor's name, so each tensor's values depend on nothing but the seed.
std::string GenerateLtmTensor(const LtmTensor& tensor, uint64_t seed);

// Generates each of `tensors` and appends it to `writer`, counting it in `meter`.
absl::Status AppendLtmTensors(const std::vector<LtmTensor>& tensors, uint64_t seed,
                              SafetensorsStreamWriter& writer, ProgressMeter& meter);

}  // namespace infmem::formats

#endif  // INFMEM_SERVER_FORMATS_MODEL_DIR_WRITER_H_
