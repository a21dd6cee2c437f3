// The `infmem` flags and ParseCommand. The flags are ABSL_FLAGs, but the command line is
// walked here rather than by absl::ParseCommandLine: that one exits 1 on a bad flag (ours
// exit 2, and 1 means NOT_SERVING to `health`), cannot repeat --stop, and would accept a
// flag the command ignores.
#include "client/args.h"

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "server/common/status_macros.h"

ABSL_FLAG(std::string, server, "127.0.0.1:50051", "The server, host:port.");
ABSL_FLAG(bool, tls, false, "Connect with TLS (implied by --tls_ca, --tls_cert, --tls_key).");
ABSL_FLAG(std::string, tls_ca, "", "PEM roots that verify the server (default: the system's).");
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate of this client, for mutual TLS.");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert.");
ABSL_FLAG(std::string, token, "",
          "Bearer token of a server with --auth_tokens (TLS only); default: $INFMEM_TOKEN.");
ABSL_FLAG(double, timeout, 30,
          "Deadline of each call in seconds; 0: none. Default 30, except generate and chat, "
          "which have no deadline unless --timeout is given.");
ABSL_FLAG(std::string, format, "text",
          "Output of create, get, fork, list and model: text, or json (proto JSON).");
ABSL_FLAG(std::string, id, "", "create, import: the new session's id (default: chosen).");
ABSL_FLAG(std::string, text, "", "create: text appended at creation (\"-\": stdin).");
ABSL_FLAG(std::string, token_ids, "", "append: token ids to append instead of text, e.g. 1,2,3.");
ABSL_FLAG(uint64_t, seed, 0,
          "create: seed of the session's sticky memories; generate, chat: seed of the sampler. "
          "0: the server picks.");
ABSL_FLAG(int32_t, max_tokens, 0,
          "generate, chat: tokens to generate at most; 0: server default (chat: 128).");
ABSL_FLAG(double, temperature, 0, "generate, chat: sampling temperature; 0: greedy (chat: 0.8).");
ABSL_FLAG(int32_t, top_k, 0, "generate, chat: keep the k most likely tokens; 0: off.");
ABSL_FLAG(double, top_p, 0, "generate, chat: nucleus mass in (0, 1]; 0 or 1: off (chat: 0.95).");
ABSL_FLAG(double, min_p, 0, "generate, chat: min probability relative to the top one, [0, 1).");
ABSL_FLAG(double, repetition_penalty, 0,
          "generate, chat: repetition penalty; 0 or 1: off (chat: 1.1).");
ABSL_FLAG(std::vector<std::string>, stop, {},
          "generate, chat: stop sequences; repeatable and comma-separated, C escapes allowed "
          "(--stop='\\n', \\x2c for a comma). chat: a newline unless given.");
ABSL_FLAG(std::string, chat_format, "{}\\n",
          "chat: the turn appended for each input line, {} standing for the line (C escapes "
          "allowed). Without it, a model with a chat template of its own renders each line as "
          "a user message with that template (special tokens as single ids) and replies end "
          "at its end-of-turn token; other models get '{}\\n'.");
ABSL_FLAG(bool, dry_run, false, "generate, chat: generate from a throw-away copy of the session.");
ABSL_FLAG(uint64_t, seq, 0,
          "append, generate: the call's client sequence number for safe retries (larger than "
          "the session's last one); a number already applied is not applied again. 0: none.");
ABSL_FLAG(int32_t, page_size, 0, "list: sessions per request; 0: the server's default.");
ABSL_FLAG(std::string, new_id, "", "fork: the new session's id (default: chosen).");
ABSL_FLAG(std::string, out, "-", "export: the file to write (\"-\": stdout, not a terminal).");

