// ggml block dequantization: hand-computed blocks, then bit-identity with llama.cpp's gguf-py
// reference (numpy) on random blocks of every type (tests/formats/gguf_oracle.py; gguf-py
// comes from the npm registry through scripts/fetch-oracles.sh).
#include "server/formats/ggml_blocks.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace infmem::formats {
namespace {

std::string Read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(GgmlBlocksTest, HalfAndBFloat16ConvertExactly) {
  EXPECT_EQ(HalfToFloat(0x3C00), 1.0f);
  EXPECT_EQ(HalfToFloat(0xC000), -2.0f);
  EXPECT_EQ(HalfToFloat(0x0001), 5.9604644775390625e-8f);  // smallest subnormal
  EXPECT_EQ(HalfToFloat(0x7BFF), 65504.0f);
  EXPECT_TRUE(std::isinf(HalfToFloat(0x7C00)));
  EXPECT_EQ(BFloat16ToFloat(0x3F80), 1.0f);
  EXPECT_EQ(BFloat16ToFloat(0xC0A0), -5.0f);
}

TEST(GgmlBlocksTest, HandComputedBlocks) {
  {  // Q8_0: d = 0.5 (0x3800), q = j - 16
    std::string block = {'\x00', '\x38'};
    for (int j = 0; j < 32; ++j) block.push_back(static_cast<char>(j - 16));
    std::vector<float> y(32);
    ASSERT_TRUE(
        Dequantize(GgmlType::kQ8_0, reinterpret_cast<const uint8_t*>(block.data()), 32, y.data())
            .ok());
    for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], 0.5f * (j - 16)) << j;
  }
  {  // Q4_0: d = 2 (0x4000); byte j holds element j (low nibble) and j + 16 (high)
    std::string block = {'\x00', '\x40'};
    for (int j = 0; j < 16; ++j) block.push_back(static_cast<char>((15 - j) << 4 | j));
    std::vector<float> y(32);
    ASSERT_TRUE(
        Dequantize(GgmlType::kQ4_0, reinterpret_cast<const uint8_t*>(block.data()), 32, y.data())
            .ok());
    for (int j = 0; j < 16; ++j) {
      EXPECT_EQ(y[j], 2.0f * (j - 8)) << j;
      EXPECT_EQ(y[j + 16], 2.0f * (15 - j - 8)) << j;
    }
  }
  {  // Q4_K: d = 1, dmin = 0.5; sub-block 0 scale 3 min 2, sub-block 5 scale 33 min 17
    std::string block(144, '\0');
    block[1] = '\x3C';                         // d = 1
    block[3] = '\x38';                         // dmin = 0.5
    block[4 + 0] = 3;                          // scale of sub-block 0
    block[4 + 4] = 2;                          // min of sub-block 0
    block[4 + 9] = static_cast<char>(0x11);    // sub-block 5: low nibble of scale 1, of min 1
    block[4 + 1] = static_cast<char>(2 << 6);  // scale 5's top bits: 2 -> 32 + 1 = 33
    block[4 + 5] = static_cast<char>(1 << 6);  // min 5's top bits: 1 -> 16 + 1 = 17
    block[16 + 0] = static_cast<char>(0x97);   // value 0: nibble 7; value 32: nibble 9
    std::vector<float> y(256);
    ASSERT_TRUE(
        Dequantize(GgmlType::kQ4_K, reinterpret_cast<const uint8_t*>(block.data()), 256, y.data())
            .ok());
    EXPECT_EQ(y[0], 1.0f * 3 * 7 - 0.5f * 2);
    EXPECT_EQ(y[1], -1.0f);  // nibble 0: only the min
    // Sub-block 5 is the high nibbles of bytes 64-95: value 160 + l.
    EXPECT_EQ(y[160], -0.5f * 17);
  }
  {  // not whole blocks
    std::vector<float> y(40);
    const uint8_t zeros[64] = {};
    EXPECT_FALSE(Dequantize(GgmlType::kQ8_0, zeros, 40, y.data()).ok());
  }
}

