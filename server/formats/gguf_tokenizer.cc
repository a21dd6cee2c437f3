// GGUF tokenizer -> tokenizer.json / tokenizer.model. The pre-tokenizer regexes are those of
// the tokenizer.json files the named families ship (Llama 3: digits in threes; Qwen2: single
// digits after NFC; GPT-2's ByteLevel regex; SmolLM: single digits, then GPT-2's).
#include "server/formats/gguf_tokenizer.h"

#include <algorithm>
#include <cstring>
#include <set>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "server/common/status_macros.h"

namespace infmem::formats {
namespace {

using Json = nlohmann::ordered_json;

// GGUF token types (llama.cpp's llama_token_type), which SentencePiece shares.
constexpr int64_t kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6;

absl::Status Error(const GgufFile& gguf, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(gguf.path(), ": ", message));
}

// --- SentencePiece ModelProto, written by hand (the wire format is small and stable). ---

void Varint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}
void Tag(std::string* out, int field, int wire) { Varint(out, (uint64_t(field) << 3) | wire); }
void Bytes(std::string* out, int field, absl::string_view s) {
  Tag(out, field, 2);
  Varint(out, s.size());
  out->append(s.data(), s.size());
}
void Int(std::string* out, int field, int64_t v) {
  Tag(out, field, 0);
  Varint(out, static_cast<uint64_t>(v));
}
void Float(std::string* out, int field, float f) {
  Tag(out, field, 5);
  char b[4];
  std::memcpy(b, &f, 4);
  out->append(b, 4);
}

// ModelProto{pieces = 1, trainer_spec = 2, normalizer_spec = 3}; SentencePiece{piece = 1,
// score = 2, type = 3}; TrainerSpec{model_type = 3 (BPE = 2), byte_fallback = 35, unk_id = 40,
// bos_id = 41, eos_id = 42, pad_id = 43}; NormalizerSpec{name = 1, add_dummy_prefix = 3,
// remove_extra_whitespaces = 4, escape_whitespaces = 5}.
std::string SentencePieceModel(const std::vector<std::string>& tokens,
                               const std::vector<double>& scores, const std::vector<int64_t>& types,
                               int64_t unk, int64_t bos, int64_t eos, bool add_space_prefix) {
  std::string model;
  bool has_bytes = false;
  for (size_t i = 0; i < tokens.size(); ++i) {
    std::string piece;
    Bytes(&piece, 1, tokens[i]);
    Float(&piece, 2, static_cast<float>(scores[i]));
    Int(&piece, 3, types[i]);
    Bytes(&model, 1, piece);
    has_bytes = has_bytes || types[i] == kByte;
  }
  std::string trainer;
  Int(&trainer, 3, 2);
  if (has_bytes) Int(&trainer, 35, 1);
  Int(&trainer, 40, unk);
  Int(&trainer, 41, bos);
  Int(&trainer, 42, eos);
  Int(&trainer, 43, -1);
  Bytes(&model, 2, trainer);
  std::string normalizer;
  Bytes(&normalizer, 1, "identity");
  Int(&normalizer, 3, add_space_prefix ? 1 : 0);
  Int(&normalizer, 4, 0);
  Int(&normalizer, 5, 1);
  Bytes(&model, 3, normalizer);
  return model;
}

Json SplitThenByteLevel(const std::string& regex) {
  return Json{{"type", "Sequence"},
              {"pretokenizers", Json::array({Json{{"type", "Split"},
                                                  {"pattern", {{"Regex", regex}}},
                                                  {"behavior", "Isolated"},
                                                  {"invert", false}},
                                             Json{{"type", "ByteLevel"},
                                                  {"add_prefix_space", false},
                                                  {"trim_offsets", false},
                                                  {"use_regex", false}}})}};
}

