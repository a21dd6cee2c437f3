#include "server/formats/safetensors.h"

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace infmem::formats {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using std::string_literals::operator""s;

// An 8-byte little-endian length, then `header`, then `data`: a file image built by hand.
std::string MakeFile(const std::string& header, const std::string& data = "",
                     std::optional<uint64_t> header_len = std::nullopt) {
  const uint64_t n = header_len.value_or(header.size());
  std::string out;
  for (int i = 0; i < 8; ++i) {
    out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  }
  return out + header + data;
}

template <typename T>
TensorToWrite Tensor(std::string name, DType dtype, std::vector<int64_t> shape,
                     const std::vector<T>& values) {
  TensorToWrite t;
  t.name = std::move(name);
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.data = values.data();
  t.size_bytes = values.size() * sizeof(T);
  return t;
}

template <typename T>
std::vector<T> Values(const TensorView& view) {
  std::vector<T> out(view.size_bytes / sizeof(T));
  if (view.size_bytes > 0) {
    std::memcpy(out.data(), view.data, view.size_bytes);
  }
  return out;
}

void ExpectError(const std::string& bytes, absl::StatusCode code, const std::string& substring) {
  absl::StatusOr<SafetensorsFile> file = SafetensorsFile::Parse(bytes);
  ASSERT_FALSE(file.ok()) << "expected an error containing: " << substring;
  EXPECT_EQ(file.status().code(), code) << file.status();
  EXPECT_THAT(std::string(file.status().message()), HasSubstr(substring));
}

void ExpectInvalid(const std::string& bytes, const std::string& substring) {
  ExpectError(bytes, absl::StatusCode::kInvalidArgument, substring);
}

// A valid file with three tensors and metadata, used as the seed of the malformed cases.
class SafetensorsSampleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::string> bytes = SerializeSafetensors(
        {Tensor("a", DType::kF32, {2, 3}, f32_), Tensor("b", DType::kI64, {2}, i64_),
         Tensor("c", DType::kU8, {5}, u8_)},
        {{"format", "pt"}, {"step", "7"}});
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    bytes_ = *std::move(bytes);
  }

  std::vector<float> f32_ = {1.5f, -2.0f, 3.25f, 0.0f, -0.0f, 1e30f};
  std::vector<int64_t> i64_ = {std::numeric_limits<int64_t>::min(), 42};
  std::vector<uint8_t> u8_ = {0, 1, 127, 128, 255};
  std::string bytes_;
};

TEST(DTypeTest, NamesAndSizes) {
  EXPECT_EQ(DTypeName(DType::kF32), "F32");
  EXPECT_EQ(DTypeName(DType::kF16), "F16");
  EXPECT_EQ(DTypeName(DType::kBF16), "BF16");
  EXPECT_EQ(DTypeName(DType::kF64), "F64");
  EXPECT_EQ(DTypeName(DType::kI64), "I64");
  EXPECT_EQ(DTypeName(DType::kI32), "I32");
  EXPECT_EQ(DTypeName(DType::kU8), "U8");
  EXPECT_EQ(DTypeSize(DType::kF32), 4u);
  EXPECT_EQ(DTypeSize(DType::kF16), 2u);
  EXPECT_EQ(DTypeSize(DType::kBF16), 2u);
  EXPECT_EQ(DTypeSize(DType::kF64), 8u);
  EXPECT_EQ(DTypeSize(DType::kI64), 8u);
  EXPECT_EQ(DTypeSize(DType::kI32), 4u);
  EXPECT_EQ(DTypeSize(DType::kU8), 1u);
}

