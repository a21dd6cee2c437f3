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

// The most activation rows the fused kernels take outside a decode step (a prefill chunk of
// more goes to BLAS's GEMM). Inside one they take every row: brown-lm decoded 4 sessions per
// step in 0.54 ms through the kernel and 5 in 2.06 ms through GEMM; 32 in 4.4 ms through GEMM.
inline constexpr int64_t kMaxDecodeRows = 4;

// Whether the fused CPU kernels (this file's and decode_ops.h's) take `rows` activation rows
// on this thread: at most kMaxDecodeRows, or as many as the decode step in progress has.
bool FusedRows(int64_t rows);

// Marks a decode step of `rows` sessions on this thread: while one lives, the fused kernels
// take that many rows (the step's LTM updates, N rows per session, still go to GEMM). They
// compute each row alone, in the same order whatever the batch, so a session's logits and
// state never depend on which sessions shared its steps (a journal replayed one session at a
// time rebuilds the state bit for bit); BLAS's GEMM at 5 rows and more does not guarantee that.
class DecodeStepScope {
 public:
  explicit DecodeStepScope(int64_t rows);
  ~DecodeStepScope();
  DecodeStepScope(const DecodeStepScope&) = delete;
  DecodeStepScope& operator=(const DecodeStepScope&) = delete;

 private:
  int64_t outer_;
};

// x [..., in] float32 on the CPU · Wᵀ → [..., out], each row and each output channel computed
// the same way whatever the number of rows and threads.
torch::Tensor DecodeLinear(const torch::Tensor& x, const DecodeWeight& w);

}  // namespace infmem::model

#endif  // INFMEM_SERVER_MODEL_KERNELS_DECODE_LINEAR_H_