// Random blocks of `type`, dequantized here and by gguf-py; the float bits must be equal.
void ExpectBitIdenticalToGgufPy(const std::string& type) {
  const std::string gguf_py = std::string(INFMEM_SOURCE_DIR) + "/data/oracles/llama.cpp/gguf-py";
  if (!std::filesystem::exists(gguf_py)) {
    GTEST_SKIP() << gguf_py << " is missing: run scripts/fetch-oracles.sh";
  }
  const std::string dir = ::testing::TempDir() + "/ggml_blocks_" + type;
  std::filesystem::create_directories(dir);
  const std::string script = absl::StrCat("/usr/bin/python3 ", INFMEM_SOURCE_DIR,
                                          "/tests/formats/gguf_oracle.py --gguf_py ", gguf_py);
  const int count = 200;
  ASSERT_EQ(std::system(absl::StrCat(script, " blocks --type ", type, " --count ", count,
                                     " --seed 7 --out ", dir, "/raw")
                            .c_str()),
            0);
  ASSERT_EQ(std::system(absl::StrCat(script, " dequant --type ", type, " --in ", dir, "/raw --out ",
                                     dir, "/ref")
                            .c_str()),
            0);
  const std::optional<GgmlType> t = [&]() -> std::optional<GgmlType> {
    for (uint32_t id : {0u, 1u, 2u, 8u, 12u, 14u, 30u}) {
      if (GgmlTypeName(*GgmlTypeFromId(id)) == type) return GgmlTypeFromId(id);
    }
    return std::nullopt;
  }();
  ASSERT_TRUE(t.has_value()) << type;
  const std::string raw = Read(dir + "/raw");
  const std::string ref = Read(dir + "/ref");
  const int64_t n = count * GgmlBlockSize(*t);
  ASSERT_EQ(raw.size(), static_cast<size_t>(count * GgmlBlockBytes(*t)));
  ASSERT_EQ(ref.size(), static_cast<size_t>(n) * 4);
  std::vector<float> y(static_cast<size_t>(n));
  ASSERT_TRUE(Dequantize(*t, reinterpret_cast<const uint8_t*>(raw.data()), n, y.data()).ok());
  int mismatches = 0;
  for (int64_t i = 0; i < n; ++i) {
    uint32_t ours, theirs;
    std::memcpy(&ours, &y[i], 4);
    std::memcpy(&theirs, ref.data() + 4 * i, 4);
    if (ours != theirs && ++mismatches <= 5) {
      ADD_FAILURE() << type << " element " << i << ": infmem " << y[i] << " gguf-py "
                    << *reinterpret_cast<const float*>(ref.data() + 4 * i);
    }
  }
  EXPECT_EQ(mismatches, 0) << type << ": of " << n << " values";
}

TEST(GgmlBlocksTest, Q8_0IsBitIdenticalToGgufPy) { ExpectBitIdenticalToGgufPy("Q8_0"); }
TEST(GgmlBlocksTest, Q4_0IsBitIdenticalToGgufPy) { ExpectBitIdenticalToGgufPy("Q4_0"); }
TEST(GgmlBlocksTest, Q4_KIsBitIdenticalToGgufPy) { ExpectBitIdenticalToGgufPy("Q4_K"); }
TEST(GgmlBlocksTest, Q6_KIsBitIdenticalToGgufPy) { ExpectBitIdenticalToGgufPy("Q6_K"); }
TEST(GgmlBlocksTest, F16IsBitIdenticalToGgufPy) { ExpectBitIdenticalToGgufPy("F16"); }
TEST(GgmlBlocksTest, BF16IsBitIdenticalToGgufPy) { ExpectBitIdenticalToGgufPy("BF16"); }

}  // namespace
}  // namespace infmem::formats
