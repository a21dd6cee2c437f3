// Dequantization of ggml blocks. Compiled with -ffp-contract=off (CMakeLists.txt): a fused
// multiply-add would round once where the reference rounds twice, and the results must be
// bit-identical to it.
#include "server/formats/ggml_blocks.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace infmem::formats {
namespace {

uint16_t Load16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

void DequantizeQ8_0(const uint8_t* block, float* y) {
  const float d = HalfToFloat(Load16(block));
  const int8_t* q = reinterpret_cast<const int8_t*>(block + 2);
  for (int j = 0; j < 32; ++j) y[j] = d * static_cast<float>(q[j]);
}

void DequantizeQ4_0(const uint8_t* block, float* y) {
  const float d = HalfToFloat(Load16(block));
  const uint8_t* q = block + 2;
  for (int j = 0; j < 16; ++j) {
    y[j] = d * static_cast<float>((q[j] & 0x0F) - 8);
    y[j + 16] = d * static_cast<float>((q[j] >> 4) - 8);
  }
}

// The 6-bit scale and min of sub-block j (of 8) of a Q4_K block: the first four pairs are
// the low six bits of bytes 0-3 and 4-7, the last four are bytes 8-11's nibbles completed by
// the top two bits of bytes 0-7.
void ScaleMinK4(int j, const uint8_t* s, uint8_t* scale, uint8_t* min) {
  if (j < 4) {
    *scale = s[j] & 63;
    *min = s[j + 4] & 63;
  } else {
    *scale = static_cast<uint8_t>((s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4));
    *min = static_cast<uint8_t>((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
  }
}

void DequantizeQ4_K(const uint8_t* block, float* y) {
  const float d = HalfToFloat(Load16(block));
  const float dmin = HalfToFloat(Load16(block + 2));
  const uint8_t* scales = block + 4;
  const uint8_t* q = block + 16;
  // Each 64 values: the low nibbles of 32 bytes (sub-block 2i), then their high nibbles.
  for (int i = 0; i < 4; ++i) {
    uint8_t sc, m;
    ScaleMinK4(2 * i, scales, &sc, &m);
    const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
    ScaleMinK4(2 * i + 1, scales, &sc, &m);
    const float d2 = d * static_cast<float>(sc), m2 = dmin * static_cast<float>(m);
    for (int l = 0; l < 32; ++l) y[l] = d1 * static_cast<float>(q[l] & 0x0F) - m1;
    for (int l = 0; l < 32; ++l) y[32 + l] = d2 * static_cast<float>(q[l] >> 4) - m2;
    q += 32;
    y += 64;
  }
}

void DequantizeQ6_K(const uint8_t* block, float* y) {
  const uint8_t* ql = block;
  const uint8_t* qh = block + 128;
  const int8_t* sc = reinterpret_cast<const int8_t*>(block + 192);
  const float d = HalfToFloat(Load16(block + 208));
  // Two halves of 128 values; in each, value l + 32k takes a nibble of ql and two bits of qh.
  for (int half = 0; half < 2; ++half) {
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const int q1 = ((ql[l] & 0x0F) | (((qh[l] >> 0) & 3) << 4)) - 32;
      const int q2 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
      const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      y[l] = (d * static_cast<float>(sc[is])) * static_cast<float>(q1);
      y[l + 32] = (d * static_cast<float>(sc[is + 2])) * static_cast<float>(q2);
      y[l + 64] = (d * static_cast<float>(sc[is + 4])) * static_cast<float>(q3);
      y[l + 96] = (d * static_cast<float>(sc[is + 6])) * static_cast<float>(q4);
    }
    y += 128;
    ql += 64;
    qh += 32;
    sc += 8;
  }
}

}  // namespace

std::optional<GgmlType> GgmlTypeFromId(uint32_t id) {
  switch (id) {
    case 0:
    case 1:
    case 2:
    case 8:
    case 12:
    case 14:
    case 30:
      return static_cast<GgmlType>(id);
    default:
      return std::nullopt;
  }
}

absl::string_view GgmlTypeName(GgmlType type) {
  switch (type) {
    case GgmlType::kF32:
      return "F32";
    case GgmlType::kF16:
      return "F16";
    case GgmlType::kQ4_0:
      return "Q4_0";
    case GgmlType::kQ8_0:
      return "Q8_0";
    case GgmlType::kQ4_K:
      return "Q4_K";
    case GgmlType::kQ6_K:
      return "Q6_K";
    case GgmlType::kBF16:
      return "BF16";
  }
  return "unknown";
}

int64_t GgmlBlockSize(GgmlType type) {
  switch (type) {
    case GgmlType::kQ4_0:
    case GgmlType::kQ8_0:
      return 32;
    case GgmlType::kQ4_K:
    case GgmlType::kQ6_K:
      return 256;
    default:
      return 1;
  }
}

int64_t GgmlBlockBytes(GgmlType type) {
  switch (type) {
    case GgmlType::kF32:
      return 4;
    case GgmlType::kF16:
    case GgmlType::kBF16:
      return 2;
    case GgmlType::kQ4_0:
      return 18;
    case GgmlType::kQ8_0:
      return 34;
    case GgmlType::kQ4_K:
      return 144;
    case GgmlType::kQ6_K:
      return 210;
  }
  return 1;
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exponent = (h >> 10) & 0x1F;
  uint32_t mantissa = h & 0x3FF;
  uint32_t bits;
  if (exponent == 0x1F) {  // infinity or NaN, payload kept
    bits = sign | 0x7F800000u | (mantissa << 13);
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    bits = sign;
  } else {  // subnormal: normalise
    int e = -1;
    do {
      ++e;
      mantissa <<= 1;
    } while ((mantissa & 0x400) == 0);
    bits = sign | (static_cast<uint32_t>(112 - e) << 23) | ((mantissa & 0x3FF) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

float BFloat16ToFloat(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

absl::Status Dequantize(GgmlType type, const uint8_t* src, int64_t n, float* dst) {
  const int64_t block = GgmlBlockSize(type);
  if (n < 0 || n % block != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(n, " elements are not whole ", GgmlTypeName(type), " blocks of ", block));
  }
  const int64_t bytes = GgmlBlockBytes(type);
  for (int64_t b = 0; b < n / block; ++b) {
    const uint8_t* in = src + b * bytes;
    float* out = dst + b * block;
    switch (type) {
      case GgmlType::kF32:
        std::memcpy(out, in, 4);
        break;
      case GgmlType::kF16:
        *out = HalfToFloat(Load16(in));
        break;
      case GgmlType::kBF16:
        *out = BFloat16ToFloat(Load16(in));
        break;
      case GgmlType::kQ8_0:
        DequantizeQ8_0(in, out);
        break;
      case GgmlType::kQ4_0:
        DequantizeQ4_0(in, out);
        break;
      case GgmlType::kQ4_K:
        DequantizeQ4_K(in, out);
        break;
      case GgmlType::kQ6_K:
        DequantizeQ6_K(in, out);
        break;
    }
  }
  return absl::OkStatus();
}

}  // namespace infmem::formats
