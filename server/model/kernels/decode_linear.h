// Internal to server/model/ (includes torch): the linear layers of a decode step on the CPU.
// A decode step multiplies a few rows of activations (one per session) by every weight
// matrix, so its time is the time to read the weights once: BLAS's GEMV runs on one core
// (BLIS threads level-3 only), and reads a float32 weight at about what one core can stream
// (10.5 GB/s measured, two cores read 16.5). These kernels split the output channels across
// the intra-op threads and read each weight once for all rows, in the weight's own format:
//   float32   the weight itself;
//   bfloat16  (ModelOptions::weights = "bfloat16") half the bytes: each weight rounded to
//             the nearest bfloat16;
//   int8      (ModelOptions::weights = "int8") a quarter: each output channel quantized
//             symmetrically, q = round(w / s) in [-127, 127], s = max|w_row| / 127.
// For the reduced formats the float32 weight is replaced by the values the copy holds, so
// prefill's GEMMs and decode compute with the same weights.
#ifndef INFMEM_SERVER_MODEL_KERNELS_DECODE_LINEAR_H_
#define INFMEM_SERVER_MODEL_KERNELS_DECODE_LINEAR_H_

#include <torch/torch.h>

#include <cstdint>

namespace infmem::model {

enum class DecodeFormat { kFloat32, kBfloat16, kInt8 };

struct DecodeWeight {
  DecodeFormat format = DecodeFormat::kFloat32;
  torch::Tensor data;   // [out, in]: float32 (shares the weight), bfloat16 or int8
  torch::Tensor scale;  // [out] float32: int8 only
  bool defined() const { return data.defined(); }
};

// Prepares the float32 CPU matrix `w` [out, in] for decode in `format`; for the reduced
// formats `w` is overwritten with the values the returned copy represents.
DecodeWeight PrepareDecodeWeight(torch::Tensor& w, DecodeFormat format);

// The least bytes a thread's share of a decode-step kernel must read before the kernel splits
// across threads: waking a sleeping OpenMP thread (the server runs OMP_WAIT_POLICY=passive)
// costs tens of microseconds, more than a small model's whole matrix takes to read (brown-lm
// decoded one session at 0.88 ms per step split, 0.49 ms unsplit).
inline constexpr int64_t kMinParallelBytes = 512 << 10;

// The most activation rows DecodeLinear takes; more (batched decode of many sessions,
// prefill) go to BLAS's GEMM, which at 8 rows beat the int8 kernel (348 against 205
// tokens/s, measured).
inline constexpr int64_t kMaxDecodeRows = 4;

// x [..., in] float32 on the CPU (at most kMaxDecodeRows rows) · Wᵀ → [..., out].
torch::Tensor DecodeLinear(const torch::Tensor& x, const DecodeWeight& w);

}  // namespace infmem::model

#endif  // INFMEM_SERVER_MODEL_KERNELS_DECODE_LINEAR_H_