TEST(SafetensorsTest, RoundTripsEveryDTypeAndMetadata) {
  const std::vector<float> f32 = {1.0f, -2.5f, 3.0f, 4.0f, 5.0f, 6.0f};
  const std::vector<uint16_t> f16 = {0x3c00, 0xc000, 0x7bff};      // 1, -2, 65504
  const std::vector<uint16_t> bf16 = {0x3f80, 0x4000, 0xbf80, 0};  // 1, 2, -1, 0
  const std::vector<double> f64 = {1.0 / 3.0, -1e300};
  const std::vector<int64_t> i64 = {std::numeric_limits<int64_t>::max(), -1, 0};
  const std::vector<int32_t> i32 = {-7};
  const std::vector<uint8_t> u8 = {9, 8, 7, 6};
  const std::vector<float> empty;
  const std::map<std::string, std::string> metadata = {
      {"format", "pt"}, {"quoted \"key\"", "line\nbreak"}, {"unicode", "\xC3\xA9t\xC3\xA9"}};

  absl::StatusOr<std::string> bytes = SerializeSafetensors(
      {Tensor("z.f32", DType::kF32, {2, 3}, f32), Tensor("y.f16", DType::kF16, {3}, f16),
       Tensor("x.bf16", DType::kBF16, {2, 2}, bf16), Tensor("w.f64", DType::kF64, {2}, f64),
       Tensor("v.i64", DType::kI64, {3, 1}, i64), Tensor("u.i32", DType::kI32, {}, i32),
       Tensor("t.u8", DType::kU8, {1, 4}, u8), Tensor("s.empty", DType::kF32, {0, 5}, empty)},
      metadata);
  ASSERT_TRUE(bytes.ok()) << bytes.status();

  // The header is padded so the data section starts 8-byte aligned.
  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes->data(), 8);
  EXPECT_EQ((8 + header_len) % 8, 0u);
  EXPECT_EQ(bytes->size(), 8 + header_len + 24 + 6 + 8 + 16 + 24 + 4 + 4);

  absl::StatusOr<SafetensorsFile> file = SafetensorsFile::Parse(*bytes);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_THAT(file->Names(), ElementsAre("s.empty", "t.u8", "u.i32", "v.i64", "w.f64", "x.bf16",
                                         "y.f16", "z.f32"));
  EXPECT_EQ(file->metadata(), metadata);
  EXPECT_TRUE(file->Has("z.f32"));
  EXPECT_FALSE(file->Has("z"));

  auto get = [&](const std::string& name) {
    absl::StatusOr<TensorView> view = file->Get(name);
    EXPECT_TRUE(view.ok()) << view.status();
    return view.ok() ? *view : TensorView{};
  };
  TensorView v = get("z.f32");
  EXPECT_EQ(v.dtype, DType::kF32);
  EXPECT_THAT(v.shape, ElementsAre(2, 3));
  EXPECT_EQ(v.numel(), 6);
  EXPECT_EQ(Values<float>(v), f32);
  v = get("y.f16");
  EXPECT_EQ(v.dtype, DType::kF16);
  EXPECT_EQ(Values<uint16_t>(v), f16);
  v = get("x.bf16");
  EXPECT_EQ(v.dtype, DType::kBF16);
  EXPECT_THAT(v.shape, ElementsAre(2, 2));
  EXPECT_EQ(Values<uint16_t>(v), bf16);
  v = get("w.f64");
  EXPECT_EQ(v.dtype, DType::kF64);
  EXPECT_EQ(Values<double>(v), f64);
  v = get("v.i64");
  EXPECT_EQ(v.dtype, DType::kI64);
  EXPECT_EQ(Values<int64_t>(v), i64);
  v = get("u.i32");
  EXPECT_EQ(v.dtype, DType::kI32);
  EXPECT_THAT(v.shape, IsEmpty());
  EXPECT_EQ(v.numel(), 1);
  EXPECT_EQ(Values<int32_t>(v), i32);
  v = get("t.u8");
  EXPECT_EQ(v.dtype, DType::kU8);
  EXPECT_EQ(Values<uint8_t>(v), u8);
  v = get("s.empty");
  EXPECT_EQ(v.numel(), 0);
  EXPECT_EQ(v.size_bytes, 0u);

  // Tensors are laid out in the given order.
  EXPECT_LT(get("z.f32").data, get("y.f16").data);
  EXPECT_LT(get("w.f64").data, get("t.u8").data);
}

