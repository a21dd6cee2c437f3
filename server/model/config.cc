// ModelConfig parsing, validation and serialisation.
//
// config.json shape (only the first seven fields marked "required" must be present; every
// other field is optional and defaults to the value in the ModelConfig / LtmConfig /
// TokenizerConfig structs in config.h):
//
//   {
//     "architecture": "infformer-llama",   // required; must equal kArchitecture
//     "vocab_size": int,                   // required; > 0
//     "dim": int,                          // required; > 0; dim % n_heads == 0
//                                          // unless head_dim is given
//     "n_layers": int,                     // required; > 0
//     "n_heads": int,                      // required; > 0; dim / n_heads even (RoPE)
//     "ffn_dim": int,                      // required; > 0
//     "segment_length": int,               // required; > 0
//     "name": string,
//     "norm_eps": number,                  // > 0
//     "rope_theta": number,                // > 0
//     "n_kv_heads": int,                   // 0 (= n_heads) or a divisor of n_heads
//     "head_dim": int,                     // 0 (= dim / n_heads) or even and > 0
//     "attention_bias": bool,              // q/k/v projections have biases
//     "qk_norm": bool,                     // per-head RMSNorm of q and k before RoPE
//     "rope_layout": "interleaved" | "half",
//     "rope_scaling": {                    // absent: none
//       "kind": "llama3", "factor": number > 0, "low_freq_factor": number > 0,
//       "high_freq_factor": number > low_freq_factor,
//       "original_max_position_embeddings": int > 0
//     },
//     "tie_embeddings": bool,
//     "memory": "infinite" | "window" | "full",
//     "bos_id": int,                       // -1 (none) or in [0, vocab_size)
//     "eos_id": int,                       // -1 (none) or in [0, vocab_size)
//     "ltm": {
//       "num_basis": int,                  // even, >= 2
//       "num_samples": int,                // >= 1
//       "tau": number,                     // in (0, 1)
//       "ridge_lambda": number,            // > 0
//       "widths": [number, number],        // exactly 2, each > 0
//       "sticky": bool,
//       "sticky_bins": int,                // >= 1
//       "sigma0": number,                  // > 0
//       "kl_weight": number                // >= 0
//     },
//     "tokenizer": {
//       "kind": "sentencepiece" | "huggingface" | "symbol",
//       "file": string                     // relative to the model directory
//     }
//   }
//
// Integers must be JSON integers that fit in an int (2.0 is rejected); numbers may be
// integers or floats but must be finite. Unknown keys (at the top level and inside "ltm" and
// "tokenizer") and duplicate keys are errors, so typos do not silently fall back to defaults.
// Every error is InvalidArgument with a message that starts "config.json: " and names the
// field, e.g. "config.json: field 'dim' must be a positive integer, got -3".

#include "server/model/config.h"

#include <cerrno>
#include <climits>
#include <cmath>
#include <cstring>
#include <exception>
#include <initializer_list>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"
#include "server/common/file_io.h"
#include "server/common/status_macros.h"
#include "server/common/strict_json.h"