namespace infmem::client {
namespace {

// Every flag of the client, in help order; ParseCommand looks up no others.
constexpr const char* kAllFlags[] = {"server",      "timeout",
                                     "format",      "id",
                                     "text",        "token_ids",
                                     "seed",        "max_tokens",
                                     "chat_format", "temperature",
                                     "top_k",       "top_p",
                                     "min_p",       "repetition_penalty",
                                     "stop",        "dry_run",
                                     "page_size",   "new_id",
                                     "out",         "tls",
                                     "tls_ca",      "tls_cert",
                                     "tls_key",     "token",
                                     "seq"};
// Flags every command takes.
bool IsCommonFlag(absl::string_view name) {
  return name == "server" || name == "timeout" || name == "token" || absl::StartsWith(name, "tls");
}

struct CommandSpec {
  const char* name;
  CommandKind kind;
  std::set<std::string> flags;  // besides the common ones
  int min_args;                 // positional arguments after the command name
  int max_args;                 // -1: unbounded
  const char* usage;            // arguments, for error messages
};

const std::vector<CommandSpec>& CommandSpecs() {
  const std::set<std::string> generate_flags = {
      "max_tokens",         "temperature", "top_k", "top_p",   "min_p",
      "repetition_penalty", "seed",        "stop",  "dry_run", "seq"};
  std::set<std::string> chat_flags = generate_flags;
  chat_flags.erase("seq");
  chat_flags.insert("chat_format");
  static const auto* specs = new std::vector<CommandSpec>{
      {"create", CommandKind::kCreate, {"id", "text", "seed", "format"}, 0, 0, ""},
      {"append", CommandKind::kAppend, {"token_ids", "seq"}, 1, 2, "<id> <text>|--token_ids=..."},
      {"generate", CommandKind::kGenerate, generate_flags, 1, 2, "<id> [text]"},
      {"chat", CommandKind::kChat, chat_flags, 1, 1, "<id>"},
      {"list", CommandKind::kList, {"page_size", "format"}, 0, 0, ""},
      {"get", CommandKind::kGet, {"format"}, 1, 1, "<id>"},
      {"fork", CommandKind::kFork, {"new_id", "format"}, 1, 1, "<id>"},
      {"delete", CommandKind::kDelete, {}, 1, 1, "<id>"},
      {"export", CommandKind::kExport, {"out"}, 1, 1, "<id>"},
      {"import", CommandKind::kImport, {"id"}, 1, 1, "<file>"},
      {"tokenize", CommandKind::kTokenize, {}, 1, 1, "<text>"},
      {"detokenize", CommandKind::kDetokenize, {}, 1, -1, "<token id>..."},
      {"model", CommandKind::kModel, {"format"}, 0, 0, ""},
      {"health", CommandKind::kHealth, {}, 0, 0, ""},
  };
  return *specs;
}

absl::CommandLineFlag* FindClientFlag(absl::string_view name) {
  for (const char* known : kAllFlags) {
    if (name == known) return absl::FindCommandLineFlag(name);
  }
  return nullptr;
}

// Resets every client flag to its default, so that ParseCommand depends on `args` alone.
void ResetFlags() {
  for (const char* name : kAllFlags) {
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    std::string error;
    flag->ParseFrom(flag->DefaultValue(), &error);  // a default always parses
  }
}

// Splits the --stop values on commas and unescapes each piece.
absl::StatusOr<std::vector<std::string>> ParseStops(const std::vector<std::string>& values) {
  std::vector<std::string> stops;
  for (const std::string& value : values) {
    for (absl::string_view piece : absl::StrSplit(value, ',')) {
      std::string stop, error;
      if (!absl::CUnescape(piece, &stop, &error)) {
        return absl::InvalidArgumentError(absl::StrCat("bad --stop \"", piece, "\": ", error));
      }
      if (stop.empty()) return absl::InvalidArgumentError("--stop has an empty sequence");
      stops.push_back(std::move(stop));
    }
  }
  return stops;
}

absl::Status CheckRange(bool ok, const char* flag, const char* range, double value) {
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("--", flag, " must be ", range, ", got ", value));
}

// Fills command->generate from the generate flags; `given` are the flags on the line.
// Chat's defaults, each overridden by its flag: a chat user expects sampled, varied replies
// that end with the turn (a newline), of a sensible length.
constexpr int32_t kChatMaxTokens = 128;
constexpr double kChatTemperature = 0.8;
constexpr double kChatTopP = 0.95;
constexpr double kChatRepetitionPenalty = 1.1;

absl::Status FillGenerate(const std::set<std::string>& given,
                          const std::vector<std::string>& stop_values, Command* command) {
  const bool chat = command->kind == CommandKind::kChat;
  auto chosen = [&](const char* flag, double value, double chat_default) {
    return chat && given.count(flag) == 0 ? chat_default : value;
  };
  infmem::v1::GenerateRequest& request = command->generate;
  const int32_t max_tokens =
      static_cast<int32_t>(chosen("max_tokens", absl::GetFlag(FLAGS_max_tokens), kChatMaxTokens));
  RETURN_IF_ERROR(CheckRange(max_tokens >= 0, "max_tokens", ">= 0", max_tokens));
  request.set_max_tokens(max_tokens);
  request.set_dry_run(absl::GetFlag(FLAGS_dry_run));
  if (!chat) request.set_client_seq(absl::GetFlag(FLAGS_seq));
  ASSIGN_OR_RETURN(std::vector<std::string> stops, ParseStops(stop_values));
  if (chat && given.count("stop") == 0) stops = {"\n"};
  for (std::string& stop : stops) request.add_stop(std::move(stop));

  const double temperature =
      chosen("temperature", absl::GetFlag(FLAGS_temperature), kChatTemperature);
  const int32_t top_k = absl::GetFlag(FLAGS_top_k);
  const double top_p = chosen("top_p", absl::GetFlag(FLAGS_top_p), kChatTopP);
  const double min_p = absl::GetFlag(FLAGS_min_p);
  const double penalty =
      chosen("repetition_penalty", absl::GetFlag(FLAGS_repetition_penalty), kChatRepetitionPenalty);
  RETURN_IF_ERROR(CheckRange(temperature >= 0 && std::isfinite(temperature), "temperature", ">= 0",
                             temperature));
  RETURN_IF_ERROR(CheckRange(top_k >= 0, "top_k", ">= 0", top_k));
  RETURN_IF_ERROR(CheckRange(top_p >= 0 && top_p <= 1, "top_p", "in [0, 1]", top_p));
  RETURN_IF_ERROR(CheckRange(min_p >= 0 && min_p < 1, "min_p", "in [0, 1)", min_p));
  RETURN_IF_ERROR(
      CheckRange(penalty >= 0 && std::isfinite(penalty), "repetition_penalty", ">= 0", penalty));
  // Unset sampling means greedy on the server; generate sends it only when asked for, chat
  // always (its defaults sample).
  const bool sampling_given = given.count("temperature") + given.count("top_k") +
                                  given.count("top_p") + given.count("min_p") +
                                  given.count("repetition_penalty") + given.count("seed") >
                              0;
  if (sampling_given || chat) {
    infmem::v1::SamplingParams* sampling = request.mutable_sampling();
    sampling->set_temperature(temperature);
    sampling->set_top_k(top_k);
    sampling->set_top_p(top_p);
    sampling->set_min_p(min_p);
    sampling->set_repetition_penalty(penalty);
    sampling->set_seed(absl::GetFlag(FLAGS_seed));
  }
  if (chat) {
    std::string format;
    std::string error;
    if (!absl::CUnescape(absl::GetFlag(FLAGS_chat_format), &format, &error)) {
      return absl::InvalidArgumentError(absl::StrCat("--chat_format: ", error));
    }
    const size_t at = format.find("{}");
    if (at == std::string::npos || format.find("{}", at + 2) != std::string::npos) {
      return absl::InvalidArgumentError(
          "--chat_format must contain {} (where the line goes) exactly once");
    }
    command->chat_format = std::move(format);
    command->chat_format_given = given.count("chat_format") > 0;
    command->stop_given = given.count("stop") > 0;
  }
  return absl::OkStatus();
}

// Sets command->text from `text`; "-" defers to stdin.
void SetText(const std::string& text, Command* command) {
  command->text_from_stdin = text == "-";
  if (!command->text_from_stdin) command->text = text;
}

}  // namespace

