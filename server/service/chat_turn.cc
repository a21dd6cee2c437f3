#include "server/service/chat_turn.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "server/common/status_macros.h"
#include "server/common/strict_json.h"
#include "server/service/request_convert.h"
#include "server/tokenizer/chat_template.h"

namespace infmem::service {
namespace {

using Json = nlohmann::ordered_json;

absl::StatusOr<Json> MessagesToJson(
    absl::string_view field, const google::protobuf::RepeatedPtrField<v1::ChatMessage>& messages,
    const RequestLimits& limits) {
  Json out = Json::array();
  for (int i = 0; i < messages.size(); ++i) {
    const v1::ChatMessage& m = messages[i];
    const std::string path = absl::StrCat(field, "[", i, "]");
    if (m.role().empty() || m.role().size() > 64) {
      return absl::InvalidArgumentError(absl::StrCat(path, ".role must be 1 to 64 bytes"));
    }
    RETURN_IF_ERROR(ValidateText(path + ".role", m.role(), limits));
    RETURN_IF_ERROR(ValidateText(path + ".content", m.content(), limits));
    out.push_back(Json{{"role", m.role()}, {"content", m.content()}});
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<int32_t>> ChatTurnTokens(const ServiceContext& context,
                                                    const v1::ChatTurn& turn,
                                                    bool add_generation_prompt,
                                                    const session::Session& session) {
  if (context.chat_template == nullptr) {
    return absl::FailedPreconditionError("this server has no chat template");
  }
  if (turn.messages().empty()) {
    return absl::InvalidArgumentError("chat.messages: give at least one message");
  }
  ASSIGN_OR_RETURN(const Json messages,
                   MessagesToJson("chat.messages", turn.messages(), context.limits));
  ASSIGN_OR_RETURN(const Json history,
                   MessagesToJson("chat.history", turn.history(), context.limits));
  Json variables = Json::object();
  if (!turn.template_variables().empty()) {
    RETURN_IF_ERROR(
        ValidateText("chat.template_variables", turn.template_variables(), context.limits));
    nlohmann::json parsed;
    const JsonProblem problem = ParseStrictJson(turn.template_variables(), &parsed);
    if (problem.kind != JsonProblem::kNone || !parsed.is_object()) {
      return absl::InvalidArgumentError("chat.template_variables must be a JSON object");
    }
    variables = Json::parse(turn.template_variables());
    for (const char* reserved : {"messages", "add_generation_prompt", "bos_token", "eos_token"}) {
      if (variables.contains(reserved)) {
        return absl::InvalidArgumentError(
            absl::StrCat("chat.template_variables may not set '", reserved, "'"));
      }
    }
  }
  const tokenizer::Tokenizer& tok = context.tokenizer;
  const bool holds_bos = tok.bos_id() >= 0;  // sessions start with BOS (SessionManager)
  const bool started = session.tokens() > (holds_bos ? 1 : 0);
  const std::vector<int32_t> ends = tok.end_of_turn_ids();
  const bool after_reply =
      !session.pending.empty() &&
      std::find(ends.begin(), ends.end(), session.pending.back()) != ends.end();
  auto turn_text = context.chat_template->TurnText(
      history, messages, add_generation_prompt || turn.add_generation_prompt(), variables, started,
      holds_bos, after_reply);
  if (!turn_text.ok()) {
    const absl::Status& status = turn_text.status();
    if (status.code() == absl::StatusCode::kFailedPrecondition &&
        !absl::StartsWith(status.message(), "the chat template")) {
      // raise_exception() in the template: the template refuses this conversation.
      return absl::InvalidArgumentError(absl::StrCat("chat template: ", status.message()));
    }
    if (status.code() == absl::StatusCode::kInvalidArgument) {
      return absl::InvalidArgumentError(absl::StrCat("chat template: ", status.message()));
    }
    return status;
  }
  ASSIGN_OR_RETURN(std::vector<int32_t> ids,
                   tok.EncodeWithSpecialTokens(turn_text->text, turn_text->literal));
  if (static_cast<int64_t>(ids.size()) > context.limits.max_token_ids) {
    return absl::ResourceExhaustedError(absl::StrCat("the chat turn is ", ids.size(),
                                                     " tokens, over the limit of ",
                                                     context.limits.max_token_ids));
  }
  return ids;
}

}  // namespace infmem::service
