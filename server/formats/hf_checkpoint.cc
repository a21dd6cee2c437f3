// Hugging Face checkpoint import and export. The Hugging Face side is untrusted input: every
// field is type-checked before use and every tensor's dtype and shape is checked against the
// sizes config.json declares before a byte is written, so a bad checkpoint fails fast with a
// message naming the file instead of producing a model directory that fails to load later.

#include "server/formats/hf_checkpoint.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"
#include "server/common/file_io.h"
#include "server/common/hash.h"
#include "server/common/status_macros.h"
#include "server/common/strict_json.h"
#include "server/formats/model_dir_writer.h"
#include "server/formats/safetensors.h"

namespace infmem::formats {
namespace {

using model::ModelConfig;
using model::ModelConfigToJson;
using model::ParseModelConfig;
using model::ReadModelConfig;
using model::RopeLayout;
using model::RopeScaling;
using model::TokenizerConfig;

namespace fs = std::filesystem;
using Json = nlohmann::json;

constexpr char kHfConfig[] = "config.json";
constexpr char kHfGenerationConfig[] = "generation_config.json";
constexpr char kWeights[] = "model.safetensors";
constexpr char kWeightsIndex[] = "model.safetensors.index.json";
constexpr char kTokenizerModel[] = "tokenizer.model";
constexpr char kTokenizerJson[] = "tokenizer.json";
constexpr char kLmHead[] = "lm_head.weight";

// The Hugging Face architectures infmem imports. All are LLaMA's decoder (RMSNorm, rotate-half
// RoPE, SwiGLU) with these differences: Mistral may use sliding-window attention; Qwen2 has
// q/k/v biases; Qwen3 normalises each head of q and k and may set its own head width; Phi-3
// stores q/k/v and gate/up fused (split at import). SmolLM2 and Llama 3.2 are LlamaForCausalLM.
enum class HfArch { kLlama, kQwen2, kQwen3, kPhi3 };
struct SupportedArchitecture {
  absl::string_view name;
  HfArch arch;
};
constexpr SupportedArchitecture kSupportedArchitectures[] = {
    {"LlamaForCausalLM", HfArch::kLlama}, {"MistralForCausalLM", HfArch::kLlama},
    {"Qwen2ForCausalLM", HfArch::kQwen2}, {"Qwen3ForCausalLM", HfArch::kQwen3},
    {"Phi3ForCausalLM", HfArch::kPhi3},
};

std::string Join(const std::string& dir, absl::string_view file) {
  return (fs::path(dir) / std::string(file)).string();
}

// An InvalidArgument error whose message starts with the file at fault.
absl::Status FileError(const std::string& path, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", message));
}

int64_t Numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

// Reads and strictly parses the JSON file `path` (server/common/strict_json.h); its root
// must be an object. NotFound when the file is missing.
absl::StatusOr<Json> ReadJsonObject(const std::string& path) {
  ASSIGN_OR_RETURN(const std::string text, ReadFile(path));
  Json root;
  const JsonProblem problem = ParseStrictJson(text, &root);
  switch (problem.kind) {
    case JsonProblem::kNone:
      break;
    case JsonProblem::kNulByte:
      return FileError(path, absl::StrCat("contains a NUL byte at offset ", problem.nul_offset));
    case JsonProblem::kSyntax:
      return FileError(path, absl::StrCat("not valid JSON: ", problem.detail));
    case JsonProblem::kDuplicateKey:
      return FileError(path, absl::StrCat("duplicate key '", problem.detail, "'"));
  }
  if (!root.is_object()) {
    return FileError(path, absl::StrCat("must hold a JSON object, got ", DescribeJson(root)));
  }
  return root;
}

// Returns the value of `key` in `object`, or null when it is absent or JSON null (Hugging
// Face writes null for "not set").
const Json* Field(const Json& object, absl::string_view key) {
  auto it = object.find(std::string(key));
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

// Reads an integer field that must be positive; absent or null gives `fallback` when set and
// an error otherwise.
absl::StatusOr<int64_t> ReadPositiveInt(const std::string& path, const Json& object,
                                        absl::string_view key,
                                        std::optional<int64_t> fallback = std::nullopt) {
  const Json* value = Field(object, key);
  if (value == nullptr) {
    if (fallback.has_value()) return *fallback;
    return FileError(path, absl::StrCat("missing field '", key, "'"));
  }
  if (!value->is_number_integer() || value->get<int64_t>() <= 0 ||
      value->get<int64_t>() > (int64_t{1} << 31) - 1) {
    return FileError(path, absl::StrCat("field '", key, "' must be a positive integer, got ",
                                        DescribeJson(*value)));
  }
  return value->get<int64_t>();
}

// Reads a positive number field; absent or null gives `fallback` when set, else an error.
// `name` is how messages name the field (for nested fields such as "rope_scaling.factor").
absl::StatusOr<double> ReadPositiveNumber(const std::string& path, const Json& object,
                                          absl::string_view key, absl::string_view name,
                                          std::optional<double> fallback) {
  const Json* value = Field(object, key);
  if (value == nullptr) {
    if (fallback.has_value()) return *fallback;
    return FileError(path, absl::StrCat("missing field '", name, "'"));
  }
  if (!value->is_number() || !(value->get<double>() > 0) || !std::isfinite(value->get<double>())) {
    return FileError(path, absl::StrCat("field '", name, "' must be a positive number, got ",
                                        DescribeJson(*value)));
  }
  return value->get<double>();
}

// Reads a boolean field; absent or null gives `fallback`.
absl::StatusOr<bool> ReadBool(const std::string& path, const Json& object, absl::string_view key,
                              bool fallback) {
  const Json* value = Field(object, key);
  if (value == nullptr) return fallback;
  if (!value->is_boolean()) {
    return FileError(
        path, absl::StrCat("field '", key, "' must be true or false, got ", DescribeJson(*value)));
  }
  return value->get<bool>();
}

// Reads a token id field: an integer, or a non-empty list of integers whose first is the
// one infmem uses (Llama 3 lists several end-of-turn ids). nullopt when absent or null.
absl::StatusOr<std::optional<int64_t>> ReadTokenId(const std::string& path, const Json& object,
                                                   absl::string_view key) {
  const Json* value = Field(object, key);
  if (value == nullptr) return std::optional<int64_t>();
  const Json* id = value;
  if (value->is_array() && !value->empty()) id = &(*value)[0];
  if (!id->is_number_integer()) {
    return FileError(
        path, absl::StrCat("field '", key, "' must be an integer or a list of integers, got ",
                           DescribeJson(*value)));
  }
  return std::optional<int64_t>(id->get<int64_t>());
}

// Returns the first supported architecture config.json's architectures list names.
absl::StatusOr<HfArch> ReadArchitecture(const std::string& path, const Json& root) {
  const Json* value = Field(root, "architectures");
  if (value == nullptr) {
    return FileError(path, "missing field 'architectures'");
  }
  if (!value->is_array()) {
    return FileError(path, absl::StrCat("field 'architectures' must be a list of strings, got ",
                                        DescribeJson(*value)));
  }
  std::vector<std::string> named;
  for (const Json& e : *value) {
    if (!e.is_string()) {
      return FileError(path, absl::StrCat("field 'architectures' must be a list of strings, got ",
                                          "an element ", DescribeJson(e)));
    }
    const std::string& architecture = e.get_ref<const std::string&>();
    for (const SupportedArchitecture& supported : kSupportedArchitectures) {
      if (architecture == supported.name) return supported.arch;
    }
    named.push_back(DescribeJson(e));
  }
  std::vector<absl::string_view> supported;
  for (const SupportedArchitecture& a : kSupportedArchitectures) supported.push_back(a.name);
  return FileError(path, absl::StrCat("field 'architectures' is [", absl::StrJoin(named, ", "),
                                      "]; supported: ", absl::StrJoin(supported, ", ")));
}

// Fills `config->rope_scaling` from config.json's rope_scaling object (absent or null: none).
absl::Status ReadRopeScaling(const std::string& path, const Json& root, ModelConfig* config) {
  const Json* scaling = Field(root, "rope_scaling");
  if (scaling == nullptr) return absl::OkStatus();
  if (!scaling->is_object()) {
    return FileError(path, absl::StrCat("field 'rope_scaling' must be an object or null, got ",
                                        DescribeJson(*scaling)));
  }
  // Newer transformers write "rope_type"; older ones "type".
  const Json* type = Field(*scaling, "rope_type");
  absl::string_view type_field = "rope_scaling.rope_type";
  if (type == nullptr) {
    type = Field(*scaling, "type");
    type_field = "rope_scaling.type";
  }
  if (type == nullptr || !type->is_string()) {
    return FileError(path, absl::StrCat("field '", type_field, "' must be a string, got ",
                                        type == nullptr ? "nothing" : DescribeJson(*type)));
  }
  const std::string& kind = type->get_ref<const std::string&>();
  // "default" is transformers' own name for unscaled RoPE.
  if (kind == "default") return absl::OkStatus();
  if (kind != "llama3") {
    return FileError(path, absl::StrCat("unsupported rope_scaling type ", DescribeJson(*type),
                                        " in field '", type_field, "'; supported: \"llama3\""));
  }
  RopeScaling& out = config->rope_scaling;
  out.kind = "llama3";
  ASSIGN_OR_RETURN(out.factor, ReadPositiveNumber(path, *scaling, "factor", "rope_scaling.factor",
                                                  std::nullopt));
  ASSIGN_OR_RETURN(out.low_freq_factor,
                   ReadPositiveNumber(path, *scaling, "low_freq_factor",
                                      "rope_scaling.low_freq_factor", std::nullopt));
  ASSIGN_OR_RETURN(out.high_freq_factor,
                   ReadPositiveNumber(path, *scaling, "high_freq_factor",
                                      "rope_scaling.high_freq_factor", std::nullopt));
  ASSIGN_OR_RETURN(const int64_t original,
                   ReadPositiveInt(path, *scaling, "original_max_position_embeddings"));
  out.original_max_position_embeddings = static_cast<int>(original);
  return absl::OkStatus();
}

// Requires the optional field `key` to be absent, null or equal to `expected` (features
// infmem does not implement: biases, other activations).
absl::Status RequireIfPresent(const std::string& path, const Json& root, absl::string_view key,
                              const Json& expected) {
  const Json* value = Field(root, key);
  if (value == nullptr || *value == expected) return absl::OkStatus();
  return FileError(path, absl::StrCat("field '", key, "' is ", DescribeJson(*value),
                                      "; infmem supports only ", DescribeJson(expected)));
}

// What config.json says beyond the infmem config: the architecture (for the tensor names) and
// the sliding window its attention applies, if any.
struct HfModel {
  ModelConfig config;
  HfArch arch = HfArch::kLlama;
  std::optional<int64_t> sliding_window;
};

// Reads the backbone of an infmem config from the checkpoint's config.json and
// generation_config.json: sizes, RoPE, tying, bos/eos. Leaves memory, segment length, LTM,
// name and tokenizer to the caller.
absl::StatusOr<HfModel> ReadHfConfig(const std::string& hf_dir) {
  const std::string path = Join(hf_dir, kHfConfig);
  ASSIGN_OR_RETURN(const Json root, ReadJsonObject(path));
  HfModel model;
  ASSIGN_OR_RETURN(model.arch, ReadArchitecture(path, root));
  ModelConfig& config = model.config;
  ASSIGN_OR_RETURN(const int64_t dim, ReadPositiveInt(path, root, "hidden_size"));
  ASSIGN_OR_RETURN(const int64_t ffn_dim, ReadPositiveInt(path, root, "intermediate_size"));
  ASSIGN_OR_RETURN(const int64_t heads, ReadPositiveInt(path, root, "num_attention_heads"));
  ASSIGN_OR_RETURN(const int64_t kv_heads,
                   ReadPositiveInt(path, root, "num_key_value_heads", heads));
  ASSIGN_OR_RETURN(const int64_t layers, ReadPositiveInt(path, root, "num_hidden_layers"));
  ASSIGN_OR_RETURN(const int64_t vocab, ReadPositiveInt(path, root, "vocab_size"));
  const bool has_head_dim = Field(root, "head_dim") != nullptr;
  if (!has_head_dim && dim % heads != 0) {
    return FileError(path, absl::StrCat("field 'hidden_size' (", dim,
                                        ") must be divisible by 'num_attention_heads' (", heads,
                                        ") when there is no field 'head_dim'"));
  }
  ASSIGN_OR_RETURN(const int64_t head_dim,
                   ReadPositiveInt(path, root, "head_dim", dim / std::max<int64_t>(heads, 1)));
  if (head_dim % 2 != 0) {
    return FileError(path, absl::StrCat("field 'head_dim' is ", head_dim, "; RoPE needs it even"));
  }
  if (heads % kv_heads != 0) {
    return FileError(path, absl::StrCat("field 'num_key_value_heads' (", kv_heads,
                                        ") must divide 'num_attention_heads' (", heads, ")"));
  }
  RETURN_IF_ERROR(RequireIfPresent(path, root, "hidden_act", Json("silu")));
  // Llama's and Qwen3's attention_bias would add an output-projection bias too; Qwen2's q/k/v
  // biases are part of its architecture, not a field.
  RETURN_IF_ERROR(RequireIfPresent(path, root, "attention_bias", Json(false)));
  RETURN_IF_ERROR(RequireIfPresent(path, root, "mlp_bias", Json(false)));
  RETURN_IF_ERROR(RequireIfPresent(path, root, "partial_rotary_factor", Json(1.0)));
  // The window the model's attention was trained with: Qwen applies it only where
  // use_sliding_window is set.
  ASSIGN_OR_RETURN(const bool use_window, ReadBool(path, root, "use_sliding_window", true));
  if (use_window && Field(root, "sliding_window") != nullptr) {
    ASSIGN_OR_RETURN(model.sliding_window, ReadPositiveInt(path, root, "sliding_window"));
  }
  config.explicit_head_dim = head_dim * heads == dim ? 0 : static_cast<int>(head_dim);
  config.attention_bias = model.arch == HfArch::kQwen2;
  config.qk_norm = model.arch == HfArch::kQwen3;
  config.dim = static_cast<int>(dim);
  config.ffn_dim = static_cast<int>(ffn_dim);
  config.n_heads = static_cast<int>(heads);
  config.n_kv_heads = static_cast<int>(kv_heads);
  config.n_layers = static_cast<int>(layers);
  config.vocab_size = static_cast<int>(vocab);
  ASSIGN_OR_RETURN(config.norm_eps,
                   ReadPositiveNumber(path, root, "rms_norm_eps", "rms_norm_eps", 1e-6));
  ASSIGN_OR_RETURN(config.rope_theta,
                   ReadPositiveNumber(path, root, "rope_theta", "rope_theta", 10000.0));
  RETURN_IF_ERROR(ReadRopeScaling(path, root, &config));
  ASSIGN_OR_RETURN(config.tie_embeddings, ReadBool(path, root, "tie_word_embeddings", false));
  // Hugging Face stores q and k for rotate-half RoPE; infmem rotates the same pairs.
  config.rope_layout = RopeLayout::kHalf;

  // generation_config.json, when present, is what generation uses; config.json's ids are the
  // fallback.
  ASSIGN_OR_RETURN(std::optional<int64_t> bos, ReadTokenId(path, root, "bos_token_id"));
  ASSIGN_OR_RETURN(std::optional<int64_t> eos, ReadTokenId(path, root, "eos_token_id"));
  std::string bos_path = path;
  std::string eos_path = path;
  const std::string generation_path = Join(hf_dir, kHfGenerationConfig);
  if (fs::exists(generation_path)) {
    ASSIGN_OR_RETURN(const Json generation, ReadJsonObject(generation_path));
    ASSIGN_OR_RETURN(std::optional<int64_t> g_bos,
                     ReadTokenId(generation_path, generation, "bos_token_id"));
    ASSIGN_OR_RETURN(std::optional<int64_t> g_eos,
                     ReadTokenId(generation_path, generation, "eos_token_id"));
    if (g_bos.has_value()) {
      bos = g_bos;
      bos_path = generation_path;
    }
    if (g_eos.has_value()) {
      eos = g_eos;
      eos_path = generation_path;
    }
  }
  for (const auto& [id, id_path, key, out] :
       {std::make_tuple(bos, bos_path, "bos_token_id", &config.bos_id),
        std::make_tuple(eos, eos_path, "eos_token_id", &config.eos_id)}) {
    if (!id.has_value()) continue;
    if (*id < 0 || *id >= vocab) {
      return FileError(id_path, absl::StrCat("field '", key, "' is ", *id,
                                             ", outside [0, vocab_size ", vocab, ")"));
    }
    *out = static_cast<int>(*id);
  }
  return model;
}

// One backbone tensor: its Hugging Face and infmem names and the shape the config implies.
// A tensor Hugging Face stores fused (Phi-3's qkv_proj, gate_up_proj) is the rows
// [first_row, first_row + shape[0]) of the checkpoint's tensor of shape `hf_shape`.
struct BackboneTensor {
  std::string hf_name;
  std::string name;
  std::vector<int64_t> shape;
  std::vector<int64_t> hf_shape;  // empty: `shape`, the whole tensor
  int64_t first_row = 0;
};

// Lists the backbone tensors of `config` (of architecture `arch`) in infmem's canonical order.
std::vector<BackboneTensor> BackboneTensors(const ModelConfig& config, HfArch arch) {
  const int64_t e = config.dim;
  const int64_t f = config.ffn_dim;
  const int64_t q = config.q_dim();
  const int64_t kv = config.kv_dim();
  const int64_t d = config.head_dim();
  const int64_t v = config.vocab_size;
  std::vector<BackboneTensor> tensors;
  auto add = [&](std::string hf_name, std::string name, std::vector<int64_t> shape,
                 std::vector<int64_t> hf_shape = {}, int64_t first_row = 0) {
    tensors.push_back(
        {std::move(hf_name), std::move(name), std::move(shape), std::move(hf_shape), first_row});
  };
  add("model.embed_tokens.weight", "tok_embeddings.weight", {v, e});
  for (int i = 0; i < config.n_layers; ++i) {
    const std::string hf = absl::StrCat("model.layers.", i, ".");
    const std::string ours = absl::StrCat("layers.", i, ".");
    add(hf + "input_layernorm.weight", ours + "attention_norm.weight", {e});
    if (arch == HfArch::kPhi3) {
      const std::string qkv = hf + "self_attn.qkv_proj.weight";
      const std::vector<int64_t> fused = {q + 2 * kv, e};
      add(qkv, ours + "attention.wq.weight", {q, e}, fused, 0);
      add(qkv, ours + "attention.wk.weight", {kv, e}, fused, q);
      add(qkv, ours + "attention.wv.weight", {kv, e}, fused, q + kv);
    } else {
      add(hf + "self_attn.q_proj.weight", ours + "attention.wq.weight", {q, e});
      add(hf + "self_attn.k_proj.weight", ours + "attention.wk.weight", {kv, e});
      add(hf + "self_attn.v_proj.weight", ours + "attention.wv.weight", {kv, e});
    }
    if (config.attention_bias) {
      add(hf + "self_attn.q_proj.bias", ours + "attention.wq.bias", {q});
      add(hf + "self_attn.k_proj.bias", ours + "attention.wk.bias", {kv});
      add(hf + "self_attn.v_proj.bias", ours + "attention.wv.bias", {kv});
    }
    if (config.qk_norm) {
      add(hf + "self_attn.q_norm.weight", ours + "attention.q_norm.weight", {d});
      add(hf + "self_attn.k_norm.weight", ours + "attention.k_norm.weight", {d});
    }
    add(hf + "self_attn.o_proj.weight", ours + "attention.wo.weight", {e, q});
    add(hf + "post_attention_layernorm.weight", ours + "ffn_norm.weight", {e});
    if (arch == HfArch::kPhi3) {  // gate rows first, then up
      const std::string gate_up = hf + "mlp.gate_up_proj.weight";
      add(gate_up, ours + "feed_forward.w1.weight", {f, e}, {2 * f, e}, 0);
      add(hf + "mlp.down_proj.weight", ours + "feed_forward.w2.weight", {e, f});
      add(gate_up, ours + "feed_forward.w3.weight", {f, e}, {2 * f, e}, f);
    } else {
      add(hf + "mlp.gate_proj.weight", ours + "feed_forward.w1.weight", {f, e});
      add(hf + "mlp.down_proj.weight", ours + "feed_forward.w2.weight", {e, f});
      add(hf + "mlp.up_proj.weight", ours + "feed_forward.w3.weight", {f, e});
    }
  }
  add("model.norm.weight", "norm.weight", {e});
  if (!config.tie_embeddings) {
    add(kLmHead, "output.weight", {v, e});
  }
  return tensors;
}

bool IsFloatDType(DType dtype) {
  return dtype == DType::kF32 || dtype == DType::kF16 || dtype == DType::kBF16;
}

// The error for a required tensor the checkpoint lacks (`where`: "" for the file itself, or
// the field of an index); lm_head gets the reason it is needed.
absl::Status MissingTensor(const std::string& path, absl::string_view where,
                           const std::string& hf_name) {
  std::string message =
      absl::StrCat(where, where.empty() ? "" : " has ", "no tensor '", hf_name, "'");
  if (hf_name == kLmHead) {
    absl::StrAppend(&message, ", which config.json's 'tie_word_embeddings' false requires");
  }
  return absl::NotFoundError(absl::StrCat(path, ": ", message));
}

// A tensor of the output file: where its bytes come from (a shard of the checkpoint, or
// generated) and how it is declared in the header.
struct PlannedTensor {
  TensorToWrite header;  // data null: the bytes are streamed
  BackboneTensor source;
  size_t shard = 0;  // index into the shard list
};

// Assigns each backbone tensor its shard file (relative to hf_dir) and returns the shards in
// the order they are first needed.
absl::StatusOr<std::vector<std::string>> LocateShards(const std::string& hf_dir,
                                                      const std::vector<BackboneTensor>& backbone,
                                                      std::vector<PlannedTensor>* planned) {
  const std::string index_path = Join(hf_dir, kWeightsIndex);
  std::vector<std::string> shards;
  std::map<std::string, size_t> shard_ids;
  planned->clear();
  if (fs::exists(index_path)) {
    ASSIGN_OR_RETURN(const Json index, ReadJsonObject(index_path));
    const Json* map = Field(index, "weight_map");
    if (map == nullptr || !map->is_object()) {
      return FileError(index_path,
                       absl::StrCat("field 'weight_map' must be an object of tensor name to "
                                    "shard file, got ",
                                    map == nullptr ? "nothing" : DescribeJson(*map)));
    }
    for (const BackboneTensor& t : backbone) {
      const Json* shard = Field(*map, t.hf_name);
      if (shard == nullptr) {
        return MissingTensor(index_path, "field 'weight_map'", t.hf_name);
      }
      if (!shard->is_string()) {
        return FileError(index_path,
                         absl::StrCat("field 'weight_map' entry for tensor '", t.hf_name,
                                      "' must be a file name, got ", DescribeJson(*shard)));
      }
      const std::string& file = shard->get_ref<const std::string&>();
      auto [it, inserted] = shard_ids.emplace(file, shards.size());
      if (inserted) {
        if (!fs::exists(Join(hf_dir, file))) {
          return absl::NotFoundError(absl::StrCat(index_path, ": shard '", file,
                                                  "' (named in 'weight_map' for tensor '",
                                                  t.hf_name, "') is missing from ", hf_dir));
        }
        shards.push_back(file);
      }
      planned->push_back({TensorToWrite{t.name, DType::kF32, t.shape}, t, it->second});
    }
  } else if (fs::exists(Join(hf_dir, kWeights))) {
    shards.push_back(kWeights);
    for (const BackboneTensor& t : backbone) {
      planned->push_back({TensorToWrite{t.name, DType::kF32, t.shape}, t, 0});
    }
  } else {
    return absl::NotFoundError(
        absl::StrCat(hf_dir, ": neither ", kWeights, " nor ", kWeightsIndex, " found"));
  }
  // Grouping by shard lets each shard be read once when writing.
  std::stable_sort(
      planned->begin(), planned->end(),
      [](const PlannedTensor& a, const PlannedTensor& b) { return a.shard < b.shard; });
  return shards;
}

std::string DefaultName(const std::string& hf_dir) {
  std::string dir = hf_dir;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  const std::string name = fs::path(dir).filename().string();
  return name.empty() ? "imported" : name;
}

// Chooses the checkpoint's tokenizer: a SentencePiece tokenizer.model where there is one (the
// format infmem read first, for Llama 2 / Mistral checkpoints that ship both), else a
// tokenizer.json (Llama 3, Qwen, Gemma, SmolLM, Phi-3).
absl::StatusOr<TokenizerConfig> ChooseHfTokenizer(const std::string& hf_dir) {
  if (fs::exists(Join(hf_dir, kTokenizerModel)))
    return TokenizerConfig{"sentencepiece", kTokenizerModel};
  if (fs::exists(Join(hf_dir, kTokenizerJson)))
    return TokenizerConfig{"huggingface", kTokenizerJson};
  return absl::NotFoundError(absl::StrCat(hf_dir, ": no tokenizer.model or tokenizer.json"));
}

}  // namespace

absl::StatusOr<ConversionSummary> ImportHfCheckpoint(const ImportOptions& options) {
  const Clock::time_point start = Clock::now();
  const std::string config_path = Join(options.hf_dir, kHfConfig);
  ASSIGN_OR_RETURN(HfModel hf, ReadHfConfig(options.hf_dir));
  ModelConfig& config = hf.config;
  if (hf.sliding_window.has_value()) {
    // infmem's window and infinite modes attend at most 2L - 1 tokens back; the model must
    // have been trained to see at least that far. Full mode would see everything.
    if (options.memory == MemoryMode::kFull) {
      return FileError(config_path,
                       absl::StrCat("field 'sliding_window' is ", *hf.sliding_window,
                                    ": a sliding-window model cannot be imported in full mode "
                                    "(its attention never saw further); use window or infinite"));
    }
    if (2 * static_cast<int64_t>(options.segment_length) > *hf.sliding_window) {
      return FileError(
          config_path,
          absl::StrCat("field 'sliding_window' is ", *hf.sliding_window, ": segment_length ",
                       options.segment_length, " lets attention reach ",
                       2 * options.segment_length - 1,
                       " tokens back; use a segment_length of at most ", *hf.sliding_window / 2));
    }
  }
  config.name = options.name.empty() ? DefaultName(options.hf_dir) : options.name;
  config.memory = options.memory;
  config.segment_length = options.segment_length;
  config.ltm = options.ltm;
  ASSIGN_OR_RETURN(config.tokenizer, ChooseHfTokenizer(options.hf_dir));
  // The serving code's own parser is the judge of what it will load.
  absl::StatusOr<ModelConfig> checked = ParseModelConfig(ModelConfigToJson(config));
  if (!checked.ok()) {
    return FileError(config_path, absl::StrCat("converts to an invalid infmem config: ",
                                               checked.status().message()));
  }

  // Pass 1: find, then check every backbone tensor, one shard in memory at a time.
  const std::vector<BackboneTensor> backbone = BackboneTensors(config, hf.arch);
  std::vector<PlannedTensor> planned;
  ASSIGN_OR_RETURN(const std::vector<std::string> shards,
                   LocateShards(options.hf_dir, backbone, &planned));
  uint64_t copy_bytes = 0;
  for (size_t s = 0; s < shards.size(); ++s) {
    const std::string shard_path = Join(options.hf_dir, shards[s]);
    if (options.progress != nullptr) {
      *options.progress << "checking " << shard_path << " (" << s + 1 << "/" << shards.size()
                        << ")\n";
    }
    ASSIGN_OR_RETURN(const SafetensorsFile file, SafetensorsFile::Read(shard_path));
    for (PlannedTensor& t : planned) {
      if (t.shard != s) continue;
      const std::string& hf_name = t.source.hf_name;
      if (!file.Has(hf_name)) return MissingTensor(shard_path, "", hf_name);
      ASSIGN_OR_RETURN(const TensorView view, file.Get(hf_name));
      const std::vector<int64_t>& expected =
          t.source.hf_shape.empty() ? t.source.shape : t.source.hf_shape;
      if (view.shape != expected) {
        return FileError(shard_path,
                         absl::StrCat("tensor '", hf_name, "' has shape ", ShapeString(view.shape),
                                      ", config.json implies ", ShapeString(expected)));
      }
      if (!IsFloatDType(view.dtype)) {
        return FileError(shard_path,
                         absl::StrCat("tensor '", hf_name, "' has dtype ", DTypeName(view.dtype),
                                      "; supported: F32, F16, BF16"));
      }
      t.header.dtype = view.dtype;
      t.header.size_bytes = static_cast<size_t>(Numel(t.source.shape)) * DTypeSize(view.dtype);
      copy_bytes += t.header.size_bytes;
    }
  }

  const std::vector<LtmTensor> ltm = LtmTensors(config);
  std::vector<TensorToWrite> headers;
  for (const PlannedTensor& t : planned) headers.push_back(t.header);
  for (const LtmTensor& t : ltm) headers.push_back(t.header);
  ConversionSummary summary;
  for (const TensorToWrite& t : headers) summary.parameters += t.size_bytes / DTypeSize(t.dtype);

  // The tokenizer is copied and checked before the long write, so a bad one fails fast.
  RETURN_IF_ERROR(MakeDirectory(options.out_dir));
  const std::string& tokenizer_file = config.tokenizer.file;
  RETURN_IF_ERROR(
      CopyFile(Join(options.hf_dir, tokenizer_file), Join(options.out_dir, tokenizer_file)));
  if (config.tokenizer.kind == "huggingface") {
    // Special tokens, add_bos_token and the chat template live beside tokenizer.json.
    for (const char* extra : {"tokenizer_config.json", kHfGenerationConfig}) {
      if (fs::exists(Join(options.hf_dir, extra))) {
        RETURN_IF_ERROR(CopyFile(Join(options.hf_dir, extra), Join(options.out_dir, extra)));
      }
    }
  }
  if (options.check_tokenizer) {
    absl::Status status = options.check_tokenizer(options.out_dir, config.tokenizer.kind,
                                                  tokenizer_file, config.vocab_size);
    if (!status.ok()) {
      return absl::Status(status.code(), absl::StrCat(Join(options.hf_dir, tokenizer_file), ": ",
                                                      status.message()));
    }
  }

  // Pass 2: stream the backbone shard by shard, then the generated LTM tensors.
  const std::string weights_path = Join(options.out_dir, kWeights);
  ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsStreamWriter> writer,
                   SafetensorsStreamWriter::Open(weights_path, headers, {{"format", "pt"}}));
  uint64_t ltm_bytes = 0;
  for (const LtmTensor& t : ltm) ltm_bytes += t.header.size_bytes;
  ProgressMeter meter(options.progress, copy_bytes + ltm_bytes);
  for (size_t s = 0; s < shards.size(); ++s) {
    const std::string shard_path = Join(options.hf_dir, shards[s]);
    if (options.progress != nullptr) {
      *options.progress << "copying " << shard_path << " (" << s + 1 << "/" << shards.size()
                        << ")\n";
    }
    ASSIGN_OR_RETURN(const SafetensorsFile file, SafetensorsFile::Read(shard_path));
    for (const PlannedTensor& t : planned) {
      if (t.shard != s) continue;
      const BackboneTensor& source = t.source;
      ASSIGN_OR_RETURN(const TensorView view, file.Get(source.hf_name));
      // The file may have changed since pass 1; the header already promised these sizes.
      if (view.dtype != t.header.dtype ||
          view.shape != (source.hf_shape.empty() ? source.shape : source.hf_shape)) {
        return FileError(shard_path,
                         absl::StrCat("tensor '", source.hf_name, "' changed during conversion"));
      }
      // A fused tensor's part is a run of whole rows.
      const size_t row_bytes =
          static_cast<size_t>(Numel(source.shape) / source.shape[0]) * DTypeSize(view.dtype);
      RETURN_IF_ERROR(writer->Append(t.header.name, view.data + source.first_row * row_bytes,
                                     t.header.size_bytes));
      meter.Add(t.header.size_bytes);
    }
  }
  if (!ltm.empty() && options.progress != nullptr) {
    *options.progress << "initialising the long-term memory (seed " << options.seed << ")\n";
  }
  RETURN_IF_ERROR(AppendLtmTensors(ltm, options.seed, *writer, meter));
  RETURN_IF_ERROR(writer->Finish());
  summary.bytes_written = writer->bytes_written();

