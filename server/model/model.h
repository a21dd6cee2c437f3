// Model: one loaded ∞-former (MODEL.md) on one device, behind a torch-free interface.
// Owns the weights and the LTM constants; immutable after Load/CreateRandom, so Prefill and
// DecodeStep may be called from any thread, but a SessionState must not be used by two calls
// at once (the caller serialises per session; the server's scheduler runs one model loop).
#ifndef INFMEM_SERVER_MODEL_MODEL_H_
#define INFMEM_SERVER_MODEL_MODEL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "server/model/config.h"
#include "server/model/session_state.h"

namespace infmem::model {

struct ModelOptions {
  std::string device = "auto";    // "cpu", "cuda", "cuda:N" or "auto" (cuda when available)
  std::string dtype = "float32";  // compute and state dtype: "float32" or "float64"
  int threads = 0;                // intra-op CPU threads; 0 = number of cores
  // On the CPU, decode attention runs as one fused kernel over the sessions' state; false
  // keeps the tensor-operation path (used on CUDA), for comparing the two.
  bool decode_kernel = true;
  // Weights of the per-token linear layers: "float32", "bfloat16" (each weight rounded to
  // bfloat16) or "int8" (8-bit weight-only with a scale per output channel); the reduced
  // formats are CPU only (decode_linear.h). The fingerprint stays the checkpoint's, so
  // sessions move between a model's float32, bfloat16 and int8 servers.
  std::string weights = "float32";
  // Element type of the STM's keys and values (full mode's KV cache): "float32", or
  // "float16" (half the bytes a decode step reads and a session holds; CPU with float32
  // compute only). Snapshots store them as float32 either way.
  std::string kv_cache = "float32";
};

// Tensor storage dtype when saving weights (shipped models may use bf16 to stay small).
enum class WeightStorage { kFloat32, kBFloat16, kFloat16 };

// Returns the median GFLOP/s of `reps` float32 [n×n]·[n×n] matrix products on the device
// and threads of `options`: the machine's GEMM rate, for judging the model's efficiency.
absl::StatusOr<double> MeasureGemmGflops(const ModelOptions& options, int n, int reps);

class Model {
 public:
  struct Impl;

  // Loads `model_dir`/config.json and `model_dir`/model.safetensors.
  static absl::StatusOr<std::unique_ptr<Model>> Load(const std::string& model_dir,
                                                     const ModelOptions& options);
  // Builds a model with random weights drawn from `seed` (tests, benchmarks).
  static absl::StatusOr<std::unique_ptr<Model>> CreateRandom(const ModelConfig& config,
                                                             uint64_t seed,
                                                             const ModelOptions& options);
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  // Writes config.json and model.safetensors into `model_dir` (created if missing).
  absl::Status Save(const std::string& model_dir, WeightStorage storage) const;

  const ModelConfig& config() const;
  // Returns a stable hex digest of the config and the weights; snapshots carry it.
  const std::string& fingerprint() const;
  // Returns the device the model runs on, e.g. "cpu" or "cuda:0".
  std::string device() const;
  // Returns the bytes one session's state occupies (constant in infinite and window modes).
  int64_t StateBytes() const;
  // Returns the number of weight parameters.
  int64_t ParameterCount() const;
  // Returns the floating-point operations one prefill token costs on average (projections,
  // feed-forward, STM and LTM attention, the amortised LTM update at segment boundaries; the
  // LM head once per call is left out), for throughput reports.
  double PrefillFlopsPerToken() const;
  // Returns the median seconds, over `reps` runs, of the weight matrix products alone of one
  // decode step of `rows` sessions (every projection and feed-forward layer, the LM head): a
  // floor under the step's time on this device, for benchmarks.
  absl::StatusOr<double> DecodeStepGemmSeconds(int rows, int reps) const;

  // Creates the state of a fresh session whose sticky-memory draws derive from `seed`.
  std::unique_ptr<SessionState> NewSession(uint64_t seed) const;
  // Returns a deep copy of `state` (fork).
  std::unique_ptr<SessionState> Clone(const SessionState& state) const;

  // Feeds `tokens` (any number, >= 1) into `state` in segment-sized chunks and returns the
  // logits [V] that follow the last one. InvalidArgument for an id outside [0, V).
  absl::StatusOr<std::vector<float>> Prefill(SessionState& state,
                                             absl::Span<const int32_t> tokens) const;

  // Advances each of `states` by its token in `tokens` (same length) in one batched forward
  // and returns the logits row-major [B, V]. The states may have any lengths; each must
  // appear once.
  absl::StatusOr<std::vector<float>> DecodeStep(absl::Span<SessionState* const> states,
                                                absl::Span<const int32_t> tokens) const;

  // Serialises `state` to a safetensors image with metadata (format version, model
  // fingerprint, token count, seed, checksum).
  absl::StatusOr<std::string> SerializeState(const SessionState& state) const;
  // Parses a serialised state. DataLoss for a truncated or corrupted image,
  // FailedPrecondition for a state made by another model, InvalidArgument for other
  // malformations.
  absl::StatusOr<std::unique_ptr<SessionState>> DeserializeState(std::string bytes) const;

  Impl& impl() const { return *impl_; }

 private:
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace infmem::model

#endif  // INFMEM_SERVER_MODEL_MODEL_H_