TEST(SafetensorsTest, EmptyFileRoundTrips) {
  absl::StatusOr<std::string> bytes = SerializeSafetensors({}, {});
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(bytes->size() % 8, 0u);
  absl::StatusOr<SafetensorsFile> file = SafetensorsFile::Parse(*bytes);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_THAT(file->Names(), IsEmpty());
  EXPECT_THAT(file->metadata(), IsEmpty());
}

TEST_F(SafetensorsSampleTest, ViewsOutliveTheOriginalThroughACopy) {
  std::optional<SafetensorsFile> copy;
  TensorView view;
  {
    absl::StatusOr<SafetensorsFile> file = SafetensorsFile::Parse(bytes_);
    ASSERT_TRUE(file.ok()) << file.status();
    absl::StatusOr<TensorView> v = file->Get("a");
    ASSERT_TRUE(v.ok());
    view = *v;
    copy = *file;
  }
  EXPECT_EQ(Values<float>(view), f32_);
  absl::StatusOr<TensorView> again = copy->Get("a");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->data, view.data);
  EXPECT_EQ(copy->metadata().at("step"), "7");
}

TEST_F(SafetensorsSampleTest, GetUnknownNameIsNotFound) {
  absl::StatusOr<SafetensorsFile> file = SafetensorsFile::Parse(bytes_);
  ASSERT_TRUE(file.ok()) << file.status();
  absl::StatusOr<TensorView> view = file->Get("nope");
  EXPECT_EQ(view.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(view.status().message()), HasSubstr("'nope'"));
}

TEST_F(SafetensorsSampleTest, ReadsAndReportsFiles) {
  const std::string path = ::testing::TempDir() + "/safetensors_test_read.safetensors";
  {
    std::ofstream out(path, std::ios::binary);
    out << bytes_;
  }
  absl::StatusOr<SafetensorsFile> file = SafetensorsFile::Read(path);
  ASSERT_TRUE(file.ok()) << file.status();
  absl::StatusOr<TensorView> view = file->Get("c");
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(Values<uint8_t>(*view), u8_);

  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << bytes_.substr(0, bytes_.size() - 1);
  }
  file = SafetensorsFile::Read(path);
  EXPECT_EQ(file.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(file.status().message()), HasSubstr(path));
  std::remove(path.c_str());

  file = SafetensorsFile::Read(path);
  EXPECT_EQ(file.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(file.status().message()), HasSubstr(path));

  file = SafetensorsFile::Read(::testing::TempDir());
  EXPECT_EQ(file.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(file.status().message()), HasSubstr(::testing::TempDir()));
}

TEST(SerializeSafetensorsTest, RejectsBadTensors) {
  const std::vector<float> six(6);
  auto expect_invalid = [](const std::vector<TensorToWrite>& tensors,
                           const std::map<std::string, std::string>& metadata,
                           const std::string& substring) {
    absl::StatusOr<std::string> bytes = SerializeSafetensors(tensors, metadata);
    ASSERT_FALSE(bytes.ok()) << substring;
    EXPECT_EQ(bytes.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(bytes.status().message()), HasSubstr(substring));
  };
  TensorToWrite wrong_size = Tensor("w", DType::kF32, {2, 3}, six);
  wrong_size.size_bytes = 20;
  expect_invalid({wrong_size}, {}, "tensor 'w': size_bytes is 20 but dtype F32 shape [2, 3]");
  expect_invalid({Tensor("w", DType::kF64, {2, 3}, six)}, {}, "needs 48 bytes");
  expect_invalid({Tensor("w", DType::kF32, {6}, six), Tensor("w", DType::kF32, {6}, six)}, {},
                 "tensor 'w': duplicate tensor name");
  expect_invalid({Tensor("__metadata__", DType::kF32, {6}, six)}, {}, "reserved");
  expect_invalid({Tensor("w", DType::kF32, {-2, -3}, six)}, {}, "negative dimension");
  expect_invalid({Tensor("w", DType::kU8, {1LL << 62, 1LL << 62}, six)}, {}, "overflow");
  TensorToWrite null_data = Tensor("w", DType::kF32, {6}, six);
  null_data.data = nullptr;
  expect_invalid({null_data}, {}, "data is null");
  expect_invalid({Tensor("bad\xff", DType::kF32, {6}, six)}, {}, "not valid UTF-8");
  expect_invalid({}, {{"k", "bad\xff"}}, "not valid UTF-8");
}