  RETURN_IF_ERROR(
      WriteTextFile(Join(options.out_dir, kHfConfig), ModelConfigToJson(config) + "\n"));
  summary.config = std::move(config);
  summary.seconds = SecondsSince(start);
  return summary;
}

absl::StatusOr<ConversionSummary> ExportHfCheckpoint(const ExportOptions& options) {
  const Clock::time_point start = Clock::now();
  const std::string config_path = Join(options.model_dir, kHfConfig);
  ASSIGN_OR_RETURN(ModelConfig config, ReadModelConfig(config_path));
  if (config.memory == MemoryMode::kInfinite) {
    return absl::FailedPreconditionError(
        absl::StrCat(config_path,
                     ": field 'memory' is \"infinite\"; only the backbone exports, from a "
                     "\"full\" or \"window\" model (Hugging Face has no long-term memory)"));
  }
  if (config.tokenizer.kind != "sentencepiece") {
    return absl::FailedPreconditionError(absl::StrCat(config_path, ": field 'tokenizer.kind' is \"",
                                                      config.tokenizer.kind,
                                                      "\"; only SentencePiece tokenizers export"));
  }
  if (config.attention_bias || config.qk_norm || config.explicit_head_dim > 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(config_path,
                     ": fields 'attention_bias', 'qk_norm' or 'head_dim' are set; only "
                     "LLaMA-shaped models export (as LlamaForCausalLM)"));
  }
  const std::string weights_path = Join(options.model_dir, kWeights);
  if (options.progress != nullptr) *options.progress << "reading " << weights_path << "\n";
  ASSIGN_OR_RETURN(const SafetensorsFile file, SafetensorsFile::Read(weights_path));

