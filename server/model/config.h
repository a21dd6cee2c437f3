// ModelConfig: the architecture and constants of one ∞-former model, read from the model
// directory's config.json (MODEL.md §2, §7). Plain data; no torch. Immutable once loaded.
#ifndef INFMEM_SERVER_MODEL_CONFIG_H_
#define INFMEM_SERVER_MODEL_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace infmem::model {

// How a model remembers what is older than its short-term window.
enum class MemoryMode {
  kInfinite,  // STM + continuous LTM (the product)
  kWindow,    // STM only: the Transformer-XL-style baseline
  kFull,      // unbounded KV cache: the vanilla-transformer baseline
};

absl::string_view MemoryModeName(MemoryMode mode);

// Long-term memory constants (MODEL.md §2, §4).
struct LtmConfig {
  int num_basis = 512;                         // N, even
  int num_samples = 512;                       // M
  double tau = 0.5;                            // τ in (0, 1)
  double ridge_lambda = 0.5;                   // λ > 0
  std::vector<double> widths = {0.005, 0.01};  // basis widths; 2 entries
  bool sticky = true;                          // sticky memories on/off
  int sticky_bins = 128;                       // D
  double sigma0 = 0.05;                        // σ0 of the KL term
  double kl_weight = 1e-6;                     // weight of the KL term (training only)
};

// How RoPE pairs the dimensions of a head: (2j, 2j+1) as Meta's LLaMA checkpoints and our
// own models, or (j, j + d/2) as Hugging Face stores LLaMA-family weights ("rotate half").
enum class RopeLayout { kInterleaved, kHalf };

// Rescaling of RoPE frequencies for long contexts; only the `llama3` kind (Llama 3.1's).
struct RopeScaling {
  std::string kind;  // "" (none) or "llama3"
  double factor = 8.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int original_max_position_embeddings = 8192;
};

struct TokenizerConfig {
  std::string kind = "sentencepiece";    // "sentencepiece" | "huggingface" | "symbol"
  std::string file = "tokenizer.model";  // relative to the model directory; empty for symbol
};

struct ModelConfig {
  std::string architecture = "infformer-llama";
  std::string name;    // free-form model name, shown by GetModel
  int vocab_size = 0;  // V
  int dim = 0;         // e
  int n_layers = 0;
  int n_heads = 0;              // h; dim % n_heads == 0
  int n_kv_heads = 0;           // key/value heads (grouped-query attention); 0 = n_heads
  int explicit_head_dim = 0;    // per-head width; 0 = dim / n_heads (Qwen3 sets its own)
  bool attention_bias = false;  // q/k/v projections have biases (Qwen2)
  bool qk_norm = false;         // RMSNorm over each head of q and k before RoPE (Qwen3)
  int ffn_dim = 0;              // SwiGLU hidden width
  int segment_length = 0;       // L
  double norm_eps = 1e-5;
  double rope_theta = 10000.0;
  RopeLayout rope_layout = RopeLayout::kInterleaved;
  RopeScaling rope_scaling;
  bool tie_embeddings = false;
  MemoryMode memory = MemoryMode::kInfinite;
  LtmConfig ltm;
  TokenizerConfig tokenizer;
  int bos_id = -1;  // -1: none
  int eos_id = -1;  // -1: none

  int head_dim() const { return explicit_head_dim > 0 ? explicit_head_dim : dim / n_heads; }
  int kv_heads() const { return n_kv_heads > 0 ? n_kv_heads : n_heads; }
  int q_dim() const { return n_heads * head_dim(); }  // width of the attention's heads
  int kv_dim() const { return kv_heads() * head_dim(); }
};

// The one architecture this code implements.
inline constexpr absl::string_view kArchitecture = "infformer-llama";

// Parses and validates config.json text. Errors are InvalidArgument and name the field
// (for example "config.json: field 'dim' must be a positive integer, got -3").
absl::StatusOr<ModelConfig> ParseModelConfig(absl::string_view json_text);

// Reads and parses `path`; NotFound when the file is missing.
absl::StatusOr<ModelConfig> ReadModelConfig(const std::string& path);

// Serialises `config` to config.json text that ParseModelConfig reads back unchanged.
std::string ModelConfigToJson(const ModelConfig& config);

}  // namespace infmem::model

#endif  // INFMEM_SERVER_MODEL_CONFIG_H_
