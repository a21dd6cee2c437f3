// Internal to server/model/ (includes torch): the elementwise operations of a decode step
// (RMSNorm, RoPE, SwiGLU's gate) as single loops on the CPU. A decode step has a few rows,
// so each torch operation costs its dispatch and an allocation more than its arithmetic:
// RMSNorm alone was seven of them (pow, sum, div, add, rsqrt, mul, mul), and a step of the
// 30M benchmark model spent about 2.5 ms in per-operation work (torch's profiler). Each
// function takes the fused path for float32 CPU tensors of at most kMaxDecodeRows rows
// without autograd, and the tensor operations otherwise (CUDA, float64, prefill, training):
// the two compute the same maths (tests compare them).
#ifndef INFMEM_SERVER_MODEL_KERNELS_DECODE_OPS_H_
#define INFMEM_SERVER_MODEL_KERNELS_DECODE_OPS_H_

#include <torch/torch.h>

#include "server/model/config.h"

namespace infmem::model {

// x · rsqrt(mean(x²) + eps) · w over the last dimension.
torch::Tensor RmsNorm(const torch::Tensor& x, const torch::Tensor& w, double eps);

// cos and sin of the RoPE angles [R, T, 1, d/2] (rope tables, model.cc).
struct RopeTables {
  torch::Tensor cos, sin;
};

// Rotates the pairs of `x` [R, T, heads, d] by the tables' angles: interleaved pairs
// (x[2j], x[2j+1]), or in the half layout (x[j], x[j + d/2]).
torch::Tensor Rope(const torch::Tensor& x, const RopeTables& rope, RopeLayout layout);

// silu(a) · b, SwiGLU's gated product.
torch::Tensor SiluMul(const torch::Tensor& a, const torch::Tensor& b);

}  // namespace infmem::model

#endif  // INFMEM_SERVER_MODEL_KERNELS_DECODE_OPS_H_
