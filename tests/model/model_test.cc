// Behaviour of the model core through its public, torch-free interface: the segment rule's
// chunk invariance, batched decoding, sticky memories, memory modes, state persistence.
#include "server/model/model.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include "tests/testing/tiny_model.h"

namespace infmem::model {
namespace {

using ::testing::HasSubstr;
using testing::TinyConfig;

// The device under test: cpu unless INFMEM_TEST_DEVICE says otherwise (scripts/gpu-check.sh
// runs these tests with INFMEM_TEST_DEVICE=cuda).
ModelOptions TestOptions() {
  const char* dev = std::getenv("INFMEM_TEST_DEVICE");
  return {dev != nullptr && *dev != '\0' ? dev : "cpu", "float32", 1};
}
const ModelOptions kCpu = TestOptions();

std::vector<int32_t> RandomTokens(int n, int vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int32_t> dist(0, vocab - 1);
  std::vector<int32_t> out(n);
  for (auto& t : out) t = dist(rng);
  return out;
}

// Returns max |a-b| / max(1, max |b|).
double RelError(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double diff = 0, scale = 1;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    diff = std::max(diff, static_cast<double>(std::fabs(a[i] - b[i])));
    scale = std::max(scale, static_cast<double>(std::fabs(b[i])));
  }
  return diff / scale;
}

std::unique_ptr<Model> MakeModel(MemoryMode mode = MemoryMode::kInfinite, uint64_t seed = 7,
                                 bool sticky = true) {
  ModelConfig c = TinyConfig(mode);
  c.ltm.sticky = sticky;
  auto m = Model::CreateRandom(c, seed, kCpu);
  EXPECT_TRUE(m.ok()) << m.status();
  return std::move(m).value();
}

// Feeds tokens[0..n-2] one by one through DecodeStep and returns the last logits.
std::vector<float> FeedByDecode(const Model& m, SessionState& s, const std::vector<int32_t>& t) {
  std::vector<float> logits;
  for (int32_t tok : t) {
    SessionState* rows[] = {&s};
    logits = m.DecodeStep(rows, {tok}).value();
  }
  return logits;
}

class ChunkInvarianceTest : public ::testing::TestWithParam<MemoryMode> {};

TEST_P(ChunkInvarianceTest, OneCallRandomChunksAndDecodeAgree) {
  auto model = MakeModel(GetParam());
  const int n = GetParam() == MemoryMode::kFull ? 600 : 3000;
  const auto tokens = RandomTokens(n, model->config().vocab_size, 1);

  auto whole = model->NewSession(42);
  const auto logits_whole = model->Prefill(*whole, tokens).value();

  // 37 chunks at random cut points.
  auto chunked = model->NewSession(42);
  std::mt19937_64 rng(3);
  std::vector<int> cuts;
  std::uniform_int_distribution<int> cut(1, n - 1);
  while (cuts.size() < 36) {
    int c = cut(rng);
    if (std::find(cuts.begin(), cuts.end(), c) == cuts.end()) cuts.push_back(c);
  }
  std::sort(cuts.begin(), cuts.end());
  cuts.push_back(n);
  std::vector<float> logits_chunked;
  int begin = 0;
  for (int end : cuts) {
    logits_chunked = model->Prefill(*chunked, {tokens.data() + begin, size_t(end - begin)}).value();
    begin = end;
  }

  auto decoded = model->NewSession(42);
  const auto logits_decoded = FeedByDecode(*model, *decoded, tokens);

  EXPECT_LT(RelError(logits_chunked, logits_whole), 1e-4);
  EXPECT_LT(RelError(logits_decoded, logits_whole), 1e-4);
  EXPECT_EQ(chunked->tokens_seen(), n);
  EXPECT_EQ(decoded->ltm_updates(), whole->ltm_updates());
  if (GetParam() == MemoryMode::kInfinite) {
    EXPECT_GT(whole->ltm_updates(), 100);
  }

  // The states agree too: continuing all three with the same token gives the same logits.
  const auto probe = RandomTokens(40, model->config().vocab_size, 9);
  const auto a = model->Prefill(*whole, probe).value();
  const auto b = model->Prefill(*chunked, probe).value();
  const auto c = model->Prefill(*decoded, probe).value();
  EXPECT_LT(RelError(b, a), 1e-4);
  EXPECT_LT(RelError(c, a), 1e-4);
}

INSTANTIATE_TEST_SUITE_P(Modes, ChunkInvarianceTest,
                         ::testing::Values(MemoryMode::kInfinite, MemoryMode::kWindow,
                                           MemoryMode::kFull),
                         [](const auto& info) { return std::string(MemoryModeName(info.param)); });

// A session's result must not depend on which sessions shared its decode steps: a journal
// replayed one session at a time (takeover, restart) must rebuild the state bit for bit.
TEST(ModelTest, BatchedDecodeIsBitIdenticalToSeparateDecodes) {
  auto model = MakeModel();
  // Different segment offsets and LTM states; more rows than the fused kernels take outside a
  // decode step (kMaxDecodeRows), so a GEMM path would show.
  const int lengths[] = {1, 15, 16, 57, 300, 3, 255, 256, 511};
  const int n = static_cast<int>(std::size(lengths));
  std::vector<std::unique_ptr<SessionState>> batched, alone;
  for (int i = 0; i < n; ++i) {
    const auto t = RandomTokens(lengths[i], model->config().vocab_size, 100 + i);
    batched.push_back(model->NewSession(i));
    alone.push_back(model->NewSession(i));
    ASSERT_TRUE(model->Prefill(*batched.back(), t).ok());
    ASSERT_TRUE(model->Prefill(*alone.back(), t).ok());
  }
  const int vocab = model->config().vocab_size;
  for (int step = 0; step < 40; ++step) {  // crosses segment boundaries for every session
    std::vector<SessionState*> rows;
    std::vector<int32_t> next;
    for (int i = 0; i < n; ++i) {
      rows.push_back(batched[i].get());
      next.push_back((step * 7 + i * 13) % vocab);
    }
    const auto logits = model->DecodeStep(rows, next).value();
    ASSERT_EQ(logits.size(), size_t(n * vocab));
    for (int i = 0; i < n; ++i) {
      SessionState* one[] = {alone[i].get()};
      const auto expect = model->DecodeStep(one, {next[i]}).value();
      const std::vector<float> got(logits.begin() + i * vocab, logits.begin() + (i + 1) * vocab);
      ASSERT_EQ(got, expect) << "session " << i << " step " << step;
    }
  }
  for (int i = 0; i < n; ++i) {
    EXPECT_GT(batched[i]->ltm_updates(), 0) << "session " << i;
    EXPECT_EQ(model->SerializeState(*batched[i]).value(), model->SerializeState(*alone[i]).value())
        << "session " << i;
  }
}

// The fused CPU decode kernel and the tensor-operation path (the one CUDA runs) compute the
// same maths: batched decodes of sessions at different offsets, across segment boundaries,
// LTM updates and sticky draws, give the same logits and the same states. In float64 the
// two agree to rounding; float32 is what the server runs.
class DecodeKernelTest : public ::testing::TestWithParam<std::string> {};

// Decodes sessions of `lengths` tokens `steps` greedy steps, batched, through the kernel and
// through the tensor operations, and compares logits and LTM updates at every step.
void CompareKernelWithTensorOperations(const ModelConfig& config, const std::string& dtype,
                                       const std::vector<int>& lengths, int steps) {
  ModelOptions kernel_opts{"cpu", dtype, 1};
  ModelOptions ops_opts = kernel_opts;
  ops_opts.decode_kernel = false;
  auto kernel = Model::CreateRandom(config, 5, kernel_opts).value();
  auto ops = Model::CreateRandom(config, 5, ops_opts).value();
  const int n = static_cast<int>(lengths.size());
  std::vector<std::unique_ptr<SessionState>> a, b;
  for (int i = 0; i < n; ++i) {
    const auto t = RandomTokens(lengths[i], config.vocab_size, 200 + i);
    a.push_back(kernel->NewSession(i));
    b.push_back(ops->NewSession(i));
    ASSERT_TRUE(kernel->Prefill(*a.back(), t).ok());
    ASSERT_TRUE(ops->Prefill(*b.back(), t).ok());
  }
  const double tolerance = dtype == "float64" ? 1e-10 : 1e-4;
  std::vector<int32_t> next;
  for (int i = 0; i < n; ++i) next.push_back((3 * i + 1) % config.vocab_size);
  for (int step = 0; step < steps; ++step) {
    std::vector<SessionState*> rows_a, rows_b;
    for (int i = 0; i < n; ++i) {
      rows_a.push_back(a[i].get());
      rows_b.push_back(b[i].get());
    }
    const auto la = kernel->DecodeStep(rows_a, next).value();
    const auto lb = ops->DecodeStep(rows_b, next).value();
    ASSERT_LT(RelError(la, lb), tolerance)
        << MemoryModeName(config.memory) << " " << dtype << " step " << step;
    const int vocab = config.vocab_size;
    for (int i = 0; i < n; ++i) {  // greedy: the next token is each row's argmax
      auto row = la.begin() + i * vocab;
      next[i] = static_cast<int32_t>(std::max_element(row, row + vocab) - row);
    }
  }
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(a[i]->ltm_updates(), b[i]->ltm_updates());
    // A session that reached its second segment boundary has updated its LTM.
    if (config.memory == MemoryMode::kInfinite && lengths[i] + steps >= 2 * config.segment_length) {
      EXPECT_GT(a[i]->ltm_updates(), 0) << "session " << i;
    }
  }
}

