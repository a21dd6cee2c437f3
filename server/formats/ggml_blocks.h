// The ggml tensor types infmem reads from GGUF files, their block layouts, and their
// dequantization to float32 (the formulas of ggml's reference dequantizers, written here from
// the block layouts; PEERS_AND_FORMATS.md §E3). Each function computes every value with the
// same float32 operations in the same order as llama.cpp's gguf-py reference, so the results
// are bit-identical to it (tests/formats/ggml_blocks_test.cc checks this on random blocks).
//   F32, F16, BF16: plain elements.
//   Q8_0  (32 per block, 34 bytes):  f16 d; int8 q[32]             x = d·q
//   Q4_0  (32 per block, 18 bytes):  f16 d; u8 q[16]               x = d·(nibble − 8)
//   Q4_K  (256 per block, 144 bytes): f16 d, dmin; u8 scales[12]; u8 q[128]
//                                     x = (d·sc)·nibble − dmin·m    (6-bit sc, m per 32)
//   Q6_K  (256 per block, 210 bytes): u8 ql[128], qh[64]; int8 sc[16]; f16 d
//                                     x = (d·sc)·(q − 32)            (6-bit q, sc per 16)
// Thread-safety: stateless functions.
#ifndef INFMEM_SERVER_FORMATS_GGML_BLOCKS_H_
#define INFMEM_SERVER_FORMATS_GGML_BLOCKS_H_

#include <cstddef>
#include <cstdint>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace infmem::formats {

// The ggml type ids, as GGUF stores them.
enum class GgmlType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ8_0 = 8,
  kQ4_K = 12,
  kQ6_K = 14,
  kBF16 = 30,
};

// The type with GGUF id `id`, or nullopt for one infmem does not read.
std::optional<GgmlType> GgmlTypeFromId(uint32_t id);
// "F32", "Q4_K", ...
absl::string_view GgmlTypeName(GgmlType type);
// Elements per block (1 for the plain types) and bytes per block.
int64_t GgmlBlockSize(GgmlType type);
int64_t GgmlBlockBytes(GgmlType type);

// float16 and bfloat16 bit patterns to float32 (exact).
float HalfToFloat(uint16_t bits);
float BFloat16ToFloat(uint16_t bits);

// Dequantizes `n` elements (a multiple of the block size) from `src` (n / block size blocks)
// into `dst`. InvalidArgument when n is not a whole number of blocks.
absl::Status Dequantize(GgmlType type, const uint8_t* src, int64_t n, float* dst);

}  // namespace infmem::formats

#endif  // INFMEM_SERVER_FORMATS_GGML_BLOCKS_H_