TEST(ParseSafetensorsTest, RejectsShortFiles) {
  for (size_t n = 0; n < 8; ++n) {
    SCOPED_TRACE(n);
    ExpectError(std::string(n, '\0'), absl::StatusCode::kDataLoss, "truncated");
  }
}

TEST(ParseSafetensorsTest, RejectsHeaderLengthPastTheEnd) {
  ExpectError(MakeFile("{}", "", 3), absl::StatusCode::kDataLoss,
              "truncated: header length is 3 bytes but only 2 bytes follow");
  ExpectError(MakeFile("", "", 1000), absl::StatusCode::kDataLoss, "truncated");
}

TEST(ParseSafetensorsTest, RejectsAbsurdHeaderLength) {
  ExpectInvalid(MakeFile("{}", "", 200'000'000), "header length 200000000 exceeds the limit");
  ExpectInvalid(MakeFile("{}", "", std::numeric_limits<uint64_t>::max()),
                "header length 18446744073709551615 exceeds the limit");
}

TEST(ParseSafetensorsTest, RejectsBadJson) {
  ExpectInvalid(MakeFile("{\"a\": "), "header is not valid JSON");
  ExpectInvalid(MakeFile(""), "header is not valid JSON");
  // nlohmann stops at a NUL byte; what follows must not be silently ignored.
  ExpectInvalid(MakeFile("{}\0\0"s), "header contains a NUL byte");
  ExpectInvalid(MakeFile("{}\0{\"a\": 1}"s), "header contains a NUL byte");
  ExpectInvalid(MakeFile("{\"\xff\": 1}"), "header is not valid JSON");
}