TEST_P(DecodeKernelTest, KernelMatchesTensorOperations) {
  if (kCpu.device != "cpu") GTEST_SKIP() << "the kernel runs on the CPU only";
  for (MemoryMode mode : {MemoryMode::kInfinite, MemoryMode::kWindow}) {
    // Every STM window and LTM state, over 100 steps.
    CompareKernelWithTensorOperations(TinyConfig(mode), GetParam(), {1, 15, 16, 40, 300}, 100);
  }
}

// The kernel splits a row's STM into chunks of 256 keys, each a task whose partial softmax is
// combined afterwards: segments long enough for one, two and three chunks and their
// remainders (the tiny model's segments fit in one).
TEST_P(DecodeKernelTest, KernelMatchesTensorOperationsAcrossKeyChunks) {
  if (kCpu.device != "cpu") GTEST_SKIP() << "the kernel runs on the CPU only";
  for (MemoryMode mode : {MemoryMode::kInfinite, MemoryMode::kWindow, MemoryMode::kFull}) {
    ModelConfig config = TinyConfig(mode);
    config.segment_length = 300;  // STM windows of up to 600 keys
    CompareKernelWithTensorOperations(config, GetParam(), {1, 255, 257, 299, 512, 610, 899}, 12);
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, DecodeKernelTest, ::testing::Values("float32", "float64"));

// model-bench's helper: its figure is a benchmark's to print, not a test's to time (machines
// are shared); what a test can hold it to is a positive duration and its argument checks.
TEST(ModelTest, DecodeStepGemmSecondsReturnsADurationAndRefusesBadArguments) {
  auto model = MakeModel();
  auto one = model->DecodeStepGemmSeconds(1, 3);
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_GT(*one, 0.0);
  EXPECT_LT(*one, 10.0);
  EXPECT_EQ(model->DecodeStepGemmSeconds(0, 3).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(model->DecodeStepGemmSeconds(1, 0).status().code(), absl::StatusCode::kInvalidArgument);
}

// The LTM takes segment 0 at the second segment boundary (token 2L), not later: two
// histories that differ only in segment 0 give different logits from token 2L on, when segment
// 0 has left the STM and only the LTM remembers it. One layer, so that no key or value of a
// later token carries segment 0 along; in window mode (no LTM) the logits are then equal
// there, which shows the difference comes from the LTM alone.
TEST(ModelTest, TheLtmRemembersTheFirstSegmentFromTheSecondBoundaryOn) {
  for (MemoryMode mode : {MemoryMode::kInfinite, MemoryMode::kWindow}) {
    ModelConfig c = TinyConfig(mode);
    c.n_layers = 1;
    c.ltm.sticky = false;
    auto model = Model::CreateRandom(c, 7, kCpu).value();
    const int seg = model->config().segment_length;
    std::vector<int32_t> a = RandomTokens(2 * seg + 3, model->config().vocab_size, 21);
    std::vector<int32_t> b = a;
    for (int i = 0; i < seg; ++i) b[i] = (b[i] + 1) % model->config().vocab_size;
    auto sa = model->NewSession(1), sb = model->NewSession(1);
    // Up to token 2L the STM holds segment 0 itself: the histories differ there anyway.
    ASSERT_TRUE(model->Prefill(*sa, {a.data(), size_t(2 * seg)}).ok());
    ASSERT_TRUE(model->Prefill(*sb, {b.data(), size_t(2 * seg)}).ok());
    for (int i = 2 * seg; i < 2 * seg + 3; ++i) {
      SessionState* one_a[] = {sa.get()};
      SessionState* one_b[] = {sb.get()};
      const auto la = model->DecodeStep(one_a, {a[i]}).value();
      const auto lb = model->DecodeStep(one_b, {b[i]}).value();
      if (mode == MemoryMode::kInfinite) {
        EXPECT_GT(RelError(la, lb), 1e-6) << "token " << i << ": the LTM forgot segment 0";
      } else {
        EXPECT_EQ(la, lb) << "token " << i;
      }
    }
  }
}

TEST(ModelTest, StickyMemoriesDependOnTheSeedOnly) {
  auto model = MakeModel();
  const auto tokens = RandomTokens(400, model->config().vocab_size, 5);
  auto a = model->NewSession(1), b = model->NewSession(1), c = model->NewSession(2);
  const auto la = model->Prefill(*a, tokens).value();
  const auto lb = model->Prefill(*b, tokens).value();
  const auto lc = model->Prefill(*c, tokens).value();
  EXPECT_EQ(la, lb);
  EXPECT_EQ(model->SerializeState(*a).value(), model->SerializeState(*b).value());
  EXPECT_GT(RelError(lc, la), 1e-6) << "a different seed must draw different sticky positions";
}

TEST(ModelTest, NonStickySeedDoesNotMatter) {
  auto model = MakeModel(MemoryMode::kInfinite, 7, /*sticky=*/false);
  const auto tokens = RandomTokens(400, model->config().vocab_size, 5);
  auto a = model->NewSession(1), c = model->NewSession(2);
  EXPECT_EQ(model->Prefill(*a, tokens).value(), model->Prefill(*c, tokens).value());
}

TEST(ModelTest, WindowEqualsInfiniteWhileLtmIsEmpty) {
  auto inf = MakeModel(MemoryMode::kInfinite, 11);
  auto win = MakeModel(MemoryMode::kWindow, 11);
  const int seg = inf->config().segment_length;
  const auto tokens = RandomTokens(4 * seg, inf->config().vocab_size, 6);
  auto si = inf->NewSession(1), sw = win->NewSession(1);
  // The LTM receives its first segment when token 2L arrives: up to 2L tokens they agree.
  const auto li = inf->Prefill(*si, {tokens.data(), size_t(2 * seg)}).value();
  const auto lw = win->Prefill(*sw, {tokens.data(), size_t(2 * seg)}).value();
  EXPECT_LT(RelError(li, lw), 1e-6);
  EXPECT_EQ(si->ltm_updates(), 0);
  const auto li2 = inf->Prefill(*si, {tokens.data() + 2 * seg, size_t(2 * seg)}).value();
  const auto lw2 = win->Prefill(*sw, {tokens.data() + 2 * seg, size_t(2 * seg)}).value();
  EXPECT_GT(si->ltm_updates(), 0);
  EXPECT_GT(RelError(li2, lw2), 1e-5) << "once the LTM holds a segment the modes must differ";
}

TEST(ModelTest, StateSizeIsConstant) {
  auto model = MakeModel();
  auto s = model->NewSession(1);
  const int64_t fresh = s->ByteSize();
  EXPECT_EQ(fresh, model->StateBytes());
  ASSERT_TRUE(model->Prefill(*s, RandomTokens(2000, model->config().vocab_size, 1)).ok());
  EXPECT_EQ(s->ByteSize(), fresh);
  // Snapshots differ only by the digits of the counters in their metadata.
  const auto grown = model->SerializeState(*s).value().size();
  const auto empty = model->SerializeState(*model->NewSession(1)).value().size();
  EXPECT_LE(grown - empty, 16u);
}

TEST(ModelTest, StateRoundTripIsBitExact) {
  auto model = MakeModel();
  const auto tokens = RandomTokens(777, model->config().vocab_size, 2);
  auto s = model->NewSession(99);
  ASSERT_TRUE(model->Prefill(*s, tokens).ok());
  const std::string bytes = model->SerializeState(*s).value();
  const std::string path = ::testing::TempDir() + "/state_roundtrip.safetensors";
  std::ofstream(path, std::ios::binary) << bytes;
  std::ifstream in(path, std::ios::binary);
  std::string read((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto loaded = model->DeserializeState(read);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->tokens_seen(), 777);
  EXPECT_EQ((*loaded)->seed(), 99u);
  EXPECT_EQ((*loaded)->ltm_updates(), s->ltm_updates());
  EXPECT_EQ(model->SerializeState(**loaded).value(), bytes);
  // Continuing from the loaded copy is bit-identical to continuing the original.
  const auto more = RandomTokens(50, model->config().vocab_size, 3);
  EXPECT_EQ(model->Prefill(**loaded, more).value(), model->Prefill(*s, more).value());
}

TEST(ModelTest, CloneIsIndependent) {
  auto model = MakeModel();
  auto s = model->NewSession(1);
  ASSERT_TRUE(model->Prefill(*s, RandomTokens(100, 64, 1)).ok());
  auto copy = model->Clone(*s);
  const auto more = RandomTokens(30, 64, 2);
  const auto a = model->Prefill(*s, more).value();
  const auto b = model->Prefill(*copy, more).value();
  EXPECT_EQ(a, b);
  ASSERT_TRUE(model->Prefill(*s, {1, 2, 3}).ok());
  EXPECT_EQ(copy->tokens_seen(), 130);
}

TEST(ModelTest, StateFromAnotherModelIsRefused) {
  auto a = MakeModel(MemoryMode::kInfinite, 1);
  auto b = MakeModel(MemoryMode::kInfinite, 2);
  EXPECT_NE(a->fingerprint(), b->fingerprint());
  auto s = a->NewSession(1);
  ASSERT_TRUE(a->Prefill(*s, {1, 2, 3}).ok());
  auto loaded = b->DeserializeState(a->SerializeState(*s).value());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(loaded.status().message(), HasSubstr("made by model"));
}

TEST(ModelTest, TruncatedOrCorruptedStateFailsCleanly) {
  auto model = MakeModel();
  auto s = model->NewSession(1);
  ASSERT_TRUE(model->Prefill(*s, RandomTokens(200, 64, 1)).ok());
  const std::string bytes = model->SerializeState(*s).value();
  for (size_t len :
       {size_t(0), size_t(7), size_t(8), size_t(100), bytes.size() / 2, bytes.size() - 1}) {
    auto r = model->DeserializeState(bytes.substr(0, len));
    EXPECT_FALSE(r.ok()) << "truncated at " << len;
  }
  // A flipped byte in the tensor data is caught by the checksum.
  std::string corrupt = bytes;
  corrupt[corrupt.size() - 5] ^= 0x40;
  auto r = model->DeserializeState(corrupt);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(r.status().message(), HasSubstr("checksum"));
  // Random corruption anywhere never crashes.
  std::mt19937_64 rng(5);
  for (int i = 0; i < 300; ++i) {
    std::string m = bytes;
    m[rng() % m.size()] = static_cast<char>(rng());
    (void)model->DeserializeState(m);
  }
}

TEST(ModelTest, WeightsRoundTripThroughADirectory) {
  auto model = MakeModel();
  const std::string dir = ::testing::TempDir() + "/weights_roundtrip";
  ASSERT_TRUE(model->Save(dir, WeightStorage::kFloat32).ok());
  auto loaded = Model::Load(dir, kCpu);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->fingerprint(), model->fingerprint());
  const auto t = RandomTokens(100, 64, 1);
  auto a = model->NewSession(1), b = (*loaded)->NewSession(1);
  EXPECT_EQ(model->Prefill(*a, t).value(), (*loaded)->Prefill(*b, t).value());

  // bf16 storage halves the file and stays close.
  const std::string dir16 = ::testing::TempDir() + "/weights_bf16";
  ASSERT_TRUE(model->Save(dir16, WeightStorage::kBFloat16).ok());
  EXPECT_LT(std::filesystem::file_size(dir16 + "/model.safetensors"),
            std::filesystem::file_size(dir + "/model.safetensors") * 0.6);
  auto loaded16 = Model::Load(dir16, kCpu);
  ASSERT_TRUE(loaded16.ok()) << loaded16.status();
}

TEST(ModelTest, MalformedWeightFilesAreRejected) {
  auto model = MakeModel();
  const std::string dir = ::testing::TempDir() + "/weights_bad";
  ASSERT_TRUE(model->Save(dir, WeightStorage::kFloat32).ok());
  const std::string file = dir + "/model.safetensors";
  std::ifstream in(file, std::ios::binary);
  const std::string good((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());

  // Truncated: offsets past the end.
  std::ofstream(file, std::ios::binary | std::ios::trunc) << good.substr(0, good.size() - 100);
  EXPECT_FALSE(Model::Load(dir, kCpu).ok());
  // Missing file.
  std::filesystem::remove(file);
  EXPECT_EQ(Model::Load(dir, kCpu).status().code(), absl::StatusCode::kNotFound);
  // Weights of a model with other shapes.
  ModelConfig other = TinyConfig();
  other.dim = 48;
  other.n_heads = 4;
  ASSERT_TRUE(Model::CreateRandom(other, 1, kCpu)
                  .value()
                  ->Save(dir + "_other", WeightStorage::kFloat32)
                  .ok());
  std::filesystem::copy_file(dir + "_other/model.safetensors", file);
  auto r = Model::Load(dir, kCpu);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("shape"));
  // Weights of a window model loaded as infinite: missing LTM tensors.
  ASSERT_TRUE(Model::CreateRandom(TinyConfig(MemoryMode::kWindow), 1, kCpu)
                  .value()
                  ->Save(dir + "_window", WeightStorage::kFloat32)
                  .ok());
  std::filesystem::copy_file(dir + "_window/model.safetensors", file,
                             std::filesystem::copy_options::overwrite_existing);
  r = Model::Load(dir, kCpu);
  EXPECT_THAT(r.status().message(), HasSubstr("missing tensor 'layers.0.ltm."));
}

TEST(ModelTest, BadInputsGetClearErrors) {
  auto model = MakeModel();
  auto s = model->NewSession(1);
  EXPECT_EQ(model->Prefill(*s, {}).status().code(), absl::StatusCode::kInvalidArgument);
  auto r = model->Prefill(*s, {1, 64});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("token id 64 at index 1"));
  EXPECT_EQ(s->tokens_seen(), 0) << "a rejected call must not touch the state";
  SessionState* twice[] = {s.get(), s.get()};
  EXPECT_EQ(model->DecodeStep(twice, {1, 2}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Model::CreateRandom(TinyConfig(), 1, {"tpu", "float32", 1}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(Model::CreateRandom(TinyConfig(), 1, {"cpu", "int8", 1}).ok());
}

}  // namespace
}  // namespace infmem::model

namespace infmem::model {
namespace {

// Grouped-query attention (2 key/value heads for 4 query heads), Hugging Face's rotate-half
// RoPE layout and llama3 frequency scaling: the shape of an imported checkpoint.
ModelConfig GqaConfig(MemoryMode mode) {
  ModelConfig c = testing::TinyConfig(mode);
  c.n_kv_heads = 2;
  c.rope_layout = RopeLayout::kHalf;
  c.rope_theta = 500000;
  c.rope_scaling = {"llama3", 8.0, 1.0, 4.0, 32};
  return ParseModelConfig(ModelConfigToJson(c)).value();  // round-trips the new fields
}

class GqaTest : public ::testing::TestWithParam<MemoryMode> {};

TEST_P(GqaTest, PrefillChunksDecodeAndTheKernelAgree) {
  const ModelConfig config = GqaConfig(GetParam());
  EXPECT_EQ(config.kv_heads(), 2);
  ModelOptions ops_opts{"cpu", "float64", 1};
  ops_opts.decode_kernel = false;
  auto model = Model::CreateRandom(config, 11, {"cpu", "float64", 1}).value();
  auto ops = Model::CreateRandom(config, 11, ops_opts).value();
  const int n = GetParam() == MemoryMode::kFull ? 200 : 700;
  const auto tokens = RandomTokens(n, config.vocab_size, 4);
  auto whole = model->NewSession(1);
  const auto logits_whole = model->Prefill(*whole, tokens).value();
  auto decoded = model->NewSession(1);
  const auto logits_decoded = FeedByDecode(*model, *decoded, tokens);
  auto decoded_ops = ops->NewSession(1);
  const auto logits_ops = FeedByDecode(*ops, *decoded_ops, tokens);
  EXPECT_LT(RelError(logits_decoded, logits_whole), 1e-9);
  EXPECT_LT(RelError(logits_ops, logits_whole), 1e-9);
  if (GetParam() == MemoryMode::kInfinite) {
    EXPECT_GT(whole->ltm_updates(), 30);
  }
}

INSTANTIATE_TEST_SUITE_P(Modes, GqaTest,
                         ::testing::Values(MemoryMode::kInfinite, MemoryMode::kWindow,
                                           MemoryMode::kFull),
                         [](const auto& info) { return std::string(MemoryModeName(info.param)); });

TEST(GqaStateTest, KeyValueHeadsShrinkTheState) {
  for (MemoryMode mode : {MemoryMode::kWindow, MemoryMode::kInfinite}) {
    ModelConfig mha = testing::TinyConfig(mode), gqa = mha;
    gqa.n_kv_heads = 1;  // a quarter of the key/value heads
    auto a = Model::CreateRandom(mha, 1, kCpu).value();
    auto b = Model::CreateRandom(gqa, 1, kCpu).value();
    // The STM's keys and values: 2 layers × 2 tensors × 2L slots × (h - kv) heads × d floats.
    const int64_t saved = 2 * 2 * 2 * mha.segment_length * (4 - 1) * mha.head_dim() * 4;
    EXPECT_EQ(a->StateBytes() - b->StateBytes(), saved) << MemoryModeName(mode);
    EXPECT_LT(b->ParameterCount(), a->ParameterCount());
  }
}

TEST(RopeScalingTest, Llama3ScalingChangesOnlyLongWavelengths) {
  // With the scaling's original context far beyond every wavelength of a 300-token prefix,
  // nothing is rescaled and the logits equal the unscaled model's; with a short original
  // context the long wavelengths are stretched and the logits change.
  ModelConfig plain = GqaConfig(MemoryMode::kFull);
  plain.rope_scaling = {};
  ModelConfig far = plain, near = plain;
  far.rope_scaling = {"llama3", 8.0, 1.0, 4.0, 1 << 30};
  near.rope_scaling = {"llama3", 8.0, 1.0, 4.0, 16};
  const auto tokens = RandomTokens(300, plain.vocab_size, 8);
  auto logits = [&](const ModelConfig& c) {
    auto m = Model::CreateRandom(c, 3, kCpu).value();
    auto s = m->NewSession(0);
    return m->Prefill(*s, tokens).value();
  };
  const auto base = logits(plain);
  EXPECT_EQ(logits(far), base);
  EXPECT_GT(RelError(logits(near), base), 1e-4);
}

TEST(ConfigTest, ImportFieldsAreValidated) {
  ModelConfig c = GqaConfig(MemoryMode::kWindow);
  std::string json = ModelConfigToJson(c);
  EXPECT_NE(json.find("\"n_kv_heads\": 2"), std::string::npos) << json;
  EXPECT_NE(json.find("\"rope_layout\": \"half\""), std::string::npos) << json;
  c.n_kv_heads = 3;  // does not divide 4 heads
  auto bad = ParseModelConfig(ModelConfigToJson(c));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("n_kv_heads"), std::string::npos) << bad.status();
  std::string layout = json;
  layout.replace(layout.find("\"half\""), 6, "\"spiral\"");
  EXPECT_NE(ParseModelConfig(layout).status().message().find("rope_layout"), std::string::npos);
  std::string kind = json;
  kind.replace(kind.find("\"llama3\""), 8, "\"yarn\"");
  EXPECT_NE(ParseModelConfig(kind).status().message().find("rope_scaling.kind"), std::string::npos);
  // A config without the new fields is the one every earlier model has, and stays unchanged.
  const ModelConfig old = testing::TinyConfig();
  const std::string old_json = ModelConfigToJson(old);
  EXPECT_EQ(old_json.find("n_kv_heads"), std::string::npos);
  EXPECT_EQ(old_json.find("rope_layout"), std::string::npos);
  EXPECT_EQ(old_json.find("rope_scaling"), std::string::npos);
}

// Three sessions at different lengths decoded in one step equal each decoded alone.
void ExpectBatchedEqualsSingle(const Model& m) {
  const int vocab = m.config().vocab_size;
  std::vector<std::unique_ptr<SessionState>> a, b;
  std::vector<SessionState*> rows;
  for (int i = 0; i < 3; ++i) {
    a.push_back(m.NewSession(i));
    b.push_back(m.NewSession(i));
    const auto t = RandomTokens(20 + 30 * i, vocab, 40 + i);
    ASSERT_TRUE(m.Prefill(*a.back(), t).ok());
    ASSERT_TRUE(m.Prefill(*b.back(), t).ok());
    rows.push_back(a.back().get());
  }
  const auto batch = m.DecodeStep(rows, {1, 2, 3}).value();
  for (int i = 0; i < 3; ++i) {
    SessionState* one[] = {b[i].get()};
    const auto alone = m.DecodeStep(one, {i + 1}).value();
    const std::vector<float> got(batch.begin() + i * vocab, batch.begin() + (i + 1) * vocab);
    EXPECT_LT(RelError(got, alone), 1e-5) << i;
  }
}

// Reduced-precision linear layers (ModelOptions::weights = "bfloat16" or "int8"): decode
// through the reduced copies agrees with prefill's float32 GEMMs on the same (rounded)
// weights, batched decode with single decode, and the model stays close to its float32 self.
struct ReducedCase {
  MemoryMode mode;
  const char* weights;
  double drift;  // the largest relative change of the logits the rounding may cause
};

class ReducedWeightsTest : public ::testing::TestWithParam<ReducedCase> {};

TEST_P(ReducedWeightsTest, DecodePrefillBatchAndFloat32Agree) {
  if (kCpu.device != "cpu") GTEST_SKIP() << "reduced weights run on the CPU only";
  ModelConfig c = TinyConfig(GetParam().mode);
  c.dim = 72;         // rows of 72 weights: the kernel's 8-wide blocks and 4-channel groups
  c.vocab_size = 67;  // an output projection that leaves 3 channels outside the groups
  ModelOptions reduced = kCpu;
  reduced.weights = GetParam().weights;
  auto q = Model::CreateRandom(c, 3, reduced).value();
  auto f = Model::CreateRandom(c, 3, kCpu).value();
  EXPECT_EQ(q->fingerprint(), f->fingerprint());  // sessions move between the two
  const auto tokens = RandomTokens(150, c.vocab_size, 8);
  auto whole = q->NewSession(1);
  const auto prefilled = q->Prefill(*whole, tokens).value();
  auto decoded = q->NewSession(1);
  const auto by_decode = FeedByDecode(*q, *decoded, tokens);
  EXPECT_LT(RelError(by_decode, prefilled), 1e-4);
  auto exact = f->NewSession(1);
  const auto float_logits = f->Prefill(*exact, tokens).value();
  const double drift = RelError(prefilled, float_logits);
  EXPECT_GT(drift, 0);  // the weights did change
  EXPECT_LT(drift, GetParam().drift);
  ExpectBatchedEqualsSingle(*q);
}

// bfloat16 keeps 8 significant bits against int8's 7 bits per channel: similar drift bounds.
INSTANTIATE_TEST_SUITE_P(Modes, ReducedWeightsTest,
                         ::testing::Values(ReducedCase{MemoryMode::kInfinite, "int8", 0.05},
                                           ReducedCase{MemoryMode::kWindow, "int8", 0.05},
                                           ReducedCase{MemoryMode::kFull, "int8", 0.05},
                                           ReducedCase{MemoryMode::kInfinite, "bfloat16", 0.05},
                                           ReducedCase{MemoryMode::kFull, "bfloat16", 0.05}),
                         [](const auto& info) {
                           return std::string(MemoryModeName(info.param.mode)) + "_" +
                                  info.param.weights;
                         });

// A float16 KV cache (ModelOptions::kv_cache): decode through the kernel, the tensor path,
// prefill and float32 agree to float16's rounding; batched equals single decode; snapshots
// are float32 and move between a float16 and a float32 server, continuing identically on the
// same kind of server; the state is half as large.
class Float16KvTest : public ::testing::TestWithParam<MemoryMode> {};

TEST_P(Float16KvTest, AgreesWithFloat32AndRoundTrips) {
  if (kCpu.device != "cpu") GTEST_SKIP() << "the float16 KV cache runs on the CPU only";
  const ModelConfig c = TinyConfig(GetParam());
  ModelOptions half = kCpu;
  half.kv_cache = "float16";
  ModelOptions half_ops = half;
  half_ops.decode_kernel = false;
  auto h = Model::CreateRandom(c, 4, half).value();
  auto h_ops = Model::CreateRandom(c, 4, half_ops).value();
  auto f = Model::CreateRandom(c, 4, kCpu).value();
  EXPECT_EQ(h->fingerprint(), f->fingerprint());
  const auto tokens = RandomTokens(300, c.vocab_size, 9);  // past LTM updates in infinite mode
  auto decoded = h->NewSession(1);
  const auto by_decode = FeedByDecode(*h, *decoded, tokens);
  auto prefilled = h->NewSession(1);
  const auto by_prefill = h->Prefill(*prefilled, tokens).value();
  auto exact = f->NewSession(1);
  const auto float_logits = f->Prefill(*exact, tokens).value();
  EXPECT_LT(RelError(by_decode, by_prefill), 5e-3);
  EXPECT_LT(RelError(by_decode, float_logits), 5e-3);
  EXPECT_GT(RelError(by_decode, float_logits), 0);  // the cache is rounded
  if (GetParam() != MemoryMode::kFull) {            // full mode decodes through the kernel only
    auto ops = h_ops->NewSession(1);
    EXPECT_LT(RelError(FeedByDecode(*h_ops, *ops, tokens), by_decode), 1e-4);
  }
  // Keys and values are the whole state outside infinite mode: half the bytes.
  if (GetParam() == MemoryMode::kInfinite) {
    EXPECT_LT(h->StateBytes(), f->StateBytes());
  } else {
    EXPECT_EQ(h->StateBytes() * 2, f->StateBytes());
  }
  ExpectBatchedEqualsSingle(*h);
  // Snapshots: float32 on disk; a float16 server's snapshot reloads bit-exactly on another
  // float16 server, and a float32 server's loads there (rounded) and continues closely.
  const std::string bytes = h->SerializeState(*decoded).value();
  auto again = h->DeserializeState(bytes);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(h->SerializeState(**again).value(), bytes);
  const auto more = RandomTokens(40, c.vocab_size, 10);
  EXPECT_EQ(h->Prefill(**again, more).value(), h->Prefill(*decoded, more).value());
  auto in_float = f->DeserializeState(bytes);
  ASSERT_TRUE(in_float.ok()) << in_float.status();
  auto from_float = h->DeserializeState(f->SerializeState(*exact).value());
  ASSERT_TRUE(from_float.ok()) << from_float.status();
  EXPECT_LT(RelError(h->Prefill(**from_float, more).value(), f->Prefill(*exact, more).value()),
            5e-3);
}

INSTANTIATE_TEST_SUITE_P(Modes, Float16KvTest,
                         ::testing::Values(MemoryMode::kInfinite, MemoryMode::kWindow,
                                           MemoryMode::kFull),
                         [](const auto& info) { return std::string(MemoryModeName(info.param)); });

TEST(ReducedWeightsOptionTest, BadChoicesAreInvalidArgument) {
  ModelOptions o = kCpu;
  o.weights = "int4";
  EXPECT_THAT(Model::CreateRandom(TinyConfig(), 1, o).status().message(), HasSubstr("weights"));
  o.weights = "int8";
  o.dtype = "float64";
  EXPECT_EQ(Model::CreateRandom(TinyConfig(), 1, o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = kCpu;
  o.kv_cache = "bfloat16";
  EXPECT_THAT(Model::CreateRandom(TinyConfig(), 1, o).status().message(), HasSubstr("kv_cache"));
  o.kv_cache = "float16";
  o.dtype = "float64";
  EXPECT_THAT(Model::CreateRandom(TinyConfig(), 1, o).status().message(), HasSubstr("float16"));
}

}  // namespace
}  // namespace infmem::model
