// Internal to server/model/ (includes torch): 8-bit weight-only linear layers for decode on
// the CPU (ModelOptions::weights = "int8"). Each weight row (output channel) is quantized
// symmetrically, q = round(w / s) in [-127, 127] with s = max|w_row| / 127; the float32
// weight is replaced by q·s, so prefill's GEMMs and the decode kernel compute with the same
// weights. Decode (a few rows of activations) then reads one byte per weight instead of four:
// decode is bound by reading the weights, once per step.
#ifndef INFMEM_SERVER_MODEL_INT8_LINEAR_H_
#define INFMEM_SERVER_MODEL_INT8_LINEAR_H_

#include <torch/torch.h>

namespace infmem::model {

struct Int8Weight {
  torch::Tensor q;      // [out, in] int8
  torch::Tensor scale;  // [out] float32
  bool defined() const { return q.defined(); }
};

// Quantizes the float32 CPU matrix `w` [out, in] per row, replaces it by its dequantized
// values and returns the 8-bit copy.
Int8Weight QuantizeInt8InPlace(torch::Tensor& w);

// The most activation rows for which Int8Linear beats a float32 GEMM on the dequantized
// weights: measured, a batched decode of 8 sessions through it ran at 205 tokens/s against
// 348 through the GEMM, so only steps of a few sessions take it (prefill chunks never).
inline constexpr int64_t kMaxInt8Rows = 4;

// x [..., in] float32 on the CPU · (q·s)ᵀ → [..., out]. Reads each weight once for all rows.
torch::Tensor Int8Linear(const torch::Tensor& x, const Int8Weight& w);

}  // namespace infmem::model

#endif  // INFMEM_SERVER_MODEL_INT8_LINEAR_H_