TEST(ParseSafetensorsTest, SurvivesDeeplyNestedJson) {
  const std::string deep = std::string(1'000'000, '[') + std::string(1'000'000, ']');
  ExpectInvalid(MakeFile(deep), "header must be a JSON object, got an array");
  const std::string deep_entry =
      "{\"t\":" + std::string(500'000, '[') + std::string(500'000, ']') + "}";
  ExpectInvalid(MakeFile(deep_entry), "tensor 't': entry must be a JSON object, got an array");
}

TEST(ParseSafetensorsTest, RejectsNonObjectHeaderAndEntries) {
  ExpectInvalid(MakeFile("[]"), "header must be a JSON object, got an array");
  ExpectInvalid(MakeFile("\"x\""), "header must be a JSON object, got \"x\"");
  ExpectInvalid(MakeFile(R"({"t": 5})"), "tensor 't': entry must be a JSON object, got 5");
  ExpectInvalid(MakeFile(R"({"t": [1, 2]})"), "tensor 't': entry must be a JSON object");
}

TEST(ParseSafetensorsTest, RejectsMissingFields) {
  ExpectInvalid(MakeFile(R"({"t": {"shape": [1], "data_offsets": [0, 4]}})", "xxxx"),
                "tensor 't': missing 'dtype'");
  ExpectInvalid(MakeFile(R"({"t": {"dtype": "F32", "data_offsets": [0, 4]}})", "xxxx"),
                "tensor 't': missing 'shape'");
  ExpectInvalid(MakeFile(R"({"t": {"dtype": "F32", "shape": [1]}})", "xxxx"),
                "tensor 't': missing 'data_offsets'");
}

TEST(ParseSafetensorsTest, RejectsBadDType) {
  ExpectInvalid(
      MakeFile(R"({"t": {"dtype": "F8_E4M3", "shape": [1], "data_offsets": [0, 1]}})", "x"),
      "tensor 't': unknown dtype \"F8_E4M3\"");
  ExpectInvalid(
      MakeFile(R"({"t": {"dtype": "f32", "shape": [1], "data_offsets": [0, 4]}})", "xxxx"),
      "unknown dtype \"f32\"");
  ExpectInvalid(MakeFile(R"({"t": {"dtype": 4, "shape": [1], "data_offsets": [0, 4]}})", "xxxx"),
                "tensor 't': 'dtype' must be a string, got 4");
}

TEST(ParseSafetensorsTest, RejectsBadShapes) {
  ExpectInvalid(MakeFile(R"({"t": {"dtype": "U8", "shape": [-1, 2], "data_offsets": [0, 0]}})"),
                "tensor 't': negative dimension in 'shape' [-1, 2]");
  ExpectInvalid(MakeFile(R"({"t": {"dtype": "U8", "shape": 4, "data_offsets": [0, 4]}})", "xxxx"),
                "tensor 't': 'shape' must be an array of integers, got 4");
  ExpectInvalid(
      MakeFile(R"({"t": {"dtype": "U8", "shape": [2.0, 2], "data_offsets": [0, 4]}})", "xxxx"),
      "tensor 't': 'shape' must be an array of integers, got an element 2.0");
  ExpectInvalid(
      MakeFile(R"({"t": {"dtype": "U8", "shape": [18446744073709551615], "data_offsets": [0, 1]}})",
               "x"),
      "'shape' value 18446744073709551615 is too large");
  // 2^32 * 2^32 overflows int64; 2^31 * 2^31 * 4 bytes overflows nothing but 2^62 * 4 does.
  ExpectInvalid(MakeFile(R"({"t": {"dtype": "U8", "shape": [4294967296, 4294967296],
                                  "data_offsets": [0, 1]}})",
                         "x"),
                "element count overflows int64");
  ExpectInvalid(MakeFile(R"({"t": {"dtype": "F32", "shape": [4611686018427387904],
                                  "data_offsets": [0, 1]}})",
                         "x"),
                "byte size overflows uint64");
  // A zero dimension makes the tensor empty however large the others are.
  absl::StatusOr<SafetensorsFile> ok = SafetensorsFile::Parse(MakeFile(
      R"({"t": {"dtype": "F64", "shape": [9223372036854775807, 0, 9223372036854775807],
               "data_offsets": [0, 0]}})"));
  EXPECT_TRUE(ok.ok()) << ok.status();
}

