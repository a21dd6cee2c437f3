// GGUF import: metadata -> ModelConfig, tensors -> model.safetensors (dequantized one tensor
// at a time), tokenizer -> tokenizer files.
#include "server/formats/gguf_import.h"

#include <algorithm>
#include <filesystem>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/common/status_macros.h"
#include "server/formats/ggml_blocks.h"
#include "server/formats/gguf_file.h"
#include "server/formats/gguf_tokenizer.h"
#include "server/formats/model_dir_writer.h"

namespace infmem::formats {
namespace {

namespace fs = std::filesystem;
using model::ModelConfig;

constexpr absl::string_view kArchitectures[] = {"llama", "qwen2", "qwen3"};

absl::Status Error(const std::string& path, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", message));
}

// A positive integer metadata value that fits an int.
absl::StatusOr<int> PositiveInt(const GgufFile& gguf, const std::string& key,
                                std::optional<int> fallback = std::nullopt) {
  ASSIGN_OR_RETURN(std::optional<int64_t> v, gguf.OptionalInt(key));
  if (!v.has_value()) {
    if (fallback.has_value()) return *fallback;
    return Error(gguf.path(), absl::StrCat("missing key '", key, "'"));
  }
  if (*v <= 0 || *v > (int64_t{1} << 30)) {
    return Error(gguf.path(), absl::StrCat("key '", key, "' is ", *v, "; it must be positive"));
  }
  return static_cast<int>(*v);
}

// Reads the architecture and sizes; the caller fills memory mode, LTM, name and tokenizer.
absl::StatusOr<ModelConfig> ReadGgufConfig(const GgufFile& gguf, std::string* arch,
                                           std::optional<int>* sliding_window) {
  const std::string& path = gguf.path();
  ASSIGN_OR_RETURN(*arch, gguf.GetString("general.architecture"));
  if (std::find(std::begin(kArchitectures), std::end(kArchitectures), *arch) ==
      std::end(kArchitectures)) {
    return Error(path, absl::StrCat("key 'general.architecture' is \"", *arch,
                                    "\"; supported: ", absl::StrJoin(kArchitectures, ", ")));
  }
  const std::string a = *arch + ".";
  if (gguf.Find(a + "expert_count") != nullptr) {
    return Error(path, absl::StrCat("key '", a,
                                    "expert_count': mixtures of experts are not "
                                    "supported"));
  }
  ModelConfig c;
  c.architecture = std::string(model::kArchitecture);
  ASSIGN_OR_RETURN(c.dim, PositiveInt(gguf, a + "embedding_length"));
  ASSIGN_OR_RETURN(c.n_layers, PositiveInt(gguf, a + "block_count"));
  ASSIGN_OR_RETURN(c.ffn_dim, PositiveInt(gguf, a + "feed_forward_length"));
  ASSIGN_OR_RETURN(c.n_heads, PositiveInt(gguf, a + "attention.head_count"));
  ASSIGN_OR_RETURN(c.n_kv_heads, PositiveInt(gguf, a + "attention.head_count_kv", c.n_heads));
  if (c.n_heads % c.n_kv_heads != 0) {
    return Error(path, absl::StrCat("key '", a, "attention.head_count_kv' (", c.n_kv_heads,
                                    ") must divide the head count (", c.n_heads, ")"));
  }
  const int default_head_dim = c.dim % c.n_heads == 0 ? c.dim / c.n_heads : 0;
  ASSIGN_OR_RETURN(
      const int key_length,
      PositiveInt(gguf, a + "attention.key_length",
                  default_head_dim > 0 ? std::optional<int>(default_head_dim) : std::nullopt));
  ASSIGN_OR_RETURN(const int value_length,
                   PositiveInt(gguf, a + "attention.value_length", key_length));
  if (value_length != key_length) {
    return Error(path, absl::StrCat("key '", a, "attention.value_length' (", value_length,
                                    ") differs from the key length (", key_length, ")"));
  }
  ASSIGN_OR_RETURN(const int rope_dims, PositiveInt(gguf, a + "rope.dimension_count", key_length));
  if (rope_dims != key_length) {
    return Error(path, absl::StrCat("key '", a, "rope.dimension_count' is ", rope_dims,
                                    "; partial rotary embeddings (head dimension ", key_length,
                                    ") are not supported"));
  }
  if (key_length % 2 != 0) {
    return Error(path, absl::StrCat("head dimension ", key_length, " is odd; RoPE needs it even"));
  }
  c.explicit_head_dim = key_length == default_head_dim ? 0 : key_length;
  ASSIGN_OR_RETURN(const std::optional<std::string> scaling,
                   gguf.OptionalString(a + "rope.scaling.type"));
  if (scaling.has_value() && *scaling != "none") {
    return Error(path, absl::StrCat("key '", a, "rope.scaling.type' is \"", *scaling,
                                    "\"; RoPE scaling is not supported for GGUF files yet"));
  }
  ASSIGN_OR_RETURN(std::optional<double> eps,
                   gguf.OptionalNumber(a + "attention.layer_norm_rms_epsilon"));
  ASSIGN_OR_RETURN(std::optional<double> theta, gguf.OptionalNumber(a + "rope.freq_base"));
  if (!eps.has_value() || !(*eps > 0)) {
    return Error(path, absl::StrCat("key '", a,
                                    "attention.layer_norm_rms_epsilon' must be a "
                                    "positive number"));
  }
  if (theta.has_value() && !(*theta > 0)) {
    return Error(path, absl::StrCat("key '", a, "rope.freq_base' must be positive"));
  }
  c.norm_eps = *eps;
  c.rope_theta = theta.value_or(10000.0);
  // llama.cpp's llama tensors were permuted for RoPE on interleaved pairs; qwen's were not.
  c.rope_layout = *arch == "llama" ? model::RopeLayout::kInterleaved : model::RopeLayout::kHalf;
  c.attention_bias = *arch == "qwen2";
  c.qk_norm = *arch == "qwen3";
  ASSIGN_OR_RETURN(std::optional<int64_t> window, gguf.OptionalInt(a + "attention.sliding_window"));
  if (window.has_value()) *sliding_window = static_cast<int>(*window);

  const GgufTensor* embedding = gguf.FindTensor("token_embd.weight");
  if (embedding == nullptr) return Error(path, "missing tensor 'token_embd.weight'");
  if (embedding->dims.size() != 2 || embedding->dims[0] != c.dim) {
    return Error(path, absl::StrCat("tensor 'token_embd.weight' must be [", c.dim,
                                    ", vocabulary] (innermost first)"));
  }
  c.vocab_size = static_cast<int>(embedding->dims[1]);
  c.tie_embeddings = gguf.FindTensor("output.weight") == nullptr;
  return c;
}

// One tensor to copy: GGUF name, infmem name, the infmem (row-major) shape.
struct Mapped {
  std::string gguf;
  std::string name;
  std::vector<int64_t> shape;
};

std::vector<Mapped> TensorMap(const ModelConfig& c) {
  const int64_t e = c.dim, f = c.ffn_dim, q = c.q_dim(), kv = c.kv_dim(), d = c.head_dim();
  std::vector<Mapped> m = {{"token_embd.weight", "tok_embeddings.weight", {c.vocab_size, e}}};
  for (int i = 0; i < c.n_layers; ++i) {
    const std::string g = absl::StrCat("blk.", i, ".");
    const std::string o = absl::StrCat("layers.", i, ".");
    m.push_back({g + "attn_norm.weight", o + "attention_norm.weight", {e}});
    m.push_back({g + "attn_q.weight", o + "attention.wq.weight", {q, e}});
    m.push_back({g + "attn_k.weight", o + "attention.wk.weight", {kv, e}});
    m.push_back({g + "attn_v.weight", o + "attention.wv.weight", {kv, e}});
    if (c.attention_bias) {
      m.push_back({g + "attn_q.bias", o + "attention.wq.bias", {q}});
      m.push_back({g + "attn_k.bias", o + "attention.wk.bias", {kv}});
      m.push_back({g + "attn_v.bias", o + "attention.wv.bias", {kv}});
    }
    if (c.qk_norm) {
      m.push_back({g + "attn_q_norm.weight", o + "attention.q_norm.weight", {d}});
      m.push_back({g + "attn_k_norm.weight", o + "attention.k_norm.weight", {d}});
    }
    m.push_back({g + "attn_output.weight", o + "attention.wo.weight", {e, q}});
    m.push_back({g + "ffn_norm.weight", o + "ffn_norm.weight", {e}});
    m.push_back({g + "ffn_gate.weight", o + "feed_forward.w1.weight", {f, e}});
    m.push_back({g + "ffn_down.weight", o + "feed_forward.w2.weight", {e, f}});
    m.push_back({g + "ffn_up.weight", o + "feed_forward.w3.weight", {f, e}});
  }
  m.push_back({"output_norm.weight", "norm.weight", {e}});
  if (!c.tie_embeddings) m.push_back({"output.weight", "output.weight", {c.vocab_size, e}});
  return m;
}

bool IsPlain(GgmlType type) {
  return type == GgmlType::kF32 || type == GgmlType::kF16 || type == GgmlType::kBF16;
}

DType PlainDType(GgmlType type) {
  return type == GgmlType::kF16    ? DType::kF16
         : type == GgmlType::kBF16 ? DType::kBF16
                                   : DType::kF32;
}

std::string DefaultName(const GgufFile& gguf) {
  const GgufValue* name = gguf.Find("general.name");
  if (name != nullptr && name->type == GgufType::kString && !name->string.empty()) {
    return name->string;
  }
  return fs::path(gguf.path()).stem().string();
}

}  // namespace

absl::StatusOr<ConversionSummary> ImportGguf(const GgufImportOptions& options) {
  const Clock::time_point start = Clock::now();
  ASSIGN_OR_RETURN(const GgufFile gguf, GgufFile::Read(options.gguf_path));
  const std::string& path = gguf.path();
  std::string arch;
  std::optional<int> sliding_window;
  ASSIGN_OR_RETURN(ModelConfig config, ReadGgufConfig(gguf, &arch, &sliding_window));
  if (sliding_window.has_value() &&
      (options.memory == MemoryMode::kFull || 2 * options.segment_length > *sliding_window)) {
    return Error(path,
                 absl::StrCat("key '", arch, ".attention.sliding_window' is ", *sliding_window,
                              ": import in window or infinite mode with a "
                              "segment_length of at most ",
                              *sliding_window / 2));
  }
  ASSIGN_OR_RETURN(GgufTokenizerFiles tokenizer, ConvertGgufTokenizer(gguf));
  if (tokenizer.vocab_size > config.vocab_size) {
    return Error(path,
                 absl::StrCat("the tokenizer has ", tokenizer.vocab_size, " tokens, more than the ",
                              config.vocab_size, " rows of token_embd.weight"));
  }
  config.name = options.name.empty() ? DefaultName(gguf) : options.name;
  config.memory = options.memory;
  config.segment_length = options.segment_length;
  config.ltm = options.ltm;
  config.tokenizer = tokenizer.config;
  config.bos_id = tokenizer.bos_id;
  config.eos_id = tokenizer.eos_id;
  absl::StatusOr<ModelConfig> checked = model::ParseModelConfig(model::ModelConfigToJson(config));
  if (!checked.ok()) {
    return Error(
        path, absl::StrCat("converts to an invalid infmem config: ", checked.status().message()));
  }

  // Check every tensor before writing anything; refuse tensors this import would drop.
  const std::vector<Mapped> mapped = TensorMap(config);
  std::set<std::string> expected;
  std::vector<TensorToWrite> headers;
  std::vector<const GgufTensor*> sources;
  uint64_t total_bytes = 0;
  for (const Mapped& m : mapped) {
    expected.insert(m.gguf);
    const GgufTensor* t = gguf.FindTensor(m.gguf);
    if (t == nullptr) return Error(path, absl::StrCat("missing tensor '", m.gguf, "'"));
    const std::vector<int64_t> shape(t->dims.rbegin(), t->dims.rend());
    if (shape != m.shape) {
      return Error(path,
                   absl::StrCat("tensor '", m.gguf, "' has shape [", absl::StrJoin(shape, ", "),
                                "], the metadata implies [", absl::StrJoin(m.shape, ", "), "]"));
    }
    const DType dtype = IsPlain(t->type) ? PlainDType(t->type) : DType::kF32;
    headers.push_back(
        {m.name, dtype, m.shape, nullptr, static_cast<size_t>(t->numel()) * DTypeSize(dtype)});
    sources.push_back(t);
    total_bytes += headers.back().size_bytes;
  }
  for (const GgufTensor& t : gguf.tensors()) {
    if (expected.count(t.name) == 0) {
      return Error(path, absl::StrCat("tensor '", t.name, "' is not used by the ", arch,
                                      " architecture as infmem implements it",
                                      t.name == "rope_freqs.weight"
                                          ? " (RoPE frequency factors: llama3 scaling)"
                                          : ""));
    }
  }
  const std::vector<LtmTensor> ltm = LtmTensors(config);
  for (const LtmTensor& t : ltm) {
    headers.push_back(t.header);
    total_bytes += t.header.size_bytes;
  }
  ConversionSummary summary;
  for (const TensorToWrite& t : headers) summary.parameters += t.size_bytes / DTypeSize(t.dtype);

  // Tokenizer files first: a tokenizer that fails its check fails fast.
  RETURN_IF_ERROR(MakeDirectory(options.out_dir));
  for (const auto& [file, content] : tokenizer.files) {
    RETURN_IF_ERROR(WriteTextFile((fs::path(options.out_dir) / file).string(), content));
  }
  if (options.check_tokenizer) {
    absl::Status status = options.check_tokenizer(options.out_dir, config.tokenizer.kind,
                                                  config.tokenizer.file, config.vocab_size);
    if (!status.ok()) {
      return absl::Status(status.code(),
                          absl::StrCat(path, ": its tokenizer, written as ", config.tokenizer.file,
                                       ": ", status.message()));
    }
  }

  const std::string weights_path = (fs::path(options.out_dir) / "model.safetensors").string();
  ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsStreamWriter> writer,
                   SafetensorsStreamWriter::Open(weights_path, headers, {{"format", "pt"}}));
  ProgressMeter meter(options.progress, total_bytes);
  std::vector<float> buffer;
  for (size_t i = 0; i < sources.size(); ++i) {
    const GgufTensor& t = *sources[i];
    if (IsPlain(t.type)) {
      RETURN_IF_ERROR(writer->Append(headers[i].name, t.data, t.size_bytes));
    } else {
      buffer.resize(static_cast<size_t>(t.numel()));
      RETURN_IF_ERROR(Dequantize(t.type, t.data, t.numel(), buffer.data()));
      RETURN_IF_ERROR(
          writer->Append(headers[i].name, buffer.data(), buffer.size() * sizeof(float)));
    }
    meter.Add(headers[i].size_bytes);
  }
  RETURN_IF_ERROR(AppendLtmTensors(ltm, options.seed, *writer, meter));
  RETURN_IF_ERROR(writer->Finish());
  summary.bytes_written = writer->bytes_written();
  RETURN_IF_ERROR(WriteTextFile((fs::path(options.out_dir) / "config.json").string(),
                                model::ModelConfigToJson(config) + "\n"));
  summary.config = std::move(config);
  summary.seconds = SecondsSince(start);
  return summary;
}

}  // namespace infmem::formats
