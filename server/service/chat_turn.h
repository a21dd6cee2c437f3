// ChatTurnTokens: the tokens a ChatTurn (AppendRequest.chat, GenerateRequest.chat) adds to a
// session, rendered with the model's chat template. Stateless; thread-safe.
#ifndef INFMEM_SERVER_SERVICE_CHAT_TURN_H_
#define INFMEM_SERVER_SERVICE_CHAT_TURN_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "infmem/v1/infmem.pb.h"
#include "server/service/service_context.h"
#include "server/session/session.h"

namespace infmem::service {

// Validates `turn` (InvalidArgument naming the field), renders it after what `session` holds
// and tokenizes the result with special tokens as single ids. `add_generation_prompt`
// overrides the turn's own flag when true (Generate). Template errors, including a
// raise_exception() of the template, are InvalidArgument "chat template: ..."; a template
// that rewrites history is FailedPrecondition (chat_template.h).
absl::StatusOr<std::vector<int32_t>> ChatTurnTokens(const ServiceContext& context,
                                                    const v1::ChatTurn& turn,
                                                    bool add_generation_prompt,
                                                    const session::Session& session);

}  // namespace infmem::service

#endif  // INFMEM_SERVER_SERVICE_CHAT_TURN_H_
