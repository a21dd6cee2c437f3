#include "server/tokenizer/chat_template.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/common/status_macros.h"
#include "server/common/strict_json.h"

namespace infmem::tokenizer {
namespace {

using Json = nlohmann::ordered_json;

absl::StatusOr<std::string> ReadText(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path.string(), ": cannot open"));
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The spelling of a special token in tokenizer_config.json: a string or {"content": ...}.
std::string ConfigToken(const nlohmann::json& config, const char* key) {
  const auto it = config.find(key);
  if (it == config.end()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) {
    return (*it)["content"].get<std::string>();
  }
  return "";
}

Json Message(const char* role, const char* content) {
  return Json{{"role", role}, {"content", content}};
}

}  // namespace

absl::StatusOr<std::unique_ptr<ChatTemplate>> ChatTemplate::Load(const std::string& model_dir,
                                                                 const Tokenizer& tokenizer) {
  std::string source;
  std::string bos = tokenizer.bos_id() >= 0 ? tokenizer.SpecialTokenText(tokenizer.bos_id()) : "";
  std::string eos = tokenizer.eos_id() >= 0 ? tokenizer.SpecialTokenText(tokenizer.eos_id()) : "";
  const std::filesystem::path dir(model_dir);
  std::string origin;
  if (std::filesystem::exists(dir / "chat_template.jinja")) {
    origin = (dir / "chat_template.jinja").string();
    ASSIGN_OR_RETURN(source, ReadText(dir / "chat_template.jinja"));
  }
  if (std::filesystem::exists(dir / "tokenizer_config.json")) {
    const std::string path = (dir / "tokenizer_config.json").string();
    ASSIGN_OR_RETURN(const std::string text, ReadText(path));
    nlohmann::json config;
    const JsonProblem problem = ParseStrictJson(text, &config);
    if (problem.kind != JsonProblem::kNone || !config.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": not a valid JSON object"));
    }
    if (!ConfigToken(config, "bos_token").empty()) bos = ConfigToken(config, "bos_token");
    if (!ConfigToken(config, "eos_token").empty()) eos = ConfigToken(config, "eos_token");
    const auto it = config.find("chat_template");
    if (source.empty() && it != config.end() && !it->is_null()) {
      origin = path + ": field 'chat_template'";
      if (it->is_string()) {
        source = it->get<std::string>();
      } else if (it->is_array()) {
        // Named templates: the one called "default".
        for (const auto& entry : *it) {
          if (entry.is_object() && entry.value("name", "") == "default" &&
              entry.contains("template") && entry["template"].is_string()) {
            source = entry["template"].get<std::string>();
          }
        }
        if (source.empty()) {
          return absl::InvalidArgumentError(
              absl::StrCat(origin, " lists templates but none named \"default\""));
        }
      } else {
        return absl::InvalidArgumentError(absl::StrCat(origin, " must be a string or a list"));
      }
    }
  }
  auto loaded = FromSource(source, tokenizer, bos, eos);
  if (!loaded.ok()) {
    return absl::Status(loaded.status().code(),
                        absl::StrCat(origin, ": ", loaded.status().message()));
  }
  return loaded;
}

absl::StatusOr<std::unique_ptr<ChatTemplate>> ChatTemplate::FromSource(const std::string& source,
                                                                       const Tokenizer& tokenizer,
                                                                       std::string bos_token,
                                                                       std::string eos_token) {
  std::unique_ptr<ChatTemplate> chat(new ChatTemplate());
  chat->builtin_ = source.empty();
  chat->source_ = chat->builtin_ ? std::string(kBuiltinSource) : source;
  ASSIGN_OR_RETURN(chat->template_, JinjaTemplate::Parse(chat->source_));
  chat->bos_token_ = std::move(bos_token);
  chat->eos_token_ = std::move(eos_token);
  // What the template writes after an assistant turn's end token: the whitespace ("\n" for
  // ChatML and Gemma, nothing for Llama 3) that it puts there both at the end of a
  // conversation and before a next turn. A generated reply stops at the end token, so the next
  // turn starts with it.
  for (const int32_t id : tokenizer.end_of_turn_ids()) {
    const std::string spelling = tokenizer.SpecialTokenText(id);
    if (!spelling.empty()) chat->end_spellings_.push_back(spelling);
  }
  const std::string marker = "\x01M\x01";
  const Json exchange = Json::array({Message("user", "U"), Message("assistant", marker.c_str())});
  Json longer = exchange;
  longer.push_back(Message("user", "X"));
  auto last = chat->Render(exchange, false, Json::object());
  auto next = chat->Render(longer, false, Json::object());
  if (last.ok() && next.ok()) {
    const std::string a = chat->AfterReply(*last, marker);
    const std::string b = chat->AfterReply(*next, marker);
    size_t n = 0;
    while (n < a.size() && n < b.size() && a[n] == b[n] &&
           (a[n] == '\n' || a[n] == ' ' || a[n] == '\t' || a[n] == '\r')) {
      ++n;
    }
    chat->reply_closer_ = a.substr(0, n);
  }
  return chat;
}

