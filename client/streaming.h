// The streaming commands, generate and chat: Generate calls whose replies go to stdout as
// they arrive and that Ctrl-C cancels. SIGINT only sets a flag; a watcher thread per call
// turns it into ClientContext::TryCancel (which is not async-signal-safe).
#ifndef INFMEM_CLIENT_STREAMING_H_
#define INFMEM_CLIENT_STREAMING_H_

#include "absl/status/status.h"
#include "client/args.h"
#include "infmem/v1/infmem.grpc.pb.h"

namespace infmem::client {

// Streams one continuation of command.session_id to stdout, then prints the finish reason
// and usage to stderr. Ctrl-C cancels the call: CANCELLED.
absl::Status RunGenerate(const Command& command, infmem::v1::Infmem::Stub* stub);

// Reads lines from stdin and streams a reply to each ("> " prompt on stderr when stdin is
// a terminal). Ctrl-C during a reply cancels the reply only; Ctrl-C or end of input at the
// prompt ends the chat with OK. Any other failure of a reply ends it with that status.
absl::Status RunChat(const Command& command, infmem::v1::Infmem::Stub* stub);

}  // namespace infmem::client

#endif  // INFMEM_CLIENT_STREAMING_H_