absl::StatusOr<std::vector<int32_t>> ParseTokenIds(const std::string& text, const char* what) {
  std::vector<int32_t> ids;
  for (absl::string_view piece :
       absl::StrSplit(text, absl::ByAnyChar(", \t\n"), absl::SkipEmpty())) {
    int32_t id = 0;
    if (!absl::SimpleAtoi(piece, &id) || id < 0 || !absl::ascii_isdigit(piece.front())) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": \"", piece, "\" is not a token id (an integer >= 0)"));
    }
    ids.push_back(id);
  }
  if (ids.empty()) return absl::InvalidArgumentError(absl::StrCat(what, " has no token ids"));
  return ids;
}

absl::StatusOr<Command> ParseCommand(absl::Span<const std::string> args) {
  ResetFlags();
  std::vector<std::string> positional;
  std::set<std::string> given;
  std::vector<std::string> stop_values;
  bool help = false;
  bool flags_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (!flags_done && arg == "--") {
      flags_done = true;
      continue;
    }
    if (flags_done || arg.size() < 2 || arg[0] != '-') {
      positional.push_back(arg);
      continue;
    }
    absl::string_view body = absl::StripPrefix(absl::string_view(arg).substr(1), "-");
    if (body == "help" || body == "h" || body == "helpfull") {
      help = true;
      continue;
    }
    const size_t eq = body.find('=');
    const bool has_value = eq != absl::string_view::npos;
    std::string name(body.substr(0, eq));
    std::string value = has_value ? std::string(body.substr(eq + 1)) : "";
    absl::CommandLineFlag* flag = FindClientFlag(name);
    if (flag == nullptr && !has_value && absl::StartsWith(name, "no")) {
      absl::CommandLineFlag* negated = FindClientFlag(name.substr(2));
      if (negated != nullptr && negated->IsOfType<bool>()) {
        flag = negated;
        name = name.substr(2);
        value = "false";
      }
    } else if (flag != nullptr && !has_value) {
      if (flag->IsOfType<bool>()) {
        value = "true";
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value"));
      }
    }
    if (flag == nullptr) return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name));
    given.insert(name);
    if (name == "stop") {
      stop_values.push_back(value);
      continue;
    }
    std::string error;
    if (!flag->ParseFrom(value, &error)) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad value \"", value, "\" for --", name, ": ", error));
    }
  }

  Command command;
  if (help || (!positional.empty() && positional[0] == "help")) return command;  // kHelp
  if (positional.empty()) return absl::InvalidArgumentError("missing command");
  const CommandSpec* spec = nullptr;
  for (const CommandSpec& candidate : CommandSpecs()) {
    if (positional[0] == candidate.name) spec = &candidate;
  }
  if (spec == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("unknown command \"", positional[0], "\""));
  }
  for (const std::string& name : given) {
    if (!IsCommonFlag(name) && spec->flags.count(name) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(spec->name, " does not take --", name));
    }
  }
  const std::vector<std::string> words(positional.begin() + 1, positional.end());
  const int n = static_cast<int>(words.size());
  if (n < spec->min_args || (spec->max_args >= 0 && n > spec->max_args)) {
    return absl::InvalidArgumentError(absl::StrCat(n < spec->min_args ? "missing" : "too many",
                                                   " arguments; usage: infmem ", spec->name, " ",
                                                   spec->usage));
  }
  // Ids and file names cannot be empty; texts can.
  if (n >= 1 && words[0].empty() && spec->kind != CommandKind::kTokenize) {
    return absl::InvalidArgumentError(
        absl::StrCat(spec->name, ": empty argument; usage: infmem ", spec->name, " ", spec->usage));
  }

  command.kind = spec->kind;
  Connection& connection = command.connection;
  connection.server = absl::GetFlag(FLAGS_server);
  if (connection.server.empty()) return absl::InvalidArgumentError("--server is empty");
  connection.ca_file = absl::GetFlag(FLAGS_tls_ca);
  connection.cert_file = absl::GetFlag(FLAGS_tls_cert);
  connection.key_file = absl::GetFlag(FLAGS_tls_key);
  if (connection.cert_file.empty() != connection.key_file.empty()) {
    return absl::InvalidArgumentError("--tls_cert and --tls_key go together");
  }
  connection.token = absl::GetFlag(FLAGS_token);
  if (connection.token.empty() && std::getenv("INFMEM_TOKEN") != nullptr) {
    connection.token = std::getenv("INFMEM_TOKEN");
  }
  connection.tls =
      absl::GetFlag(FLAGS_tls) || !connection.ca_file.empty() || !connection.cert_file.empty();
  const bool streaming = spec->kind == CommandKind::kGenerate || spec->kind == CommandKind::kChat;
  if (given.count("timeout") > 0 || !streaming) {
    const double seconds = absl::GetFlag(FLAGS_timeout);
    RETURN_IF_ERROR(CheckRange(seconds >= 0 && std::isfinite(seconds), "timeout",
                               "a number of seconds >= 0", seconds));
    command.timeout = seconds == 0 ? absl::InfiniteDuration() : absl::Seconds(seconds);
  }
  const std::string format = absl::GetFlag(FLAGS_format);
  if (format != "text" && format != "json") {
    return absl::InvalidArgumentError(
        absl::StrCat("--format must be text or json, got \"", format, "\""));
  }
  command.json = format == "json";

  switch (spec->kind) {
    case CommandKind::kCreate:
      command.session_id = absl::GetFlag(FLAGS_id);
      SetText(absl::GetFlag(FLAGS_text), &command);
      command.seed = absl::GetFlag(FLAGS_seed);
      break;
    case CommandKind::kAppend:
      command.session_id = words[0];
      command.seq = absl::GetFlag(FLAGS_seq);
      if (given.count("token_ids") > 0) {
        if (n == 2)
          return absl::InvalidArgumentError("append takes <text> or --token_ids, not both");
        ASSIGN_OR_RETURN(command.token_ids,
                         ParseTokenIds(absl::GetFlag(FLAGS_token_ids), "--token_ids"));
        command.has_token_ids = true;
      } else if (n == 1) {
        return absl::InvalidArgumentError(
            "missing arguments; usage: infmem append <id> <text>|--token_ids=...");
      } else {
        SetText(words[1], &command);
      }
      break;
    case CommandKind::kGenerate:
    case CommandKind::kChat:
      command.session_id = words[0];
      if (n == 2) SetText(words[1], &command);
      RETURN_IF_ERROR(FillGenerate(given, stop_values, &command));
      break;
    case CommandKind::kList: {
      const int32_t page_size = absl::GetFlag(FLAGS_page_size);
      RETURN_IF_ERROR(CheckRange(page_size >= 0, "page_size", ">= 0", page_size));
      command.page_size = page_size;
      break;
    }
    case CommandKind::kFork:
      command.session_id = words[0];
      command.new_session_id = absl::GetFlag(FLAGS_new_id);
      break;
    case CommandKind::kExport:
      command.session_id = words[0];
      command.path = absl::GetFlag(FLAGS_out);
      if (command.path.empty()) return absl::InvalidArgumentError("--out is empty");
      break;
    case CommandKind::kImport:
      command.path = words[0];
      command.session_id = absl::GetFlag(FLAGS_id);
      break;
    case CommandKind::kTokenize:
      SetText(words[0], &command);
      break;
    case CommandKind::kDetokenize:
      for (const std::string& word : words) {
        ASSIGN_OR_RETURN(std::vector<int32_t> ids, ParseTokenIds(word, "detokenize"));
        command.token_ids.insert(command.token_ids.end(), ids.begin(), ids.end());
      }
      command.has_token_ids = true;
      break;
    case CommandKind::kGet:
    case CommandKind::kDelete:
      command.session_id = words[0];
      break;
    case CommandKind::kModel:
    case CommandKind::kHealth:
    case CommandKind::kHelp:
      break;
  }
  return command;
}