TEST(ParseSafetensorsTest, RejectsBadOffsets) {
  ExpectInvalid(
      MakeFile(R"({"t": {"dtype": "U8", "shape": [4], "data_offsets": [0, 2, 4]}})", "xxxx"),
      "tensor 't': 'data_offsets' must be an array of 2 integers, got an array of 3");
  ExpectInvalid(MakeFile(R"({"t": {"dtype": "U8", "shape": [4], "data_offsets": "0-4"}})", "xxxx"),
                "'data_offsets' must be an array of 2 integers, got \"0-4\"");
  ExpectInvalid(
      MakeFile(R"({"t": {"dtype": "U8", "shape": [4], "data_offsets": [-4, 0]}})", "xxxx"),
      "tensor 't': negative value in 'data_offsets' [-4, 0]");
  ExpectInvalid(
      MakeFile(R"({"t": {"dtype": "U8", "shape": [4], "data_offsets": [0.0, 4]}})", "xxxx"),
      "'data_offsets' must be an array of integers");
  ExpectInvalid(MakeFile(R"({"t": {"dtype": "U8", "shape": [0], "data_offsets": [4, 0]}})", "xxxx"),
                "tensor 't': 'data_offsets' begin 4 is after end 0");
  ExpectInvalid(
      MakeFile(R"({"t": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}})", "xxxxxxxx"),
      "tensor 't': 'data_offsets' [0, 4) span 4 bytes but dtype F32 shape [2] needs 8");
  ExpectError(MakeFile(R"({"t": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", "xxxx"),
              absl::StatusCode::kDataLoss,
              "tensor 't': 'data_offsets' end 8 is past the end of the data section (4 bytes)");
  ExpectError(
      MakeFile(
          R"({"t": {"dtype": "U8", "shape": [1], "data_offsets": [18446744073709551615, 18446744073709551615]}})",
          "x"),
      absl::StatusCode::kInvalidArgument, "'data_offsets' value 18446744073709551615 is too large");
  ExpectError(
      MakeFile(
          R"({"t": {"dtype": "U8", "shape": [1], "data_offsets": [9223372036854775806, 9223372036854775807]}})",
          "x"),
      absl::StatusCode::kDataLoss, "past the end of the data section");
}

TEST(ParseSafetensorsTest, RejectsOverlappingTensors) {
  ExpectInvalid(MakeFile(R"({"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},
                             "b": {"dtype": "U8", "shape": [4], "data_offsets": [2, 6]}})",
                         "xxxxxx"),
                "tensors 'a' and 'b' have overlapping data_offsets");
  ExpectInvalid(MakeFile(R"({"a": {"dtype": "U8", "shape": [8], "data_offsets": [0, 8]},
                             "b": {"dtype": "U8", "shape": [2], "data_offsets": [2, 4]}})",
                         "xxxxxxxx"),
                "tensors 'a' and 'b' have overlapping data_offsets");
  ExpectInvalid(MakeFile(R"({"a": {"dtype": "U8", "shape": [4], "data_offsets": [2, 6]},
                             "b": {"dtype": "U8", "shape": [4], "data_offsets": [2, 6]}})",
                         "xxxxxx"),
                "overlapping data_offsets");
  // An empty tensor inside another one's bytes overlaps it too.
  ExpectInvalid(MakeFile(R"({"a": {"dtype": "U8", "shape": [8], "data_offsets": [0, 8]},
                             "e": {"dtype": "U8", "shape": [0], "data_offsets": [3, 3]}})",
                         "xxxxxxxx"),
                "tensors 'a' and 'e' have overlapping data_offsets");
  // Adjacent tensors, empty tensors on a boundary, and gaps are fine.
  absl::StatusOr<SafetensorsFile> ok = SafetensorsFile::Parse(
      MakeFile(R"({"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},
                               "e": {"dtype": "U8", "shape": [0], "data_offsets": [4, 4]},
                               "f": {"dtype": "U8", "shape": [0], "data_offsets": [0, 0]},
                               "b": {"dtype": "U8", "shape": [2], "data_offsets": [4, 6]},
                               "c": {"dtype": "U8", "shape": [1], "data_offsets": [7, 8]}})",
               "abcdefgh"));
  ASSERT_TRUE(ok.ok()) << ok.status();
  absl::StatusOr<TensorView> c = ok->Get("c");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c->data, 'h');
}

TEST(ParseSafetensorsTest, RejectsBadMetadata) {
  ExpectInvalid(MakeFile(R"({"__metadata__": {"format": 1}})"),
                "'__metadata__' value for key 'format' must be a string, got 1");
  ExpectInvalid(MakeFile(R"({"__metadata__": {"format": {"a": "b"}}})"),
                "'__metadata__' value for key 'format' must be a string, got an object");
  ExpectInvalid(MakeFile(R"({"__metadata__": ["format", "pt"]})"),
                "'__metadata__' must be an object of strings, got an array");
}

