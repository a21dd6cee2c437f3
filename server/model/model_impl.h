// Internal to server/model/ (includes torch): the weight modules, Model::Impl and
// SessionState::Impl. Tensor names of the weights file are the parameter paths of Net, in
// the naming of Meta's LLaMA checkpoints, plus the LTM's own:
//   tok_embeddings.weight                     [V, e]
//   layers.{i}.attention_norm.weight          [e]
//   layers.{i}.attention.wq.weight            [h·d, e]      (out × in, as torch Linear)
//   layers.{i}.attention.{wk,wv}.weight       [kv·d, e]     (kv = n_kv_heads: grouped-query)
//   layers.{i}.attention.wo.weight            [e, h·d]      (h·d = e unless head_dim is set)
//   layers.{i}.attention.{wq,wk,wv}.bias      [h·d], [kv·d] (attention_bias only)
//   layers.{i}.attention.{q_norm,k_norm}.weight  [d]        (qk_norm only)
//   layers.{i}.ffn_norm.weight                [e]
//   layers.{i}.feed_forward.{w1,w3}.weight    [f, e]
//   layers.{i}.feed_forward.w2.weight         [e, f]
//   layers.{i}.ltm.gate.weight                [e, e, 3]      (Conv1d over time, padding 1)
//   layers.{i}.ltm.gate.bias                  [e]
//   layers.{i}.ltm.{wk,wv}.weight             [h·d, e]       (LTM keys, values)
//   layers.{i}.ltm.wo.weight                  [e, h·d]       (LTM output)
//   layers.{i}.ltm.w_mu, layers.{i}.ltm.w_sigma  [N]
//   norm.weight                               [e]
//   output.weight                             [V, e]         (absent when tie_embeddings)
// The ltm.* tensors exist only in `infinite` mode.
#ifndef INFMEM_SERVER_MODEL_MODEL_IMPL_H_
#define INFMEM_SERVER_MODEL_MODEL_IMPL_H_

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "server/model/config.h"
#include "server/model/kernels/decode_linear.h"
#include "server/model/ltm.h"
#include "server/model/model.h"
#include "server/model/session_state.h"

