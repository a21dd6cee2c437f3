// GgufFile: well-formed files parse with every metadata type; malformed ones (truncated at
// every byte, bad magic or version, absurd counts, unknown types, misaligned, overlapping or
// out-of-file tensors, bad alignment, duplicates) are errors that name the problem.
#include "server/formats/gguf_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>

#include "tests/formats/gguf_builder.h"

namespace infmem::formats {
namespace {

using testing::GgufBuilder;
using ::testing::HasSubstr;

absl::StatusOr<GgufFile> Parse(const std::string& bytes) {
  return GgufFile::Parse(std::make_shared<const std::string>(bytes), "m.gguf");
}

GgufBuilder Valid() {
  GgufBuilder b;
  b.String("general.architecture", "llama");
  b.U32("llama.block_count", 2);
  b.I32("llama.signed", -5);
  b.U64("llama.big", uint64_t{1} << 40);
  b.F32("llama.eps", 1e-5f);
  b.Bool("tokenizer.ggml.add_bos_token", true);
  b.Strings("tokenizer.ggml.tokens", {"a", "b", "c"});
  b.I32s("tokenizer.ggml.token_type", {1, 3, 6});
  b.F32s("tokenizer.ggml.scores", {0.5f, -1.f, 2.f});
  b.F32Tensor("x.weight", {4, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
  b.Tensor("q.weight", {32, 1}, 8, std::string(34, '\x01'));  // one Q8_0 block
  return b;
}

TEST(GgufFileTest, ParsesEveryMetadataTypeAndTheTensors) {
  auto file = Parse(Valid().Build());
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->version(), 3u);
  EXPECT_EQ(file->GetString("general.architecture").value(), "llama");
  EXPECT_EQ(file->GetInt("llama.block_count").value(), 2);
  EXPECT_EQ(file->GetInt("llama.signed").value(), -5);
  EXPECT_EQ(file->GetInt("llama.big").value(), int64_t{1} << 40);
  EXPECT_FLOAT_EQ(static_cast<float>(file->OptionalNumber("llama.eps").value().value()), 1e-5f);
  EXPECT_TRUE(file->OptionalBool("tokenizer.ggml.add_bos_token").value().value());
  EXPECT_EQ(file->GetStrings("tokenizer.ggml.tokens", 3).value(),
            (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(file->GetInts("tokenizer.ggml.token_type").value(), (std::vector<int64_t>{1, 3, 6}));
  EXPECT_EQ(file->GetNumbers("tokenizer.ggml.scores").value()[2], 2.0);
  EXPECT_FALSE(file->OptionalInt("missing").value().has_value());
  ASSERT_EQ(file->tensors().size(), 2u);
  const GgufTensor* x = file->FindTensor("x.weight");
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(x->dims, (std::vector<int64_t>{4, 2}));
  EXPECT_EQ(x->rows(), 2);
  float third;
  std::memcpy(&third, x->data + 8, 4);
  EXPECT_EQ(third, 3.0f);
  EXPECT_EQ(file->FindTensor("q.weight")->type, GgmlType::kQ8_0);
  EXPECT_EQ(file->FindTensor("q.weight")->size_bytes, 34u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(file->FindTensor("q.weight")->data) -
                reinterpret_cast<uintptr_t>(x->data),
            32u);  // the second tensor starts at the next 32-byte boundary
}

TEST(GgufFileTest, TypedAccessorsNameTheKeyAndTheTypes) {
  auto file = Parse(Valid().Build());
  ASSERT_TRUE(file.ok());
  EXPECT_THAT(file->GetInt("general.architecture").status().message(),
              HasSubstr("m.gguf: key 'general.architecture' must be an integer, got string"));
  EXPECT_THAT(file->GetStrings("tokenizer.ggml.scores").status().message(),
              HasSubstr("must be an array of strings, got an array of f32"));
  EXPECT_THAT(file->GetStrings("tokenizer.ggml.tokens", 4).status().message(),
              HasSubstr("has 3 elements, expected 4"));
  EXPECT_THAT(file->GetString("nope").status().message(), HasSubstr("missing key 'nope'"));
}

TEST(GgufFileTest, EveryTruncationIsAnErrorAndNeverACrash) {
  const std::string bytes = Valid().Build();
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto file = Parse(bytes.substr(0, n));
    ASSERT_FALSE(file.ok()) << n;
    // Cut inside the padding before the data: the tensor check reports it.
    EXPECT_TRUE(absl::IsDataLoss(file.status()) || absl::IsInvalidArgument(file.status()))
        << n << " " << file.status();
  }
}

TEST(GgufFileTest, MalformedHeadersAreNamed) {
  std::string bytes = Valid().Build();
  struct Case {
    size_t offset;
    std::string patch;
    std::string error;
  };
  auto u64 = [](uint64_t v) {
    std::string s(8, '\0');
    std::memcpy(s.data(), &v, 8);
    return s;
  };
  const Case cases[] = {
      {0, "GGML", "not a GGUF file"},
      {4, std::string("\x01\0\0\0", 4), "GGUF version 1 is not supported"},
      {8, u64(uint64_t{1} << 60), "tensor count 1152921504606846976 is impossible"},
      {16, u64(uint64_t{1} << 62), "metadata count 4611686018427387904 is impossible"},
      {24, u64(uint64_t{1} << 50), "key 0 of 9 at byte 24 has length 1125899906842624"},
  };
  for (const Case& c : cases) {
    std::string broken = bytes;
    broken.replace(c.offset, c.patch.size(), c.patch);
    auto file = Parse(broken);
    ASSERT_FALSE(file.ok()) << c.error;
    EXPECT_THAT(file.status().message(), HasSubstr(c.error));
  }
}

TEST(GgufFileTest, BadValuesAndTensorsAreNamed) {
  {
    GgufBuilder b;
    b.Tensor("t", {3}, 99, "");
    EXPECT_THAT(Parse(b.Build()).status().message(), HasSubstr("tensor 't' has ggml type 99"));
  }
  {
    GgufBuilder b;
    b.Tensor("t", {33}, 8, std::string(34, '\0'));
    EXPECT_THAT(Parse(b.Build()).status().message(),
                HasSubstr("rows of 33 elements, not whole Q8_0 blocks of 32"));
  }
  {
    GgufBuilder b;
    b.Tensor("t", {0, 2}, 0, "");
    EXPECT_THAT(Parse(b.Build()).status().message(), HasSubstr("tensor 't' dimension 0 is 0"));
  }
  {
    GgufBuilder b;
    b.F32Tensor("t", {4}, {1, 2, 3, 4});
    b.F32Tensor("t", {4}, {1, 2, 3, 4});
    EXPECT_THAT(Parse(b.Build()).status().message(), HasSubstr("tensor 't' appears twice"));
  }
  {
    GgufBuilder b;
    b.U32("k", 1);
    b.U32("k", 2);
    EXPECT_THAT(Parse(b.Build()).status().message(), HasSubstr("key 'k' appears twice"));
  }
  {
    GgufBuilder b;
    b.U32("general.alignment", 12);
    EXPECT_THAT(Parse(b.Build()).status().message(),
                HasSubstr("'general.alignment' must be a power of two of at least 8"));
  }
  {
    GgufBuilder b;
    b.Bool("flag", true);
    std::string bytes = b.Build();
    bytes[bytes.find("flag") + 4 + 4] = 7;  // after the key and its type: the bool byte
    EXPECT_THAT(Parse(bytes).status().message(), HasSubstr("key 'flag': bool byte is 7"));
  }
  {  // a tensor whose data lies past the end of the file
    GgufBuilder b;
    b.F32Tensor("t", {8}, {1, 2, 3, 4, 5, 6, 7, 8});
    std::string bytes = b.Build();
    bytes.resize(bytes.size() - 4);
    auto file = Parse(bytes);
    EXPECT_TRUE(absl::IsDataLoss(file.status())) << file.status();
    EXPECT_THAT(file.status().message(),
                HasSubstr("tensor 't' (32 bytes at data offset 0) runs past"));
  }
}

TEST(GgufFileTest, MisalignedAndOverlappingTensorsAreRefused) {
  GgufBuilder b;
  b.F32Tensor("a", {8}, {1, 2, 3, 4, 5, 6, 7, 8});
  b.F32Tensor("b", {8}, {1, 2, 3, 4, 5, 6, 7, 8});
  const std::string bytes = b.Build();
  // The offset of tensor "b" is the last field of its info, just before the padding.
  const size_t b_info = bytes.find(std::string("\x01\0\0\0\0\0\0\0b", 9));
  ASSERT_NE(b_info, std::string::npos);
  const size_t offset_at = b_info + 9 + 4 + 8 + 4;  // name, n_dims, dim, type
  std::string misaligned = bytes;
  misaligned[offset_at] = 4;
  EXPECT_THAT(Parse(misaligned).status().message(),
              HasSubstr("tensor 'b' offset 4 is not a multiple of the alignment 32"));
  std::string overlapping = bytes;
  overlapping[offset_at] = 0;
  EXPECT_THAT(Parse(overlapping).status().message(), HasSubstr("overlap"));
}

TEST(GgufFileTest, ReadMapsAFileAndNamesAMissingOne) {
  const std::string path = ::testing::TempDir() + "/gguf_file_test.gguf";
  {
    FILE* f = std::fopen(path.c_str(), "wb");
    const std::string bytes = Valid().Build();
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
  }
  auto file = GgufFile::Read(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->tensors().size(), 2u);
  EXPECT_EQ(file->path(), path);
  EXPECT_TRUE(absl::IsNotFound(GgufFile::Read(path + ".missing").status()));
}

}  // namespace
}  // namespace infmem::formats