constexpr char kLlama3Regex[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr char kQwen2Regex[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

}  // namespace

absl::StatusOr<GgufPreTokenizer> PreTokenizerFor(absl::string_view pre) {
  const Json gpt2 = {{"type", "ByteLevel"},
                     {"add_prefix_space", false},
                     {"trim_offsets", true},
                     {"use_regex", true}};
  GgufPreTokenizer out;
  if (pre == "llama-bpe" || pre == "llama3" || pre == "llama-v3" || pre == "falcon3" ||
      pre == "pixtral") {
    out.json = SplitThenByteLevel(kLlama3Regex).dump();
    out.ignore_merges = true;
  } else if (pre == "qwen2" || pre == "deepseek-r1-qwen") {
    out.json = SplitThenByteLevel(kQwen2Regex).dump();
    out.normalizer_json = R"({"type":"NFC"})";
  } else if (pre == "gpt-2" || pre == "default") {
    out.json = gpt2.dump();
  } else if (pre == "smollm") {
    out.json = Json{{"type", "Sequence"},
                    {"pretokenizers",
                     Json::array({Json{{"type", "Digits"}, {"individual_digits", true}}, gpt2})}}
                   .dump();
  } else {
    return absl::NotFoundError(absl::StrCat(
        "tokenizer.ggml.pre \"", pre,
        "\" is not supported (supported: llama-bpe, llama3, qwen2, gpt-2, smollm, default)"));
  }
  return out;
}

absl::StatusOr<GgufTokenizerFiles> ConvertGgufTokenizer(const GgufFile& gguf) {
  ASSIGN_OR_RETURN(const std::string kind, gguf.GetString("tokenizer.ggml.model"));
  ASSIGN_OR_RETURN(const std::vector<std::string> tokens, gguf.GetStrings("tokenizer.ggml.tokens"));
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n == 0) return Error(gguf, "key 'tokenizer.ggml.tokens' is empty");
  std::vector<int64_t> types(tokens.size(), kNormal);
  if (gguf.Find("tokenizer.ggml.token_type") != nullptr) {
    ASSIGN_OR_RETURN(types, gguf.GetInts("tokenizer.ggml.token_type", n));
  }
  for (int64_t i = 0; i < n; ++i) {
    if (types[i] < kNormal || types[i] > kByte) {
      return Error(gguf, absl::StrCat("key 'tokenizer.ggml.token_type' element ", i, " is ",
                                      types[i], " (1 to 6)"));
    }
  }
  GgufTokenizerFiles out;
  out.vocab_size = static_cast<int>(n);
  auto special = [&](absl::string_view key) -> absl::StatusOr<int> {
    ASSIGN_OR_RETURN(std::optional<int64_t> id, gguf.OptionalInt(key));
    if (!id.has_value()) return -1;
    if (*id < 0 || *id >= n) {
      return Error(gguf, absl::StrCat("key '", key, "' is ", *id, ", outside the ", n,
                                      " tokens of tokenizer.ggml.tokens"));
    }
    return static_cast<int>(*id);
  };
  ASSIGN_OR_RETURN(out.bos_id, special("tokenizer.ggml.bos_token_id"));
  ASSIGN_OR_RETURN(out.eos_id, special("tokenizer.ggml.eos_token_id"));
  ASSIGN_OR_RETURN(const int eot, special("tokenizer.ggml.eot_token_id"));
  ASSIGN_OR_RETURN(const int eom, special("tokenizer.ggml.eom_token_id"));
  ASSIGN_OR_RETURN(const int unk, special("tokenizer.ggml.unknown_token_id"));
  ASSIGN_OR_RETURN(const std::optional<bool> add_bos,
                   gguf.OptionalBool("tokenizer.ggml.add_bos_token"));

  Json generation = Json::object();
  if (out.bos_id >= 0) generation["bos_token_id"] = out.bos_id;
  Json ends = Json::array();
  for (int id : {out.eos_id, eot, eom}) {
    if (id >= 0 && std::find(ends.begin(), ends.end(), Json(id)) == ends.end()) ends.push_back(id);
  }
  if (!ends.empty()) generation["eos_token_id"] = ends;
  out.files["generation_config.json"] = generation.dump(2) + "\n";

  ASSIGN_OR_RETURN(const std::optional<std::string> chat_template,
                   gguf.OptionalString("tokenizer.chat_template"));
  if (chat_template.has_value()) out.files["chat_template.jinja"] = *chat_template;

  if (kind == "llama") {
    std::vector<double> scores(tokens.size(), 0.0);
    if (gguf.Find("tokenizer.ggml.scores") != nullptr) {
      ASSIGN_OR_RETURN(scores, gguf.GetNumbers("tokenizer.ggml.scores", n));
    }
    int64_t unk_id = unk;
    if (unk_id < 0) {
      for (int64_t i = 0; i < n && unk_id < 0; ++i) {
        if (types[i] == kUnknown) unk_id = i;
      }
    }
    if (unk_id < 0 || types[unk_id] != kUnknown) {
      return Error(gguf,
                   "a SentencePiece (\"llama\") vocabulary needs one token of type 2 "
                   "(unknown)");
    }
    ASSIGN_OR_RETURN(const std::optional<bool> prefix,
                     gguf.OptionalBool("tokenizer.ggml.add_space_prefix"));
    out.config = {"sentencepiece", "tokenizer.model"};
    out.files["tokenizer.model"] = SentencePieceModel(tokens, scores, types, unk_id, out.bos_id,
                                                      out.eos_id, prefix.value_or(true));
    return out;
  }
  if (kind != "gpt2") {
    return Error(gguf, absl::StrCat("key 'tokenizer.ggml.model' is \"", kind,
                                    "\"; supported: \"llama\" (SentencePiece), \"gpt2\" (BPE)"));
  }
  ASSIGN_OR_RETURN(const std::optional<std::string> pre_name,
                   gguf.OptionalString("tokenizer.ggml.pre"));
  absl::StatusOr<GgufPreTokenizer> pre = PreTokenizerFor(pre_name.value_or("default"));
  if (!pre.ok()) return Error(gguf, pre.status().message());
  ASSIGN_OR_RETURN(const std::vector<std::string> merges, gguf.GetStrings("tokenizer.ggml.merges"));

  Json vocab = Json::object();
  Json added = Json::array();
  std::set<std::string> seen;
  for (int64_t i = 0; i < n; ++i) {
    if (!seen.insert(tokens[i]).second) {
      return Error(gguf, absl::StrCat("key 'tokenizer.ggml.tokens' holds \"", tokens[i],
                                      "\" twice (again at ", i, ")"));
    }
    if (types[i] == kControl || types[i] == kUserDefined) {
      added.push_back(Json{{"id", i},
                           {"content", tokens[i]},
                           {"single_word", false},
                           {"lstrip", false},
                           {"rstrip", false},
                           {"normalized", types[i] == kUserDefined},
                           {"special", types[i] == kControl}});
    } else {
      vocab[tokens[i]] = i;
    }
  }
  for (size_t i = 0; i < merges.size(); ++i) {
    if (merges[i].find(' ') == std::string::npos) {
      return Error(gguf, absl::StrCat("key 'tokenizer.ggml.merges' element ", i,
                                      " is not two tokens separated by a space"));
    }
  }
  Json model = {{"type", "BPE"},
                {"dropout", nullptr},
                {"unk_token", nullptr},
                {"continuing_subword_prefix", nullptr},
                {"end_of_word_suffix", nullptr},
                {"fuse_unk", false},
                {"byte_fallback", false},
                {"ignore_merges", pre->ignore_merges},
                {"vocab", vocab},
                {"merges", merges}};
  Json root = {{"version", "1.0"},
               {"truncation", nullptr},
               {"padding", nullptr},
               {"added_tokens", added},
               {"normalizer", Json::parse(pre->normalizer_json)},
               {"pre_tokenizer", Json::parse(pre->json)},
               {"post_processor", nullptr},
               {"decoder",
                {{"type", "ByteLevel"},
                 {"add_prefix_space", true},
                 {"trim_offsets", true},
                 {"use_regex", true}}},
               {"model", model}};
  out.config = {"huggingface", "tokenizer.json"};
  out.files["tokenizer.json"] = root.dump(-1, ' ', false, Json::error_handler_t::replace);
  Json config = Json::object();
  if (out.bos_id >= 0) config["bos_token"] = tokens[out.bos_id];
  if (out.eos_id >= 0) config["eos_token"] = tokens[out.eos_id];
  // llama.cpp's default where the file does not say: BOS for the Llama 3 family.
  config["add_bos_token"] = add_bos.value_or(pre->ignore_merges) && out.bos_id >= 0;
  out.files["tokenizer_config.json"] =
      config.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
  return out;
}

}  // namespace infmem::formats