namespace infmem::model {

// A module holding one parameter named "weight" (and optionally "bias").
struct Param : torch::nn::Module {
  explicit Param(torch::IntArrayRef shape, bool with_bias = false);
  torch::Tensor weight;
  torch::Tensor bias;    // undefined unless with_bias
  DecodeWeight reduced;  // ModelOptions::weights bfloat16/int8: the copy decode reads
};

// x · Wᵀ (+ bias, when `p` has one): a few rows without autograd on the CPU through DecodeLinear
// (the reduced copy when `p` has one), anything else through torch::linear.
torch::Tensor Linear(const torch::Tensor& x, const std::shared_ptr<Param>& p);

struct Attention : torch::nn::Module {
  explicit Attention(const ModelConfig& config);
  std::shared_ptr<Param> wq, wk, wv, wo;
  std::shared_ptr<Param> q_norm, k_norm;  // null unless config.qk_norm
};

struct FeedForward : torch::nn::Module {
  FeedForward(int64_t dim, int64_t hidden);
  std::shared_ptr<Param> w1, w2, w3;
};

struct LtmWeights : torch::nn::Module {
  LtmWeights(int64_t dim, int64_t heads_dim, int64_t num_basis);
  std::shared_ptr<Param> gate, wk, wv, wo;
  torch::Tensor w_mu, w_sigma;
};

struct Layer : torch::nn::Module {
  explicit Layer(const ModelConfig& config);
  std::shared_ptr<Param> attention_norm, ffn_norm;
  std::shared_ptr<Attention> attention;
  std::shared_ptr<FeedForward> feed_forward;
  std::shared_ptr<LtmWeights> ltm;  // null unless memory == kInfinite
};

struct Net : torch::nn::Module {
  explicit Net(const ModelConfig& config);
  std::shared_ptr<Param> tok_embeddings, norm, output;  // output null when tied
  std::vector<std::shared_ptr<Layer>> layers;
  torch::Tensor OutputWeight() const { return output ? output->weight : tok_embeddings->weight; }
  // The output projection (logits) of normalised `x`, 8-bit when the weights are.
  torch::Tensor Logits(const torch::Tensor& x) const {
    return Linear(x, output ? output : tok_embeddings);
  }
};

// Per-layer state tensors (MODEL.md §6), preallocated at their maximum size except in `full`
// mode, whose STM grows with the context.
struct LayerState {
  torch::Tensor stm_k, stm_v;  // [2L, kv, d] slots [0,L) previous segment, [L,2L) current;
                               // full mode: [capacity, kv, d], the first tokens_seen valid
  torch::Tensor inputs;        // [2L, e] normalised inputs, same slots (infinite only)
  torch::Tensor coef;          // [N, e] LTM coefficients B (infinite only)
  torch::Tensor k_ltm, v_ltm;  // [N, h, d] = B·W_K, B·W_V, kept until the next update
  torch::Tensor hist;          // [D] sticky histogram (infinite only)
};

// Full mode: makes `ls`'s KV buffers hold at least `needed` slots, keeping their first `used`.
// Capacity doubles, so appends cost amortised O(1) copies per token.
void EnsureKvCapacity(LayerState& ls, int64_t used, int64_t needed);

struct SessionState::Impl {
  std::vector<LayerState> layers;
  int64_t tokens_seen = 0;
  uint64_t seed = 0;
  int64_t ltm_updates = 0;
};

// What one forward returns.
struct ForwardOutput {
  torch::Tensor logits;  // [R, T, V], or [R, 1, V] for the last position only
  torch::Tensor kl;      // scalar mean KL term over (layer, head, query) attending the LTM;
                         // zero when none did
};

struct Model::Impl {
  ModelConfig config;
  torch::Device device{torch::kCPU};
  torch::TensorOptions options;                  // dtype + device of weights and state
  torch::ScalarType kv_dtype = torch::kFloat32;  // the STM's keys and values
  std::shared_ptr<Net> net;
  LtmConstants ltm;        // infinite mode only
  torch::Tensor inv_freq;  // [d/2] float64 on the device: RoPE frequencies
  std::string fingerprint;
  int64_t state_bytes = 0;    // bytes of a fresh session's state
  bool decode_kernel = true;  // ModelOptions::decode_kernel

  // Builds the impl with uninitialised weights on `device`.
  static absl::StatusOr<std::unique_ptr<Impl>> Create(const ModelConfig& config,
                                                      const ModelOptions& options);

  // Runs `tokens` [R, T] through the rows (one session each) and updates their states.
  // Every row must fit T tokens in its current segment (T <= L - tokens_seen % L) unless the
  // mode is `full`. Runs with autograd when grad mode is on (training): the memories stay
  // detached, gradients reach the weights through the current chunk only.
  ForwardOutput Forward(absl::Span<SessionState::Impl* const> rows, const torch::Tensor& tokens,
                        bool all_logits) const;

  // Creates a fresh session state.
  std::unique_ptr<SessionState::Impl> NewState(uint64_t seed) const;

  // Fills the weights with the random initialisation from `seed`.
  void InitRandom(uint64_t seed);
  // Loads the weights from a safetensors file; errors name the tensor.
  absl::Status LoadWeights(const std::string& path);
  absl::Status SaveWeights(const std::string& path, WeightStorage storage) const;
  // Computes `fingerprint` from the config and the weights.
  void ComputeFingerprint();
  // ModelOptions::weights "bfloat16" or "int8" (validated by Create): rounds the weights of
  // every per-token linear layer to that format and keeps the reduced copies decode reads
  // (decode_linear.h). "float32": nothing.
  void ReduceWeights(const std::string& weights);
};

}  // namespace infmem::model

#endif  // INFMEM_SERVER_MODEL_MODEL_IMPL_H_
