// The `infmem` command line: its commands, flags and usage text, and ParseCommand, which
// turns the words after the program name into a validated Command without touching the
// network, so every usage error (exit code 2) is found, and tested, here.
#ifndef INFMEM_CLIENT_ARGS_H_
#define INFMEM_CLIENT_ARGS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "client/client.h"
#include "infmem/v1/infmem.pb.h"

namespace infmem::client {

enum class CommandKind {
  kHelp,  // `infmem help`, `--help`, `-h`: print the usage text
  kCreate,
  kAppend,
  kGenerate,
  kChat,
  kList,
  kGet,
  kFork,
  kDelete,
  kExport,
  kImport,
  kTokenize,
  kDetokenize,
  kModel,
  kHealth,
};

// One parsed invocation of `infmem`. Only the fields of `kind` are meaningful.
struct Command {
  CommandKind kind = CommandKind::kHelp;
  // --server (host:port) and the TLS flags.
  Connection connection;
  // The per-call deadline; absl::InfiniteDuration() for none (--timeout=0).
  absl::Duration timeout = absl::InfiniteDuration();
  // --format=json: print get/list/create/fork/model results as proto JSON.
  bool json = false;

  // The session a command acts on: the positional <id>, or create's and import's --id
  // (empty there: the server picks, or the exported id).
  std::string session_id;
  // fork --new_id (empty: the server picks).
  std::string new_session_id;
  // create --text, append/tokenize <text>, generate [text].
  std::string text;
  // The text is "-": read it from stdin when the command runs.
  bool text_from_stdin = false;
  // append --token_ids (set when given), detokenize <id>...
  bool has_token_ids = false;
  std::vector<int32_t> token_ids;
  // create --seed.
  uint64_t seed = 0;
  // append --seq (generate's is in `generate`): the client sequence number; 0: none.
  uint64_t seq = 0;
  // list --page_size (0: the server's default).
  int32_t page_size = 0;
  // export --out, import <file>; "-" is stdout or stdin.
  std::string path;
  // generate and chat: everything but session_id and text (max_tokens, sampling, stop,
  // dry_run). generate: `sampling` is set only when a sampling flag was given; chat: always,
  // with chat's defaults (temperature 0.8, top_p 0.95, repetition penalty 1.1, 128 tokens,
  // stop at a newline) for the flags not given.
  infmem::v1::GenerateRequest generate;
  // chat --chat_format, unescaped: the turn for each line, "{}" standing for the line.
  std::string chat_format = "{}\n";
  // chat: --chat_format or --stop was on the line. Without --chat_format, a model with a chat
  // template of its own gets each line as a user message rendered by that template, and
  // without --stop its replies end at its end-of-turn token instead of a newline.
  bool chat_format_given = false;
  bool stop_given = false;
};

// Parses `args`, the command line after the program name: `<command> [args] [--flags]`,
// flags and positional arguments in any order, `--` ending the flags. Flags are the
// ABSL_FLAGs of args.cc, set through absl's flag registry (absl::ParseCommandLine would exit
// 1 on a bad flag and cannot repeat --stop); each call first resets them to their defaults.
// Returns INVALID_ARGUMENT, with a message for the user, for an unknown command or flag, a
// flag the command does not take, a missing or extra argument, or a bad value. Not
// thread-safe (the flags are process-wide).
absl::StatusOr<Command> ParseCommand(absl::Span<const std::string> args);

// Parses token ids: decimal integers in [0, 2^31) separated by commas and/or whitespace,
// e.g. "1,2, 3". INVALID_ARGUMENT naming `what` when one is malformed or there are none.
absl::StatusOr<std::vector<int32_t>> ParseTokenIds(const std::string& text, const char* what);

// Returns the one-line usage summary printed after a usage error.
const char* UsageLine();
// Returns the full help text (commands, flags, exit codes) for `infmem --help`.
std::string HelpText();

}  // namespace infmem::client

#endif  // INFMEM_CLIENT_ARGS_H_