  // Row reordering that turns interleaved RoPE pairs (2j, 2j+1) into rotate-half pairs
  // (j, j + d/2): within each head, new row j = old row 2j and new row d/2 + j = old row
  // 2j + 1. q and k get the same permutation, so every q·k (and the attention) is unchanged.
  const int64_t d = config.head_dim();
  std::vector<int64_t> head_order(d);
  for (int64_t j = 0; j < d / 2; ++j) {
    head_order[j] = 2 * j;
    head_order[d / 2 + j] = 2 * j + 1;
  }
  const bool permute = config.rope_layout == RopeLayout::kInterleaved;

  std::vector<TensorToWrite> headers;
  std::deque<std::string> permuted;  // owns reordered copies; deque keeps them in place
  std::vector<const void*> sources;
  ConversionSummary summary;
  for (const BackboneTensor& t : BackboneTensors(config, HfArch::kLlama)) {
    absl::StatusOr<TensorView> view = file.Get(t.name);
    if (!view.ok()) {
      return absl::NotFoundError(absl::StrCat(weights_path, ": no tensor '", t.name, "'"));
    }
    if (view->shape != t.shape) {
      return FileError(weights_path,
                       absl::StrCat("tensor '", t.name, "' has shape ", ShapeString(view->shape),
                                    ", config.json implies ", ShapeString(t.shape)));
    }
    if (!IsFloatDType(view->dtype) && view->dtype != DType::kF64) {
      return FileError(weights_path,
                       absl::StrCat("tensor '", t.name, "' has dtype ", DTypeName(view->dtype)));
    }
    const void* data = view->data;
    const bool is_qk = absl::EndsWith(t.name, "attention.wq.weight") ||
                       absl::EndsWith(t.name, "attention.wk.weight");
    if (permute && is_qk) {
      const size_t row_bytes = static_cast<size_t>(t.shape[1]) * DTypeSize(view->dtype);
      std::string& out = permuted.emplace_back(view->size_bytes, '\0');
      const int64_t heads = t.shape[0] / d;
      for (int64_t h = 0; h < heads; ++h) {
        for (int64_t r = 0; r < d; ++r) {
          std::memcpy(out.data() + (h * d + r) * row_bytes,
                      view->data + (h * d + head_order[r]) * row_bytes, row_bytes);
        }
      }
      data = out.data();
    }
    headers.push_back(TensorToWrite{t.hf_name, view->dtype, t.shape, nullptr, view->size_bytes});
    sources.push_back(data);
    summary.parameters += view->numel();
  }

