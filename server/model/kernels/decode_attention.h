// Internal to server/model/ (includes torch): the attention of one decode token per session,
// batched over the sessions of a decode step. Two implementations of the same maths:
//   - on the CPU, a fused kernel that reads each session's STM and LTM where they lie (only
//     the valid key slots), so a step's cost grows with the state actually read and not with
//     per-session tensor operations, stacked copies and intermediates;
//   - elsewhere (CUDA), stacked tensor operations, whose per-operation cost is a launch.
#ifndef INFMEM_SERVER_MODEL_KERNELS_DECODE_ATTENTION_H_
#define INFMEM_SERVER_MODEL_KERNELS_DECODE_ATTENTION_H_

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "server/model/model_impl.h"

namespace infmem::model {

// The most query heads the CPU kernel serves (more: the tensor path; full mode then the
// generic forward).
inline constexpr int64_t kMaxKernelHeads = 256;

// The LTM of one layer of one row as a forward sees it.
struct LiveLtm {
  torch::Tensor k, v;  // [N, h, d]; undefined while the LTM is empty
};

// The inputs of DecodeAttention for layer `l`: one token per row. `live` is indexed [row][layer].
struct DecodeAttentionInput {
  const Model::Impl* impl = nullptr;
  absl::Span<SessionState::Impl* const> rows;
  int layer = 0;
  const std::vector<int64_t>* offset = nullptr;  // each row's position in its segment
  torch::Tensor q, qr;  // [R, 1, h, d]: query before RoPE (for the LTM) and after (STM)
  torch::Tensor k, v;   // [R, 1, kv, d]: key after RoPE, value
  torch::Tensor xn;     // [R, 1, e] normalised inputs (kept for the LTM update)
  const std::vector<std::vector<LiveLtm>>* live = nullptr;
};

// Writes each row's key, value and input into its STM slot, adds the LTM attention density
// to its sticky histogram, and returns the attention outputs after their output projections
// (STM and LTM summed) [R, 1, e]. `use_kernel` selects the fused CPU kernel (CPU tensors
// only); false runs the tensor-operation path, which tests compare against it.
torch::Tensor DecodeAttention(const DecodeAttentionInput& in, bool use_kernel);

}  // namespace infmem::model

#endif  // INFMEM_SERVER_MODEL_KERNELS_DECODE_ATTENTION_H_
