// ChatTemplate: turns chat messages into the text a model was trained on, with the checkpoint's
// own Jinja template (tokenizer_config.json's "chat_template", or chat_template.jinja, in the
// model directory) rendered as Hugging Face renders it, or a documented built-in default.
//
// A session grows turn by turn, so the template is used incrementally. The text of a turn is
// what the template writes after the conversation so far:
//   - after a reply (the client's history ending with an assistant message, or, without
//     history, a stand-in user/assistant exchange): the reply's text is marked, and the turn is
//     what follows the reply's end token. The session keeps earlier turns exactly as they were
//     written (a Qwen3 session keeps the reasoning its template drops from earlier replies),
//     and the new turn is rendered as the template renders a turn after a reply;
//   - after a history ending otherwise: render(history + turn) less render(history), which
//     fails with FailedPrecondition where the template renders that history differently once
//     the turn is added, since a session's memory cannot be rewritten;
//   - in a session that holds no conversation yet: the turn rendered alone.
// After a generated reply (which stops at the end-of-turn token) the turn starts with what the
// template writes after that token ("\n" for ChatML and Gemma). A leading bos_token is dropped
// when the session already holds BOS.
//
// The built-in default, for models without a template (plain language models such as the
// shipped brown-lm), is a transcript: "User: ...\nAssistant: ...\n", with "Assistant:" as
// the generation prompt.
// Thread-safety: immutable after Load; safe to share.
#ifndef INFMEM_SERVER_TOKENIZER_CHAT_TEMPLATE_H_
#define INFMEM_SERVER_TOKENIZER_CHAT_TEMPLATE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"
#include "server/tokenizer/jinja_template.h"
#include "server/tokenizer/tokenizer.h"

namespace infmem::tokenizer {

class ChatTemplate {
 public:
  // The built-in default's source.
  static constexpr absl::string_view kBuiltinSource =
      "{%- for message in messages -%}"
      "{{ message.role | capitalize }}: {{ message.content }}{{ '\\n' }}"
      "{%- endfor -%}"
      "{%- if add_generation_prompt -%}Assistant:{%- endif -%}";

  // Loads the template of `model_dir` (see the file comment), or the built-in default when it
  // has none. InvalidArgument naming the file for a template that does not parse.
  static absl::StatusOr<std::unique_ptr<ChatTemplate>> Load(const std::string& model_dir,
                                                            const Tokenizer& tokenizer);
  // Builds one from `source` (empty: the built-in default).
  static absl::StatusOr<std::unique_ptr<ChatTemplate>> FromSource(const std::string& source,
                                                                  const Tokenizer& tokenizer,
                                                                  std::string bos_token,
                                                                  std::string eos_token);

  // A turn's text and where the messages' own text lies in it (their special-token spellings
  // must stay text: Tokenizer::EncodeWithSpecialTokens).
  struct Turn {
    std::string text;
    Tokenizer::Spans literal;
  };

  // The text a turn adds to a session.
  //   history: the conversation already in the session (a JSON array of messages; may be
  //     empty); messages: the turn's messages; variables: extra template variables (object).
  //   started: the session already holds a conversation (more than a lone BOS).
  //   holds_bos: the session already holds the BOS token (a leading bos_token is dropped).
  //   after_reply: the session's last token ends a generated assistant reply, so the text the
  //     template puts after an assistant turn's end token comes first.
  absl::StatusOr<Turn> TurnText(const nlohmann::ordered_json& history,
                                const nlohmann::ordered_json& messages, bool add_generation_prompt,
                                const nlohmann::ordered_json& variables, bool started,
                                bool holds_bos, bool after_reply) const;

  // Renders a whole conversation (history + messages) as the template does.
  absl::StatusOr<std::string> Render(const nlohmann::ordered_json& messages,
                                     bool add_generation_prompt,
                                     const nlohmann::ordered_json& variables) const;

  const std::string& source() const { return source_; }
  bool builtin() const { return builtin_; }

 private:
  ChatTemplate() = default;

  std::unique_ptr<JinjaTemplate> template_;
  std::string source_;
  bool builtin_ = false;
  std::string bos_token_, eos_token_;
  // Returns the text `messages` add after `before`, whose last message is an assistant reply
  // (marked to find its end), less the reply's end token and closer.
  absl::StatusOr<std::string> TextAfterReply(nlohmann::ordered_json before,
                                             const nlohmann::ordered_json& messages,
                                             bool add_generation_prompt,
                                             const nlohmann::ordered_json& variables) const;
  // Returns what follows `marker` (an assistant reply's text) in `rendered`, after the reply's
  // end-of-turn token when the template writes one.
  std::string AfterReply(const std::string& rendered, const std::string& marker) const;

  std::vector<std::string> end_spellings_;  // of the end-of-turn tokens
  std::string reply_closer_;  // whitespace the template writes after a reply's end token
};

}  // namespace infmem::tokenizer

#endif  // INFMEM_SERVER_TOKENIZER_CHAT_TEMPLATE_H_