  RETURN_IF_ERROR(MakeDirectory(options.out_dir));
  const std::string out_weights = Join(options.out_dir, kWeights);
  // transformers refuses safetensors files without a "format" of "pt" (or another framework).
  ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsStreamWriter> writer,
                   SafetensorsStreamWriter::Open(out_weights, headers, {{"format", "pt"}}));
  uint64_t total = 0;
  for (const TensorToWrite& t : headers) total += t.size_bytes;
  ProgressMeter meter(options.progress, total);
  for (size_t i = 0; i < headers.size(); ++i) {
    RETURN_IF_ERROR(writer->Append(headers[i].name, sources[i], headers[i].size_bytes));
    meter.Add(headers[i].size_bytes);
  }
  RETURN_IF_ERROR(writer->Finish());
  summary.bytes_written = writer->bytes_written();

  Json hf;
  hf["architectures"] = Json::array({"LlamaForCausalLM"});
  hf["model_type"] = "llama";
  hf["hidden_size"] = config.dim;
  hf["intermediate_size"] = config.ffn_dim;
  hf["num_attention_heads"] = config.n_heads;
  hf["num_key_value_heads"] = config.kv_heads();
  hf["num_hidden_layers"] = config.n_layers;
  hf["vocab_size"] = config.vocab_size;
  hf["rms_norm_eps"] = config.norm_eps;
  hf["rope_theta"] = config.rope_theta;
  if (config.rope_scaling.kind.empty()) {
    hf["rope_scaling"] = nullptr;
  } else {
    hf["rope_scaling"] = {
        {"rope_type", config.rope_scaling.kind},
        {"factor", config.rope_scaling.factor},
        {"low_freq_factor", config.rope_scaling.low_freq_factor},
        {"high_freq_factor", config.rope_scaling.high_freq_factor},
        {"original_max_position_embeddings", config.rope_scaling.original_max_position_embeddings},
    };
  }
  hf["tie_word_embeddings"] = config.tie_embeddings;
  // infmem has no maximum position (full mode grows, window mode attends 2L back); Hugging
  // Face needs one for its caches and generation limits. The larger of 2L (what a window
  // model was trained to attend over) and 4096 (LLaMA 2's context) keeps a small-L model from
  // being capped below what LLaMA tooling expects.
  hf["max_position_embeddings"] = std::max(2 * config.segment_length, 4096);
  hf["hidden_act"] = "silu";
  hf["attention_bias"] = false;
  hf["mlp_bias"] = false;
  const DType dtype = headers.front().dtype;
  hf["torch_dtype"] = dtype == DType::kBF16  ? "bfloat16"
                      : dtype == DType::kF16 ? "float16"
                      : dtype == DType::kF64 ? "float64"
                                             : "float32";
  Json generation = Json::object();
  if (config.bos_id >= 0) {
    hf["bos_token_id"] = config.bos_id;
    generation["bos_token_id"] = config.bos_id;
  }
  if (config.eos_id >= 0) {
    hf["eos_token_id"] = config.eos_id;
    generation["eos_token_id"] = config.eos_id;
  }
  RETURN_IF_ERROR(WriteTextFile(Join(options.out_dir, kHfConfig), hf.dump(2) + "\n"));
  RETURN_IF_ERROR(
      WriteTextFile(Join(options.out_dir, kHfGenerationConfig), generation.dump(2) + "\n"));
  RETURN_IF_ERROR(CopyFile(Join(options.model_dir, config.tokenizer.file),
                           Join(options.out_dir, kTokenizerModel)));
  summary.config = std::move(config);
  summary.seconds = SecondsSince(start);
  return summary;
}

}  // namespace infmem::formats