namespace infmem::model {
namespace {

using Json = nlohmann::json;

constexpr absl::string_view kMemoryNames[] = {"infinite", "window", "full"};
constexpr absl::string_view kTokenizerKinds[] = {"sentencepiece", "huggingface", "symbol"};

absl::Status ConfigError(absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat("config.json: ", message));
}

std::string FieldName(absl::string_view prefix, absl::string_view key) {
  return absl::StrCat(prefix, key);
}

// Returns the member `key` of `object`, or nullptr when absent.
const Json* Find(const Json& object, absl::string_view key) {
  auto it = object.find(std::string(key));
  return it == object.end() ? nullptr : &*it;
}

absl::Status CheckKnownKeys(const Json& object, absl::string_view prefix,
                            std::initializer_list<absl::string_view> known) {
  for (const auto& [key, value] : object.items()) {
    bool found = false;
    for (absl::string_view k : known) {
      if (k == key) {
        found = true;
        break;
      }
    }
    if (!found) {
      return ConfigError(absl::StrCat("unknown field '", FieldName(prefix, key),
                                      "' (expected one of: ", absl::StrJoin(known, ", "), ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status MissingField(absl::string_view prefix, absl::string_view key) {
  return ConfigError(absl::StrCat("missing field '", FieldName(prefix, key), "'"));
}

absl::Status WrongType(absl::string_view prefix, absl::string_view key, absl::string_view want,
                       const Json& got) {
  return ConfigError(absl::StrCat("field '", FieldName(prefix, key), "' must be ", want, ", got ",
                                  DescribeJson(got)));
}

// Each Read* leaves `*out` unchanged when the field is absent and not required.
absl::Status ReadInt(const Json& object, absl::string_view prefix, absl::string_view key,
                     bool required, int* out) {
  const Json* v = Find(object, key);
  if (v == nullptr) {
    return required ? MissingField(prefix, key) : absl::OkStatus();
  }
  if (!v->is_number_integer()) {
    return WrongType(prefix, key, "an integer", *v);
  }
  if (v->is_number_unsigned()) {
    const uint64_t u = v->get<uint64_t>();
    if (u > static_cast<uint64_t>(INT_MAX)) {
      return WrongType(prefix, key, "an integer that fits in 32 bits", *v);
    }
    *out = static_cast<int>(u);
    return absl::OkStatus();
  }
  const int64_t i = v->get<int64_t>();
  if (i < INT_MIN || i > INT_MAX) {
    return WrongType(prefix, key, "an integer that fits in 32 bits", *v);
  }
  *out = static_cast<int>(i);
  return absl::OkStatus();
}

absl::Status ReadDouble(const Json& object, absl::string_view prefix, absl::string_view key,
                        double* out) {
  const Json* v = Find(object, key);
  if (v == nullptr) {
    return absl::OkStatus();
  }
  if (!v->is_number()) {
    return WrongType(prefix, key, "a number", *v);
  }
  const double d = v->get<double>();
  if (!std::isfinite(d)) {
    return WrongType(prefix, key, "a finite number", *v);
  }
  *out = d;
  return absl::OkStatus();
}

absl::Status ReadBool(const Json& object, absl::string_view prefix, absl::string_view key,
                      bool* out) {
  const Json* v = Find(object, key);
  if (v == nullptr) {
    return absl::OkStatus();
  }
  if (!v->is_boolean()) {
    return WrongType(prefix, key, "a boolean", *v);
  }
  *out = v->get<bool>();
  return absl::OkStatus();
}

absl::Status ReadString(const Json& object, absl::string_view prefix, absl::string_view key,
                        bool required, std::string* out) {
  const Json* v = Find(object, key);
  if (v == nullptr) {
    return required ? MissingField(prefix, key) : absl::OkStatus();
  }
  if (!v->is_string()) {
    return WrongType(prefix, key, "a string", *v);
  }
  *out = v->get<std::string>();
  return absl::OkStatus();
}

// Returns the member `key` if present (nullptr otherwise); it must be an object.
absl::StatusOr<const Json*> ReadObject(const Json& object, absl::string_view key) {
  const Json* v = Find(object, key);
  if (v == nullptr) {
    return nullptr;
  }
  if (!v->is_object()) {
    return WrongType("", key, "an object", *v);
  }
  return v;
}

absl::Status CheckPositive(absl::string_view name, int value) {
  if (value > 0) {
    return absl::OkStatus();
  }
  return ConfigError(absl::StrCat("field '", name, "' must be a positive integer, got ", value));
}

absl::Status CheckPositive(absl::string_view name, double value) {
  if (value > 0) {
    return absl::OkStatus();
  }
  return ConfigError(absl::StrCat("field '", name, "' must be > 0, got ", value));
}

absl::Status CheckTokenId(absl::string_view name, int id, int vocab_size) {
  if (id == -1 || (id >= 0 && id < vocab_size)) {
    return absl::OkStatus();
  }
  return ConfigError(absl::StrCat(
      "field '", name, "' must be -1 (none) or in [0, vocab_size=", vocab_size, "), got ", id));
}

std::string QuotedList(absl::Span<const absl::string_view> names) {
  return absl::StrJoin(names, ", ", [](std::string* out, absl::string_view n) {
    absl::StrAppend(out, "\"", n, "\"");
  });
}

absl::Status ParseLtm(const Json& object, LtmConfig* ltm) {
  constexpr absl::string_view kPrefix = "ltm.";
  RETURN_IF_ERROR(CheckKnownKeys(object, kPrefix,
                                 {"num_basis", "num_samples", "tau", "ridge_lambda", "widths",
                                  "sticky", "sticky_bins", "sigma0", "kl_weight"}));
  RETURN_IF_ERROR(ReadInt(object, kPrefix, "num_basis", false, &ltm->num_basis));
  RETURN_IF_ERROR(ReadInt(object, kPrefix, "num_samples", false, &ltm->num_samples));
  RETURN_IF_ERROR(ReadDouble(object, kPrefix, "tau", &ltm->tau));
  RETURN_IF_ERROR(ReadDouble(object, kPrefix, "ridge_lambda", &ltm->ridge_lambda));
  RETURN_IF_ERROR(ReadBool(object, kPrefix, "sticky", &ltm->sticky));
  RETURN_IF_ERROR(ReadInt(object, kPrefix, "sticky_bins", false, &ltm->sticky_bins));
  RETURN_IF_ERROR(ReadDouble(object, kPrefix, "sigma0", &ltm->sigma0));
  RETURN_IF_ERROR(ReadDouble(object, kPrefix, "kl_weight", &ltm->kl_weight));
  if (const Json* w = Find(object, "widths"); w != nullptr) {
    constexpr absl::string_view kWant = "an array of exactly 2 positive numbers";
    if (!w->is_array() || w->size() != 2) {
      return WrongType(kPrefix, "widths", kWant, *w);
    }
    std::vector<double> widths;
    for (const Json& e : *w) {
      if (!e.is_number()) {
        return WrongType(kPrefix, "widths", kWant, e);
      }
      const double d = e.get<double>();
      if (!std::isfinite(d) || !(d > 0)) {
        return WrongType(kPrefix, "widths", kWant, e);
      }
      widths.push_back(d);
    }
    ltm->widths = std::move(widths);
  }

  if (ltm->num_basis < 2 || ltm->num_basis % 2 != 0) {
    return ConfigError(
        absl::StrCat("field 'ltm.num_basis' must be an even integer >= 2, got ", ltm->num_basis));
  }
  RETURN_IF_ERROR(CheckPositive("ltm.num_samples", ltm->num_samples));
  if (!(ltm->tau > 0 && ltm->tau < 1)) {
    return ConfigError(absl::StrCat("field 'ltm.tau' must be in (0, 1), got ", ltm->tau));
  }
  RETURN_IF_ERROR(CheckPositive("ltm.ridge_lambda", ltm->ridge_lambda));
  RETURN_IF_ERROR(CheckPositive("ltm.sticky_bins", ltm->sticky_bins));
  RETURN_IF_ERROR(CheckPositive("ltm.sigma0", ltm->sigma0));
  if (!(ltm->kl_weight >= 0)) {
    return ConfigError(absl::StrCat("field 'ltm.kl_weight' must be >= 0, got ", ltm->kl_weight));
  }
  return absl::OkStatus();
}

absl::Status ParseRopeScaling(const Json& object, RopeScaling* scaling) {
  constexpr absl::string_view kPrefix = "rope_scaling.";
  RETURN_IF_ERROR(CheckKnownKeys(object, kPrefix,
                                 {"kind", "factor", "low_freq_factor", "high_freq_factor",
                                  "original_max_position_embeddings"}));
  RETURN_IF_ERROR(ReadString(object, kPrefix, "kind", true, &scaling->kind));
  if (scaling->kind != "llama3") {
    return ConfigError(absl::StrCat("field 'rope_scaling.kind' must be \"llama3\", got ",
                                    DescribeJson(Json(scaling->kind))));
  }
  RETURN_IF_ERROR(ReadDouble(object, kPrefix, "factor", &scaling->factor));
  RETURN_IF_ERROR(ReadDouble(object, kPrefix, "low_freq_factor", &scaling->low_freq_factor));
  RETURN_IF_ERROR(ReadDouble(object, kPrefix, "high_freq_factor", &scaling->high_freq_factor));
  RETURN_IF_ERROR(ReadInt(object, kPrefix, "original_max_position_embeddings", false,
                          &scaling->original_max_position_embeddings));
  RETURN_IF_ERROR(CheckPositive("rope_scaling.factor", scaling->factor));
  RETURN_IF_ERROR(CheckPositive("rope_scaling.low_freq_factor", scaling->low_freq_factor));
  if (!(scaling->high_freq_factor > scaling->low_freq_factor)) {
    return ConfigError(absl::StrCat(
        "field 'rope_scaling.high_freq_factor' (", scaling->high_freq_factor,
        ") must exceed 'rope_scaling.low_freq_factor' (", scaling->low_freq_factor, ")"));
  }
  return CheckPositive("rope_scaling.original_max_position_embeddings",
                       scaling->original_max_position_embeddings);
}

absl::Status ParseTokenizer(const Json& object, TokenizerConfig* tokenizer) {
  constexpr absl::string_view kPrefix = "tokenizer.";
  RETURN_IF_ERROR(CheckKnownKeys(object, kPrefix, {"kind", "file"}));
  RETURN_IF_ERROR(ReadString(object, kPrefix, "kind", false, &tokenizer->kind));
  RETURN_IF_ERROR(ReadString(object, kPrefix, "file", false, &tokenizer->file));
  bool known = false;
  for (absl::string_view k : kTokenizerKinds) {
    known = known || k == tokenizer->kind;
  }
  if (!known) {
    return ConfigError(absl::StrCat("field 'tokenizer.kind' must be one of ",
                                    QuotedList(kTokenizerKinds), ", got ",
                                    DescribeJson(Json(tokenizer->kind))));
  }
  return absl::OkStatus();
}

// Parses `text` strictly (server/common/strict_json.h). Never throws.
absl::StatusOr<Json> ParseJsonText(absl::string_view text) {
  Json root;
  const JsonProblem problem = ParseStrictJson(text, &root);
  switch (problem.kind) {
    case JsonProblem::kNone:
      return root;
    case JsonProblem::kNulByte:
      return ConfigError(absl::StrCat("invalid JSON: NUL byte at offset ", problem.nul_offset));
    case JsonProblem::kSyntax:
      return ConfigError(absl::StrCat("invalid JSON: ", problem.detail));
    case JsonProblem::kDuplicateKey:
      return ConfigError(absl::StrCat("duplicate field ", DescribeJson(Json(problem.detail))));
  }
  return root;
}

absl::StatusOr<ModelConfig> ParseModelConfigImpl(absl::string_view json_text) {
  ASSIGN_OR_RETURN(const Json root, ParseJsonText(json_text));
  if (!root.is_object()) {
    return ConfigError(absl::StrCat("top level must be a JSON object, got ", DescribeJson(root)));
  }

  ModelConfig config;
  RETURN_IF_ERROR(ReadString(root, "", "architecture", true, &config.architecture));
  if (config.architecture != kArchitecture) {
    return ConfigError(absl::StrCat("unknown architecture '", config.architecture,
                                    "' (this server implements '", kArchitecture, "')"));
  }
  RETURN_IF_ERROR(CheckKnownKeys(
      root, "", {"architecture",   "name",       "vocab_size",     "dim",          "n_layers",
                 "n_heads",        "ffn_dim",    "segment_length", "norm_eps",     "rope_theta",
                 "tie_embeddings", "memory",     "bos_id",         "eos_id",       "ltm",
                 "tokenizer",      "n_kv_heads", "rope_layout",    "rope_scaling", "head_dim",
                 "attention_bias", "qk_norm"}));

  RETURN_IF_ERROR(ReadString(root, "", "name", false, &config.name));
  RETURN_IF_ERROR(ReadInt(root, "", "vocab_size", true, &config.vocab_size));
  RETURN_IF_ERROR(ReadInt(root, "", "dim", true, &config.dim));
  RETURN_IF_ERROR(ReadInt(root, "", "n_layers", true, &config.n_layers));
  RETURN_IF_ERROR(ReadInt(root, "", "n_heads", true, &config.n_heads));
  RETURN_IF_ERROR(ReadInt(root, "", "ffn_dim", true, &config.ffn_dim));
  RETURN_IF_ERROR(ReadInt(root, "", "segment_length", true, &config.segment_length));
  RETURN_IF_ERROR(ReadDouble(root, "", "norm_eps", &config.norm_eps));
  RETURN_IF_ERROR(ReadDouble(root, "", "rope_theta", &config.rope_theta));
  RETURN_IF_ERROR(ReadBool(root, "", "tie_embeddings", &config.tie_embeddings));
  RETURN_IF_ERROR(ReadInt(root, "", "n_kv_heads", false, &config.n_kv_heads));
  RETURN_IF_ERROR(ReadInt(root, "", "head_dim", false, &config.explicit_head_dim));
  RETURN_IF_ERROR(ReadBool(root, "", "attention_bias", &config.attention_bias));
  RETURN_IF_ERROR(ReadBool(root, "", "qk_norm", &config.qk_norm));
  std::string layout = "interleaved";
  RETURN_IF_ERROR(ReadString(root, "", "rope_layout", false, &layout));
  if (layout == "half") {
    config.rope_layout = RopeLayout::kHalf;
  } else if (layout != "interleaved") {
    return ConfigError(absl::StrCat("field 'rope_layout' must be \"interleaved\" or \"half\", got ",
                                    DescribeJson(Json(layout))));
  }
  ASSIGN_OR_RETURN(const Json* scaling, ReadObject(root, "rope_scaling"));
  if (scaling != nullptr) RETURN_IF_ERROR(ParseRopeScaling(*scaling, &config.rope_scaling));
  RETURN_IF_ERROR(ReadInt(root, "", "bos_id", false, &config.bos_id));
  RETURN_IF_ERROR(ReadInt(root, "", "eos_id", false, &config.eos_id));

  std::string memory(MemoryModeName(config.memory));
  RETURN_IF_ERROR(ReadString(root, "", "memory", false, &memory));
  if (memory == "infinite") {
    config.memory = MemoryMode::kInfinite;
  } else if (memory == "window") {
    config.memory = MemoryMode::kWindow;
  } else if (memory == "full") {
    config.memory = MemoryMode::kFull;
  } else {
    return ConfigError(absl::StrCat("field 'memory' must be one of ", QuotedList(kMemoryNames),
                                    ", got ", DescribeJson(Json(memory))));
  }

  ASSIGN_OR_RETURN(const Json* ltm, ReadObject(root, "ltm"));
  if (ltm != nullptr) {
    RETURN_IF_ERROR(ParseLtm(*ltm, &config.ltm));
  } else {
    RETURN_IF_ERROR(ParseLtm(Json::object(), &config.ltm));  // validates the defaults
  }
  ASSIGN_OR_RETURN(const Json* tokenizer, ReadObject(root, "tokenizer"));
  if (tokenizer != nullptr) {
    RETURN_IF_ERROR(ParseTokenizer(*tokenizer, &config.tokenizer));
  }

  RETURN_IF_ERROR(CheckPositive("vocab_size", config.vocab_size));
  RETURN_IF_ERROR(CheckPositive("dim", config.dim));
  RETURN_IF_ERROR(CheckPositive("n_layers", config.n_layers));
  RETURN_IF_ERROR(CheckPositive("n_heads", config.n_heads));
  RETURN_IF_ERROR(CheckPositive("ffn_dim", config.ffn_dim));
  RETURN_IF_ERROR(CheckPositive("segment_length", config.segment_length));
  if (config.explicit_head_dim < 0) {
    return ConfigError(absl::StrCat("field 'head_dim' must be 0 (dim / n_heads) or positive, got ",
                                    config.explicit_head_dim));
  }
  if (config.explicit_head_dim == 0 && config.dim % config.n_heads != 0) {
    return ConfigError(absl::StrCat("field 'dim' (", config.dim,
                                    ") must be divisible by field 'n_heads' (", config.n_heads,
                                    ") unless field 'head_dim' is given"));
  }
  if (config.n_kv_heads < 0 || (config.n_kv_heads > 0 && config.n_heads % config.n_kv_heads != 0)) {
    return ConfigError(absl::StrCat("field 'n_kv_heads' (", config.n_kv_heads,
                                    ") must be 0 or divide field 'n_heads' (", config.n_heads,
                                    ")"));
  }
  if (config.head_dim() % 2 != 0) {
    return ConfigError(
        absl::StrCat("head dimension ", config.head_dim(),
                     " (field 'head_dim', or 'dim' / 'n_heads') must be even (RoPE)"));
  }
  RETURN_IF_ERROR(CheckPositive("norm_eps", config.norm_eps));
  RETURN_IF_ERROR(CheckPositive("rope_theta", config.rope_theta));
  RETURN_IF_ERROR(CheckTokenId("bos_id", config.bos_id, config.vocab_size));
  RETURN_IF_ERROR(CheckTokenId("eos_id", config.eos_id, config.vocab_size));
  return config;
}

}  // namespace

absl::string_view MemoryModeName(MemoryMode mode) {
  switch (mode) {
    case MemoryMode::kInfinite:
      return "infinite";
    case MemoryMode::kWindow:
      return "window";
    case MemoryMode::kFull:
      return "full";
  }
  return "unknown";
}

absl::StatusOr<ModelConfig> ParseModelConfig(absl::string_view json_text) {
  try {
    return ParseModelConfigImpl(json_text);
  } catch (const std::exception& e) {  // defensive: nothing above should throw
    return absl::InternalError(absl::StrCat("config.json: unexpected error: ", e.what()));
  }
}

absl::StatusOr<ModelConfig> ReadModelConfig(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  return ParseModelConfig(text);
}

std::string ModelConfigToJson(const ModelConfig& config) {
  using OrderedJson = nlohmann::ordered_json;
  OrderedJson ltm = OrderedJson::object();
  ltm["num_basis"] = config.ltm.num_basis;
  ltm["num_samples"] = config.ltm.num_samples;
  ltm["tau"] = config.ltm.tau;
  ltm["ridge_lambda"] = config.ltm.ridge_lambda;
  ltm["widths"] = config.ltm.widths;
  ltm["sticky"] = config.ltm.sticky;
  ltm["sticky_bins"] = config.ltm.sticky_bins;
  ltm["sigma0"] = config.ltm.sigma0;
  ltm["kl_weight"] = config.ltm.kl_weight;

  OrderedJson tokenizer = OrderedJson::object();
  tokenizer["kind"] = config.tokenizer.kind;
  tokenizer["file"] = config.tokenizer.file;

  OrderedJson root = OrderedJson::object();
  root["architecture"] = config.architecture;
  root["name"] = config.name;
  root["vocab_size"] = config.vocab_size;
  root["dim"] = config.dim;
  root["n_layers"] = config.n_layers;
  root["n_heads"] = config.n_heads;
  root["ffn_dim"] = config.ffn_dim;
  root["segment_length"] = config.segment_length;
  root["norm_eps"] = config.norm_eps;
  root["rope_theta"] = config.rope_theta;
  root["tie_embeddings"] = config.tie_embeddings;
  // Written only when they differ from the defaults, so that the configs (and fingerprints)
  // of models made before these fields existed stay as they were.
  if (config.n_kv_heads > 0 && config.n_kv_heads != config.n_heads) {
    root["n_kv_heads"] = config.n_kv_heads;
  }
  if (config.explicit_head_dim > 0) root["head_dim"] = config.explicit_head_dim;
  if (config.attention_bias) root["attention_bias"] = true;
  if (config.qk_norm) root["qk_norm"] = true;
  if (config.rope_layout == RopeLayout::kHalf) root["rope_layout"] = "half";
  if (!config.rope_scaling.kind.empty()) {
    OrderedJson scaling = OrderedJson::object();
    scaling["kind"] = config.rope_scaling.kind;
    scaling["factor"] = config.rope_scaling.factor;
    scaling["low_freq_factor"] = config.rope_scaling.low_freq_factor;
    scaling["high_freq_factor"] = config.rope_scaling.high_freq_factor;
    scaling["original_max_position_embeddings"] =
        config.rope_scaling.original_max_position_embeddings;
    root["rope_scaling"] = std::move(scaling);
  }
  root["memory"] = std::string(MemoryModeName(config.memory));
  root["bos_id"] = config.bos_id;
  root["eos_id"] = config.eos_id;
  root["ltm"] = std::move(ltm);
  root["tokenizer"] = std::move(tokenizer);
  // `replace` keeps this non-throwing for a hand-built config with invalid UTF-8 strings
  // (a config that came from ParseModelConfig is always valid UTF-8).
  return root.dump(2, ' ', false, OrderedJson::error_handler_t::replace) + "\n";
}

}  // namespace infmem::model
