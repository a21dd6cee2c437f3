// Runs a parsed `infmem` command against its server: one RPC (or a few, for list and
// import) and the printing of its result.
#ifndef INFMEM_CLIENT_COMMANDS_H_
#define INFMEM_CLIENT_COMMANDS_H_

#include <string>

#include "absl/status/statusor.h"
#include "client/args.h"

namespace infmem::client {

// Runs `command` (not kHelp), printing its result to stdout and a failure to stderr as
// "infmem: CODE: message". Returns the exit code (client.h).
int RunCommand(const Command& command);

// Returns command.text, or all of stdin when the text was given as "-".
absl::StatusOr<std::string> ReadCommandText(const Command& command);

}  // namespace infmem::client

#endif  // INFMEM_CLIENT_COMMANDS_H_
