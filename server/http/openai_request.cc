#include "server/http/openai_request.h"

#include <cmath>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/common/status_macros.h"
#include "server/common/strict_json.h"
#include "server/service/service_context.h"

namespace infmem::http {
namespace {

using Json = nlohmann::json;

absl::Status Unsupported(absl::string_view param, absl::string_view what) {
  return ParamError(param, absl::StrCat("'", param, "' ", what, " is not supported by infmem"),
                    "unsupported_parameter");
}

absl::StatusOr<Json> ParseBody(absl::string_view body) {
  Json root;
  const JsonProblem problem = ParseStrictJson(body, &root);
  switch (problem.kind) {
    case JsonProblem::kNone:
      break;
    case JsonProblem::kNulByte:
      return ParamError(
          "", absl::StrCat("the request body has a NUL byte at offset ", problem.nul_offset));
    case JsonProblem::kSyntax:
      return ParamError("", absl::StrCat("the request body is not valid JSON: ", problem.detail));
    case JsonProblem::kDuplicateKey:
      return ParamError(problem.detail,
                        absl::StrCat("the request body repeats the key '", problem.detail, "'"));
  }
  if (!root.is_object()) return ParamError("", "the request body must be a JSON object");
  return root;
}

// Refuses members of `object` not in `known`, naming the first (prefixed with `path`).
absl::Status CheckKnown(const Json& object, const std::set<std::string>& known,
                        const std::string& path) {
  for (const auto& [key, value] : object.items()) {
    (void)value;
    if (known.count(key) == 0) {
      const std::string name = path.empty() ? key : absl::StrCat(path, ".", key);
      return ParamError(name, absl::StrCat("unknown field '", name.substr(0, 64), "'"),
                        "unknown_parameter");
    }
  }
  return absl::OkStatus();
}

// Returns `specific` with the fields both endpoints take (ParseCommon reads them).
std::set<std::string> WithCommonFields(std::set<std::string> specific) {
  for (const char* field :
       {"model", "n", "stream", "stream_options", "max_tokens", "temperature", "top_p", "top_k",
        "min_p", "repetition_penalty", "seed", "stop", "frequency_penalty", "presence_penalty",
        "user", "metadata", "store", "logprobs", "logit_bias"}) {
    specific.insert(field);
  }
  return specific;
}

const Json* Get(const Json& root, const char* key) {
  const auto it = root.find(key);
  return it == root.end() || it->is_null() ? nullptr : &*it;
}

absl::StatusOr<double> Number(const Json& root, const char* key, double fallback, double lo,
                              double hi) {
  const Json* v = Get(root, key);
  if (v == nullptr) return fallback;
  if (!v->is_number() || !std::isfinite(v->get<double>()) || v->get<double>() < lo ||
      v->get<double>() > hi) {
    return ParamError(key, absl::StrCat("'", key, "' must be a number in [", lo, ", ", hi,
                                        "], got ", DescribeJson(*v)));
  }
  return v->get<double>();
}

absl::StatusOr<int64_t> Integer(const Json& root, const char* key, int64_t fallback, int64_t lo,
                                int64_t hi) {
  const Json* v = Get(root, key);
  if (v == nullptr) return fallback;
  if (!v->is_number_integer() || v->get<int64_t>() < lo || v->get<int64_t>() > hi) {
    return ParamError(key, absl::StrCat("'", key, "' must be an integer in [", lo, ", ", hi,
                                        "], got ", DescribeJson(*v)));
  }
  return v->get<int64_t>();
}

absl::StatusOr<bool> Bool(const Json& root, const char* key, bool fallback) {
  const Json* v = Get(root, key);
  if (v == nullptr) return fallback;
  if (!v->is_boolean())
    return ParamError(key, absl::StrCat("'", key, "' must be a boolean, got ", DescribeJson(*v)));
  return v->get<bool>();
}

// temperature, top_p, top_k, min_p, repetition_penalty and seed (`default_seed` when absent
// or 0), into `s`.
absl::Status ParseSampling(const Json& root, uint64_t default_seed, model::SamplingParams* s) {
  ASSIGN_OR_RETURN(s->temperature, Number(root, "temperature", 1.0, 0.0, 2.0));
  ASSIGN_OR_RETURN(s->top_p, Number(root, "top_p", 1.0, 0.0, 1.0));
  if (s->top_p == 0.0) return ParamError("top_p", "'top_p' must be greater than 0");
  ASSIGN_OR_RETURN(const int64_t top_k, Integer(root, "top_k", 0, 0, 1 << 20));
  s->top_k = static_cast<int>(top_k);
  ASSIGN_OR_RETURN(s->min_p, Number(root, "min_p", 0.0, 0.0, 0.999999));
  ASSIGN_OR_RETURN(s->repetition_penalty, Number(root, "repetition_penalty", 1.0, 0.0, 100.0));
  if (s->repetition_penalty == 0.0) s->repetition_penalty = 1.0;
  ASSIGN_OR_RETURN(const int64_t seed, Integer(root, "seed", 0, INT64_MIN, INT64_MAX));
  s->seed = seed != 0 ? static_cast<uint64_t>(seed) : default_seed;
  return absl::OkStatus();
}

// The fields both endpoints share: model, n, stream, sampling, stop, penalties, extras.
absl::Status ParseCommon(const Json& root, const service::RequestLimits& limits,
                         uint64_t default_seed, CompletionRequest* out) {
  const Json* model = Get(root, "model");
  if (model == nullptr || !model->is_string() || model->get<std::string>().empty()) {
    return ParamError("model", "you must provide a model parameter (a string)");
  }
  out->model = model->get<std::string>();
  ASSIGN_OR_RETURN(const int64_t n, Integer(root, "n", 1, 1, 16));
  out->n = static_cast<int>(n);
  ASSIGN_OR_RETURN(out->stream, Bool(root, "stream", false));
  if (const Json* options = Get(root, "stream_options"); options != nullptr) {
    if (!out->stream)
      return ParamError("stream_options", "'stream_options' is only allowed when 'stream' is true");
    if (!options->is_object())
      return ParamError("stream_options", "'stream_options' must be an object");
    RETURN_IF_ERROR(CheckKnown(*options, {"include_usage"}, "stream_options"));
    ASSIGN_OR_RETURN(out->include_usage, Bool(*options, "include_usage", false));
  }
  // max_tokens, or its newer name; capped at the server's limit as the gRPC API caps it.
  int64_t max_tokens = 0;
  for (const char* key : {"max_tokens", "max_completion_tokens"}) {
    ASSIGN_OR_RETURN(const int64_t value, Integer(root, key, 0, 1, int64_t{1} << 31));
    if (value > 0) max_tokens = value;
  }
  out->max_tokens =
      static_cast<int32_t>(max_tokens == 0 ? limits.default_new_tokens
                                           : std::min<int64_t>(max_tokens, limits.max_new_tokens));
  model::SamplingParams& s = out->sampling;
  RETURN_IF_ERROR(ParseSampling(root, default_seed, &s));
  for (const char* key : {"frequency_penalty", "presence_penalty"}) {
    ASSIGN_OR_RETURN(const double value, Number(root, key, 0.0, -2.0, 2.0));
    if (value != 0.0) return Unsupported(key, "other than 0 (use 'repetition_penalty')");
  }
  if (const Json* stop = Get(root, "stop"); stop != nullptr) {
    std::vector<Json> items =
        stop->is_array() ? stop->get<std::vector<Json>>() : std::vector<Json>{*stop};
    if (static_cast<int>(items.size()) > limits.max_stop_sequences) {
      return ParamError(
          "stop", absl::StrCat("'stop' holds ", items.size(), " sequences, over the limit of ",
                               limits.max_stop_sequences));
    }
    for (const Json& item : items) {
      if (!item.is_string() || item.get<std::string>().empty() ||
          static_cast<int>(item.get<std::string>().size()) > limits.max_stop_bytes) {
        return ParamError("stop",
                          absl::StrCat("'stop' must be a string or a list of strings of 1 to ",
                                       limits.max_stop_bytes, " bytes"));
      }
      RETURN_IF_ERROR(service::ValidateText("stop", item.get<std::string>(), limits));
      out->stop.push_back(item.get<std::string>());
    }
  }
  if (const Json* user = Get(root, "user"); user != nullptr && !user->is_string()) {
    return ParamError("user", "'user' must be a string");
  }
  if (const Json* metadata = Get(root, "metadata"); metadata != nullptr) {
    if (!metadata->is_object())
      return ParamError("metadata", "'metadata' must be an object of strings");
    for (const auto& [key, value] : metadata->items()) {
      if (!value.is_string())
        return ParamError("metadata",
                          absl::StrCat("'metadata.", key.substr(0, 64), "' must be a string"));
    }
  }
  if (const Json* logprobs = Get(root, "logprobs");
      logprobs != nullptr && !((logprobs->is_boolean() && !logprobs->get<bool>()) ||
                               (logprobs->is_number_integer() && logprobs->get<int64_t>() == 0))) {
    return Unsupported("logprobs", "(log probabilities)");
  }
  if (Get(root, "top_logprobs") != nullptr)
    return Unsupported("top_logprobs", "(log probabilities)");
  if (const Json* bias = Get(root, "logit_bias");
      bias != nullptr && !(bias->is_object() && bias->empty())) {
    return Unsupported("logit_bias", "");
  }
  ASSIGN_OR_RETURN(const bool store, Bool(root, "store", false));
  if (store) return Unsupported("store", "true on this endpoint (use /v1/responses)");
  return model::ValidateSamplingParams(s);
}

// The text of a message's content: a string or a list of text parts.
absl::StatusOr<std::string> ContentText(const Json& content, const std::string& path) {
  if (content.is_string()) return content.get<std::string>();
  if (content.is_null()) return std::string();
  if (!content.is_array())
    return ParamError(path, absl::StrCat("'", path, "' must be a string or a list of parts"));
  std::string text;
  for (size_t i = 0; i < content.size(); ++i) {
    const Json& part = content[i];
    const std::string part_path = absl::StrCat(path, "[", i, "]");
    if (!part.is_object() || !part.contains("type") || !part["type"].is_string()) {
      return ParamError(part_path,
                        absl::StrCat("'", part_path, "' must be an object with a string 'type'"));
    }
    const std::string type = part["type"].get<std::string>();
    if (type != "text")
      return Unsupported(part_path + ".type",
                         absl::StrCat("\"", type.substr(0, 32), "\" (only text parts)"));
    RETURN_IF_ERROR(CheckKnown(part, {"type", "text"}, part_path));
    if (!part.contains("text") || !part["text"].is_string()) {
      return ParamError(part_path + ".text",
                        absl::StrCat("'", part_path, ".text' must be a string"));
    }
    text += part["text"].get<std::string>();
  }
  return text;
}

}  // namespace

absl::Status ParamError(absl::string_view param, absl::string_view message,
                        absl::string_view code) {
  absl::Status status = absl::InvalidArgumentError(message);
  status.SetPayload(kParamPayload, absl::Cord(param));
  status.SetPayload(kCodePayload, absl::Cord(code));
  return status;
}

absl::StatusOr<CompletionRequest> ParseChatCompletionRequest(absl::string_view body,
                                                             const service::RequestLimits& limits,
                                                             uint64_t default_seed) {
  ASSIGN_OR_RETURN(const Json root, ParseBody(body));
  RETURN_IF_ERROR(CheckKnown(
      root,
      WithCommonFields({"messages", "max_completion_tokens", "top_logprobs", "response_format",
                        "tools", "tool_choice", "parallel_tool_calls", "chat_template_kwargs"}),
      ""));
  CompletionRequest out;
  out.chat = true;
  RETURN_IF_ERROR(ParseCommon(root, limits, default_seed, &out));
  if (const Json* format = Get(root, "response_format");
      format != nullptr &&
      !(format->is_object() && format->value("type", "") == "text" && format->size() == 1)) {
    return Unsupported("response_format", "other than {\"type\": \"text\"} (structured output)");
  }
  if (const Json* tools = Get(root, "tools");
      tools != nullptr && !(tools->is_array() && tools->empty())) {
    return Unsupported("tools", "(tool calls)");
  }
  if (const Json* choice = Get(root, "tool_choice");
      choice != nullptr && !(choice->is_string() && choice->get<std::string>() == "none")) {
    return Unsupported("tool_choice", "other than \"none\"");
  }
  if (const Json* kwargs = Get(root, "chat_template_kwargs"); kwargs != nullptr) {
    if (!kwargs->is_object())
      return ParamError("chat_template_kwargs", "'chat_template_kwargs' must be an object");
    for (const char* reserved : {"messages", "add_generation_prompt", "bos_token", "eos_token"}) {
      if (kwargs->contains(reserved)) {
        return ParamError("chat_template_kwargs",
                          absl::StrCat("'chat_template_kwargs' may not set '", reserved, "'"));
      }
    }
    out.template_variables = nlohmann::ordered_json::parse(kwargs->dump());
  }
  const Json* messages = Get(root, "messages");
  if (messages == nullptr || !messages->is_array() || messages->empty()) {
    return ParamError("messages", "'messages' must be a non-empty list");
  }
  static const std::set<std::string> kRoles = {"system", "developer", "user", "assistant", "tool"};
  int64_t bytes = 0;
  for (size_t i = 0; i < messages->size(); ++i) {
    const Json& m = (*messages)[i];
    const std::string path = absl::StrCat("messages[", i, "]");
    if (!m.is_object()) return ParamError(path, absl::StrCat("'", path, "' must be an object"));
    RETURN_IF_ERROR(
        CheckKnown(m, {"role", "content", "name", "tool_calls", "tool_call_id", "refusal"}, path));
    if (!m.contains("role") || !m["role"].is_string() ||
        kRoles.count(m["role"].get<std::string>()) == 0) {
      return ParamError(
          path + ".role",
          absl::StrCat("'", path,
                       ".role' must be one of system, developer, user, assistant, tool"));
    }
    std::string role = m["role"].get<std::string>();
    if (role == "tool" || Get(m, "tool_calls") != nullptr || Get(m, "tool_call_id") != nullptr) {
      return Unsupported(path, "(tool messages and tool calls)");
    }
    if (role == "developer") role = "system";  // OpenAI's newer name for it
    if (!m.contains("content"))
      return ParamError(path + ".content", absl::StrCat("'", path, ".content' is required"));
    ASSIGN_OR_RETURN(std::string content, ContentText(m["content"], path + ".content"));
    RETURN_IF_ERROR(service::ValidateText(path + ".content", content, limits));
    bytes += static_cast<int64_t>(content.size());
    out.messages.push_back(nlohmann::ordered_json{{"role", role}, {"content", std::move(content)}});
  }
  if (bytes > limits.max_text_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the messages hold ", bytes, " bytes, over the limit of ", limits.max_text_bytes));
  }
  return out;
}

absl::StatusOr<CompletionRequest> ParseCompletionRequest(absl::string_view body,
                                                         const service::RequestLimits& limits,
                                                         uint64_t default_seed) {
  ASSIGN_OR_RETURN(const Json root, ParseBody(body));
  RETURN_IF_ERROR(CheckKnown(root, WithCommonFields({"prompt", "echo", "suffix", "best_of"}), ""));
  CompletionRequest out;
  RETURN_IF_ERROR(ParseCommon(root, limits, default_seed, &out));
  ASSIGN_OR_RETURN(out.echo, Bool(root, "echo", false));
  if (Get(root, "suffix") != nullptr) return Unsupported("suffix", "(insertion)");
  ASSIGN_OR_RETURN(const int64_t best_of, Integer(root, "best_of", 1, 1, 1));
  (void)best_of;
  const Json* prompt = Get(root, "prompt");
  if (prompt != nullptr && prompt->is_array() && prompt->size() == 1 && (*prompt)[0].is_string()) {
    prompt = &(*prompt)[0];
  }
  if (prompt == nullptr || !prompt->is_string()) {
    return ParamError("prompt", "'prompt' must be a string (or a list of one string)");
  }
  out.prompt = prompt->get<std::string>();
  RETURN_IF_ERROR(service::ValidateText("prompt", out.prompt, limits));
  if (out.prompt.empty()) return ParamError("prompt", "'prompt' must not be empty");
  return out;
}

namespace {

// The metadata of a stored object: at most 16 string values (OpenAI's limits).
absl::Status ParseMetadata(const Json& root, nlohmann::ordered_json* out) {
  const Json* metadata = Get(root, "metadata");
  if (metadata == nullptr) return absl::OkStatus();
  if (!metadata->is_object() || metadata->size() > 16) {
    return ParamError("metadata", "'metadata' must be an object of at most 16 strings");
  }
  for (const auto& [key, value] : metadata->items()) {
    if (!value.is_string() || key.size() > 64 || value.get<std::string>().size() > 512) {
      return ParamError("metadata", absl::StrCat("'metadata.", key.substr(0, 64),
                                                 "' must be a string of at most 512 bytes "
                                                 "under a key of at most 64"));
    }
    (*out)[key] = value;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ParseItems(const nlohmann::json& input, const std::string& param,
                        const service::RequestLimits& limits, nlohmann::ordered_json* messages,
                        nlohmann::ordered_json* items) {
  if (input.is_string()) {
    RETURN_IF_ERROR(service::ValidateText(param, input.get<std::string>(), limits));
    messages->push_back({{"role", "user"}, {"content", input.get<std::string>()}});
    items->push_back(
        {{"type", "message"},
         {"role", "user"},
         {"content", Json::array({{{"type", "input_text"}, {"text", input.get<std::string>()}}})}});
    return absl::OkStatus();
  }
  if (!input.is_array() || input.empty()) {
    return ParamError(
        param, absl::StrCat("'", param, "' must be a string or a non-empty list of messages"));
  }
  for (size_t i = 0; i < input.size(); ++i) {
    const Json& item = input[i];
    const std::string path = absl::StrCat(param, "[", i, "]");
    if (!item.is_object()) return ParamError(path, absl::StrCat("'", path, "' must be an object"));
    RETURN_IF_ERROR(CheckKnown(item, {"type", "role", "content", "id", "status"}, path));
    if (const Json* type = Get(item, "type"); type != nullptr && *type != Json("message")) {
      return Unsupported(path + ".type", "other than \"message\"");
    }
    const Json* role = Get(item, "role");
    static const std::set<std::string> kRoles = {"user", "system", "developer", "assistant"};
    if (role == nullptr || !role->is_string() || kRoles.count(role->get<std::string>()) == 0) {
      return ParamError(path + ".role", absl::StrCat("'", path,
                                                     ".role' must be one of user, system, "
                                                     "developer, assistant"));
    }
    const Json* content = Get(item, "content");
    if (content == nullptr) return ParamError(path + ".content", "'content' is required");
    std::string text;
    if (content->is_string()) {
      text = content->get<std::string>();
    } else if (content->is_array()) {
      for (size_t j = 0; j < content->size(); ++j) {
        const Json& part = (*content)[j];
        const std::string part_path = absl::StrCat(path, ".content[", j, "]");
        if (!part.is_object() || !part.contains("type") || !part["type"].is_string())
          return ParamError(part_path,
                            absl::StrCat("'", part_path, "' must be an object with a 'type'"));
        const std::string type = part["type"].get<std::string>();
        if (type != "input_text" && type != "output_text")
          return Unsupported(part_path + ".type",
                             absl::StrCat("\"", type.substr(0, 32), "\" (only text)"));
        RETURN_IF_ERROR(CheckKnown(part, {"type", "text", "annotations"}, part_path));
        if (!part.contains("text") || !part["text"].is_string())
          return ParamError(part_path + ".text",
                            absl::StrCat("'", part_path, ".text' must be a string"));
        text += part["text"].get<std::string>();
      }
    } else {
      return ParamError(path + ".content",
                        absl::StrCat("'", path, ".content' must be a string or a list of parts"));
    }
    RETURN_IF_ERROR(service::ValidateText(path + ".content", text, limits));
    std::string r = role->get<std::string>();
    messages->push_back({{"role", r == "developer" ? "system" : r}, {"content", text}});
    const char* part_type = r == "assistant" ? "output_text" : "input_text";
    items->push_back({{"type", "message"},
                      {"role", r},
                      {"content", Json::array({{{"type", part_type}, {"text", text}}})}});
  }
  return absl::OkStatus();
}

absl::StatusOr<ConversationRequest> ParseConversationRequest(absl::string_view body,
                                                             const service::RequestLimits& limits,
                                                             bool items_required) {
  ASSIGN_OR_RETURN(const Json root, ParseBody(body));
  RETURN_IF_ERROR(CheckKnown(root, {"items", "metadata"}, ""));
  ConversationRequest out;
  RETURN_IF_ERROR(ParseMetadata(root, &out.metadata));
  out.has_metadata = Get(root, "metadata") != nullptr;
  const Json* items = Get(root, "items");
  if (items == nullptr) {
    if (items_required) return ParamError("items", "'items' is required");
    return out;
  }
  if (!items->is_array()) return ParamError("items", "'items' must be a list of messages");
  if (!items->empty()) {
    RETURN_IF_ERROR(ParseItems(*items, "items", limits, &out.messages, &out.items));
  } else if (items_required) {
    return ParamError("items", "'items' must not be empty");
  }
  return out;
}

absl::StatusOr<ResponsesRequest> ParseResponsesRequest(absl::string_view body,
                                                       const service::RequestLimits& limits,
                                                       uint64_t default_seed) {
  ASSIGN_OR_RETURN(const Json root, ParseBody(body));
  RETURN_IF_ERROR(CheckKnown(root,
                             {"model",
                              "input",
                              "instructions",
                              "previous_response_id",
                              "store",
                              "stream",
                              "max_output_tokens",
                              "temperature",
                              "top_p",
                              "top_k",
                              "min_p",
                              "repetition_penalty",
                              "seed",
                              "metadata",
                              "user",
                              "text",
                              "truncation",
                              "tools",
                              "tool_choice",
                              "parallel_tool_calls",
                              "conversation",
                              "reasoning",
                              "include",
                              "background"},
                             ""));
  ResponsesRequest out;
  const Json* model = Get(root, "model");
  if (model == nullptr || !model->is_string() || model->get<std::string>().empty()) {
    return ParamError("model", "you must provide a model parameter (a string)");
  }
  out.model = model->get<std::string>();
  ASSIGN_OR_RETURN(out.store, Bool(root, "store", true));
  ASSIGN_OR_RETURN(out.stream, Bool(root, "stream", false));
  ASSIGN_OR_RETURN(const int64_t max_tokens,
                   Integer(root, "max_output_tokens", 0, 1, int64_t{1} << 31));
  out.max_output_tokens =
      static_cast<int32_t>(max_tokens == 0 ? limits.default_new_tokens
                                           : std::min<int64_t>(max_tokens, limits.max_new_tokens));
  RETURN_IF_ERROR(ParseSampling(root, default_seed, &out.sampling));
  RETURN_IF_ERROR(model::ValidateSamplingParams(out.sampling));
  RETURN_IF_ERROR(ParseMetadata(root, &out.metadata));
  if (const Json* user = Get(root, "user"); user != nullptr) {
    if (!user->is_string()) return ParamError("user", "'user' must be a string");
    out.user = user->get<std::string>();
  }
  if (const Json* previous = Get(root, "previous_response_id"); previous != nullptr) {
    if (!previous->is_string())
      return ParamError("previous_response_id", "'previous_response_id' must be a string");
    out.previous_response_id = previous->get<std::string>();
    RETURN_IF_ERROR(service::ValidateIdField("previous_response_id", out.previous_response_id));
  }
  if (const Json* instructions = Get(root, "instructions"); instructions != nullptr) {
    if (!instructions->is_string())
      return ParamError("instructions", "'instructions' must be a string");
    out.instructions = instructions->get<std::string>();
    RETURN_IF_ERROR(service::ValidateText("instructions", out.instructions, limits));
  }
  // What infmem does not do, refused by name.
  if (const Json* text = Get(root, "text"); text != nullptr) {
    const bool plain = text->is_object() && text->size() == 1 && text->contains("format") &&
                       (*text)["format"] == Json{{"type", "text"}};
    if (!plain) return Unsupported("text", "other than {\"format\": {\"type\": \"text\"}}");
  }
  if (const Json* truncation = Get(root, "truncation");
      truncation != nullptr && *truncation != Json("disabled")) {
    return Unsupported("truncation",
                       "other than \"disabled\" (a session's memory never truncates)");
  }
  if (const Json* tools = Get(root, "tools");
      tools != nullptr && !(tools->is_array() && tools->empty()))
    return Unsupported("tools", "(tool calls)");
  if (const Json* choice = Get(root, "tool_choice");
      choice != nullptr && *choice != Json("none") && *choice != Json("auto"))
    return Unsupported("tool_choice", "(tool calls)");
  if (const Json* conversation = Get(root, "conversation"); conversation != nullptr) {
    const Json* id = conversation->is_object() ? Get(*conversation, "id") : conversation;
    if (id == nullptr || !id->is_string()) {
      return ParamError("conversation",
                        "'conversation' must be a conversation id or an object with an 'id'");
    }
    out.conversation = id->get<std::string>();
    RETURN_IF_ERROR(service::ValidateIdField("conversation", out.conversation));
    if (!out.previous_response_id.empty()) {
      return ParamError("conversation", "give 'conversation' or 'previous_response_id', not both");
    }
  }
  if (Get(root, "reasoning") != nullptr) return Unsupported("reasoning", "");
  if (const Json* include = Get(root, "include");
      include != nullptr && !(include->is_array() && include->empty()))
    return Unsupported("include", "");
  ASSIGN_OR_RETURN(const bool background, Bool(root, "background", false));
  if (background) return Unsupported("background", "true");
  ASSIGN_OR_RETURN(const bool parallel, Bool(root, "parallel_tool_calls", false));
  (void)parallel;

  if (!out.instructions.empty()) {
    out.messages.push_back({{"role", "system"}, {"content", out.instructions}});
  }
  const Json* input = Get(root, "input");
  if (input == nullptr) return ParamError("input", "'input' is required");
  RETURN_IF_ERROR(ParseItems(*input, "input", limits, &out.messages, &out.input_items));
  return out;
}

}  // namespace infmem::http