std::string ChatTemplate::AfterReply(const std::string& rendered, const std::string& marker) const {
  const size_t mark = rendered.find(marker);
  if (mark == std::string::npos) return "";
  std::string tail = rendered.substr(mark + marker.size());
  for (const std::string& spelling : end_spellings_) {
    if (absl::StartsWith(tail, spelling)) return tail.substr(spelling.size());
  }
  return tail;
}

absl::StatusOr<std::string> ChatTemplate::Render(const Json& messages, bool add_generation_prompt,
                                                 const Json& variables) const {
  Json context = variables.is_object() ? variables : Json::object();
  context["messages"] = messages;
  context["add_generation_prompt"] = add_generation_prompt;
  context["bos_token"] = bos_token_;
  context["eos_token"] = eos_token_;
  return template_->Render(context);
}

absl::StatusOr<std::string> ChatTemplate::TextAfterReply(Json before, const Json& messages,
                                                         bool add_generation_prompt,
                                                         const Json& variables) const {
  const std::string marker = "\x02infmem-reply\x02";
  Json& reply = before.back();
  reply["content"] = reply["content"].get<std::string>() + marker;
  for (const auto& message : messages) before.push_back(message);
  ASSIGN_OR_RETURN(const std::string full, Render(before, add_generation_prompt, variables));
  if (full.find(marker) == std::string::npos) {
    return absl::FailedPreconditionError(
        "the chat template does not render an assistant reply verbatim, so the text of a new "
        "turn cannot be told apart");
  }
  std::string text = AfterReply(full, marker);
  if (absl::StartsWith(text, reply_closer_)) text.erase(0, reply_closer_.size());
  return text;
}

absl::StatusOr<ChatTemplate::Turn> ChatTemplate::TurnText(const Json& history, const Json& messages,
                                                          bool add_generation_prompt,
                                                          const Json& variables, bool started,
                                                          bool holds_bos, bool after_reply) const {
  std::string text;
  const bool has_history = history.is_array() && !history.empty();
  if (has_history && history.back().value("role", "") == "assistant" &&
      history.back().contains("content") && history.back()["content"].is_string()) {
    // The turn is what the template writes after the history's last reply (marked).
    ASSIGN_OR_RETURN(text, TextAfterReply(history, messages, add_generation_prompt, variables));
  } else if (has_history) {
    // The turn is what rendering the history with it adds.
    ASSIGN_OR_RETURN(const std::string prefix, Render(history, false, variables));
    Json all = history;
    for (const auto& message : messages) all.push_back(message);
    ASSIGN_OR_RETURN(const std::string full, Render(all, add_generation_prompt, variables));
    if (!absl::StartsWith(full, prefix)) {
      return absl::FailedPreconditionError(
          "the chat template renders the given history differently once this turn is added (it "
          "rewrites earlier turns), and a session's memory cannot be rewritten; send the turn "
          "without history to append it after the session as it is");
    }
    text = full.substr(prefix.size());
  } else if (started) {
    // A stand-in exchange: the turn as the template renders it after a reply.
    ASSIGN_OR_RETURN(text,
                     TextAfterReply(Json::array({Message("user", "..."), Message("assistant", "")}),
                                    messages, add_generation_prompt, variables));
  } else {
    ASSIGN_OR_RETURN(text, Render(messages, add_generation_prompt, variables));
  }
  if ((started || holds_bos) && !bos_token_.empty() && absl::StartsWith(text, bos_token_)) {
    text.erase(0, bos_token_.size());
  }
  if (after_reply) text.insert(0, reply_closer_);
  // The messages' own text, in order; a template that trims it is searched for trimmed.
  Turn turn;
  size_t pos = 0;
  for (const auto& message : messages) {
    if (!message.contains("content") || !message["content"].is_string()) continue;
    std::string content = message["content"].get<std::string>();
    size_t found = content.empty() ? std::string::npos : text.find(content, pos);
    if (found == std::string::npos) {
      const size_t first = content.find_first_not_of(" \t\r\n");
      const size_t last = content.find_last_not_of(" \t\r\n");
      if (first == std::string::npos) continue;
      content = content.substr(first, last - first + 1);
      found = text.find(content, pos);
      if (found == std::string::npos) continue;
    }
    turn.literal.emplace_back(found, found + content.size());
    pos = found + content.size();
  }
  turn.text = std::move(text);
  return turn;
}

}  // namespace infmem::tokenizer