TEST(ParseSafetensorsTest, RejectsDuplicateNames) {
  ExpectInvalid(MakeFile(R"({"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]},
                             "a": {"dtype": "U8", "shape": [1], "data_offsets": [1, 2]}})",
                         "xx"),
                "duplicate key 'a' in header");
}

TEST(ParseSafetensorsTest, AcceptsUnpaddedHeaderAndTrailingSpaces) {
  absl::StatusOr<SafetensorsFile> file = SafetensorsFile::Parse(
      MakeFile(R"({"t":{"dtype":"I32","shape":[1],"data_offsets":[0,4]}}   )", "\x01\0\0\0"s));
  ASSERT_TRUE(file.ok()) << file.status();
  absl::StatusOr<TensorView> t = file->Get("t");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(Values<int32_t>(*t), std::vector<int32_t>{1});
}

// Reads every byte of every tensor (so a sanitizer would catch a view that points outside
// the buffer) and checks each view lies within a buffer of `file_size` bytes.
void TouchEverything(const SafetensorsFile& file) {
  for (const std::string& name : file.Names()) {
    absl::StatusOr<TensorView> view = file.Get(name);
    ASSERT_TRUE(view.ok()) << view.status();
    unsigned sum = 0;
    for (size_t i = 0; i < view->size_bytes; ++i) {
      sum += view->data[i];
    }
    (void)sum;
    EXPECT_EQ(static_cast<int64_t>(view->size_bytes),
              view->numel() * static_cast<int64_t>(DTypeSize(view->dtype)));
  }
}

TEST_F(SafetensorsSampleTest, EveryTruncationFails) {
  for (size_t n = 0; n < bytes_.size(); ++n) {
    absl::StatusOr<SafetensorsFile> file = SafetensorsFile::Parse(bytes_.substr(0, n));
    EXPECT_FALSE(file.ok()) << "truncated to " << n << " of " << bytes_.size() << " bytes";
    if (!file.ok()) {
      EXPECT_THAT(file.status().code(),
                  ::testing::AnyOf(absl::StatusCode::kDataLoss, absl::StatusCode::kInvalidArgument))
          << file.status();
    }
  }
  EXPECT_TRUE(SafetensorsFile::Parse(bytes_).ok());
}

TEST_F(SafetensorsSampleTest, RandomMutationsNeverCrash) {
  std::mt19937_64 rng(20240611);
  std::uniform_int_distribution<size_t> pos(0, bytes_.size() - 1);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> count(1, 4);
  // Biased towards the header, where the structure lives.
  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes_.data(), 8);
  std::uniform_int_distribution<size_t> header_pos(0, 8 + header_len - 1);
  const std::string interesting = "{}[]\":,-0123456789e. \\";
  std::uniform_int_distribution<size_t> pick(0, interesting.size() - 1);
  int parsed_ok = 0;
  for (int i = 0; i < 2000; ++i) {
    std::string mutated = bytes_;
    const int n = count(rng);
    for (int k = 0; k < n; ++k) {
      const size_t p = (i % 2 == 0) ? header_pos(rng) : pos(rng);
      mutated[p] = (i % 3 == 0) ? interesting[pick(rng)] : static_cast<char>(byte(rng));
    }
    if (i % 5 == 0) {
      mutated.resize(pos(rng));
    }
    absl::StatusOr<SafetensorsFile> file = SafetensorsFile::Parse(mutated);
    if (file.ok()) {
      ++parsed_ok;
      TouchEverything(*file);
    } else {
      EXPECT_NE(file.status().code(), absl::StatusCode::kInternal) << file.status();
      EXPECT_FALSE(file.status().message().empty());
    }
  }
  // Mutating only tensor bytes leaves the file valid, so some must parse.
  EXPECT_GT(parsed_ok, 0);
}

}  // namespace
}  // namespace infmem::formats