const char* UsageLine() {
  return "usage: infmem <command> [args] [--flags]; infmem --help lists the commands";
}

std::string HelpText() {
  std::string text = R"(infmem: command-line client of an infmem server.

usage: infmem <command> [args] [--flags]   (flags and arguments in any order; -- ends flags)

commands:
  create [--id=X] [--text=T] [--seed=N]  create a session; prints its id
  append <id> <text>|--token_ids=1,2,3   append to a session ("-": text from stdin);
                                         prints appended_tokens=N session_tokens=M
  generate <id> [text]                   stream a continuation to stdout; finish reason and
                                         usage on stderr; Ctrl-C cancels (exit 11)
  chat <id>                              read lines from stdin, stream a reply to each;
                                         Ctrl-C cancels a reply; Ctrl-C or EOF at the prompt quits
  list [--page_size=N]                   every session: "id tokens=N resident=true|false"
  get <id>                               describe a session
  fork <id> [--new_id=Y]                 copy a session; prints the new id
  delete <id>                            delete a session
  export <id> [--out=FILE]               write a session's state to FILE (default stdout)
  import <file> [--id=X]                 create a session from an export ("-": stdin); prints its id
  tokenize <text>                        print token ids, space-separated
  detokenize <token id>...               print the ids' text
  model                                  describe the server's model
  health                                 grpc.health.v1 check: prints SERVING or NOT_SERVING

flags:
)";
  for (const char* name : kAllFlags) {
    const absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    absl::StrAppend(&text, "  --", name, " (default \"", flag->DefaultValue(), "\")\n");
    // The help, wrapped to 92 columns below the name.
    std::string line = "     ";
    for (absl::string_view word : absl::StrSplit(flag->Help(), ' ', absl::SkipEmpty())) {
      if (line.size() + 1 + word.size() > 92) {
        absl::StrAppend(&text, line, "\n");
        line = "     ";
      }
      absl::StrAppend(&line, " ", word);
    }
    absl::StrAppend(&text, line, "\n");
  }
  absl::StrAppend(&text, R"(
exit codes:
  0   success
  1   health: the server answered but is not SERVING
  2   usage error (unknown command or flag, missing argument, bad flag value)
  10+ the call failed: 10 + its gRPC status code, with "infmem: CODE: message" on stderr:
      11 CANCELLED, 12 UNKNOWN, 13 INVALID_ARGUMENT, 14 DEADLINE_EXCEEDED, 15 NOT_FOUND,
      16 ALREADY_EXISTS, 17 PERMISSION_DENIED, 18 RESOURCE_EXHAUSTED, 19 FAILED_PRECONDITION,
      20 ABORTED, 21 OUT_OF_RANGE, 22 UNIMPLEMENTED, 23 INTERNAL, 24 UNAVAILABLE, 25 DATA_LOSS,
      26 UNAUTHENTICATED. Local failures use the same codes (a missing file 15, a corrupt
      export file 25).
)");
  return text;
}

}  // namespace infmem::client
