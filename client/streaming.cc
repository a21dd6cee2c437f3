// generate and chat. Cancellation: the SIGINT handler only stores to an atomic flag (the
// one thing a handler may safely do); a watcher thread per call polls it and calls
// ClientContext::TryCancel, and the chat prompt polls stdin so that it sees the flag too,
// whichever thread the signal interrupted.
#include "client/streaming.h"

#include <grpcpp/client_context.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "client/commands.h"
#include "server/common/status_macros.h"

namespace infmem::client {
namespace {

using infmem::v1::GenerateRequest;
using infmem::v1::GenerateResponse;

// Set by OnSigint. A global because a signal handler can reach nothing else.
std::atomic<bool> interrupted{false};
static_assert(std::atomic<bool>::is_always_lock_free);

extern "C" void OnSigint(int) { interrupted.store(true); }

// Routes SIGINT to OnSigint for its lifetime (restoring the previous disposition after),
// and clears the flag.
class SigintScope {
 public:
  SigintScope() {
    interrupted.store(false);
    struct sigaction action = {};
    action.sa_handler = OnSigint;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &previous_);
  }
  ~SigintScope() { sigaction(SIGINT, &previous_, nullptr); }
  SigintScope(const SigintScope&) = delete;
  SigintScope& operator=(const SigintScope&) = delete;

 private:
  struct sigaction previous_ = {};
};

// Cancels a call when SIGINT arrives during its lifetime: owns a thread that polls the flag
// every 20 ms and calls TryCancel on `context` (which must outlive this).
class CancelOnInterrupt {
 public:
  explicit CancelOnInterrupt(grpc::ClientContext* context)
      : watcher_([this, context] {
          while (!done_.WaitForNotificationWithTimeout(absl::Milliseconds(20))) {
            if (interrupted.load()) {
              context->TryCancel();
              return;
            }
          }
        }) {}
  ~CancelOnInterrupt() {
    done_.Notify();
    watcher_.join();
  }
  CancelOnInterrupt(const CancelOnInterrupt&) = delete;
  CancelOnInterrupt& operator=(const CancelOnInterrupt&) = delete;

 private:
  absl::Notification done_;
  std::thread watcher_;  // after done_, which it reads
};

// What one Generate call produced.
struct Reply {
  GenerateResponse last;  // the message with finish_reason and usage
  bool ends_with_newline = false;
};

// Runs one Generate call, writing each message's text to stdout as it arrives.
absl::Status StreamReply(const GenerateRequest& request, absl::Duration timeout,
                         infmem::v1::Infmem::Stub* stub, Reply* reply) {
  grpc::ClientContext context;
  ApplyDeadline(timeout, &context);
  RouteBySession(request.session_id(), &context);
  CancelOnInterrupt cancel(&context);
  std::unique_ptr<grpc::ClientReader<GenerateResponse>> reader = stub->Generate(&context, request);
  GenerateResponse response;
  while (reader->Read(&response)) {
    if (!response.text().empty()) {
      std::cout << response.text() << std::flush;
      reply->ends_with_newline = response.text().back() == '\n';
    }
    if (response.finish_reason() != infmem::v1::FINISH_REASON_UNSPECIFIED || response.has_usage()) {
      reply->last = response;
    }
  }
  return FromGrpcStatus(reader->Finish());
}

// Formats the end of a generation: "[finish: length, prompt 3, generated 20, session 45 tokens]".
std::string FinishLine(const GenerateResponse& last) {
  std::string reason = absl::AsciiStrToLower(
      absl::StripPrefix(infmem::v1::FinishReason_Name(last.finish_reason()), "FINISH_REASON_"));
  return absl::StrCat("[finish: ", reason, ", prompt ", last.usage().prompt_tokens(),
                      ", generated ", last.usage().generated_tokens(), ", session ",
                      last.usage().session_tokens(), " tokens]");
}

enum class LineResult { kLine, kEnd, kInterrupted };

// Reads lines from a file descriptor, polling it so that SIGINT is noticed within 50 ms
// even when the signal landed on another thread (one of gRPC's) and interrupted no read.
class LineReader {
 public:
  explicit LineReader(int fd) : fd_(fd) {}

  // Reads the next line, without its '\n', into `line`.
  absl::StatusOr<LineResult> Next(std::string* line) {
    while (true) {
      const size_t newline = buffer_.find('\n');
      if (newline != std::string::npos) {
        line->assign(buffer_, 0, newline);
        buffer_.erase(0, newline + 1);
        return LineResult::kLine;
      }
      if (end_) {
        if (buffer_.empty()) return LineResult::kEnd;
        line->swap(buffer_);
        buffer_.clear();
        return LineResult::kLine;
      }
      if (interrupted.load()) return LineResult::kInterrupted;
      pollfd ready = {fd_, POLLIN, 0};
      const int polled = poll(&ready, 1, 50);
      if (polled < 0 && errno != EINTR) return absl::ErrnoToStatus(errno, "cannot poll stdin");
      if (polled <= 0) continue;
      char bytes[4096];
      const ssize_t got = read(fd_, bytes, sizeof(bytes));
      if (got < 0 && errno != EINTR && errno != EAGAIN) {
        return absl::ErrnoToStatus(errno, "cannot read stdin");
      }
      if (got == 0) end_ = true;
      if (got > 0) buffer_.append(bytes, static_cast<size_t>(got));
    }
  }

 private:
  const int fd_;
  std::string buffer_;  // read, not yet returned
  bool end_ = false;
};

}  // namespace

absl::Status RunGenerate(const Command& command, infmem::v1::Infmem::Stub* stub) {
  GenerateRequest request = command.generate;
  request.set_session_id(command.session_id);
  ASSIGN_OR_RETURN(*request.mutable_text(), ReadCommandText(command));
  SigintScope sigint;
  Reply reply;
  const absl::Status status = StreamReply(request, command.timeout, stub, &reply);
  std::cout << '\n' << std::flush;
  if (status.ok()) std::cerr << FinishLine(reply.last) << '\n';
  if (status.code() == absl::StatusCode::kCancelled && interrupted.load()) {
    return absl::CancelledError("interrupted");
  }
  return status;
}

// Returns whether chat should send each line as a chat message for the server's template:
// no --chat_format, and a model with a template of its own.
absl::StatusOr<bool> UseServerTemplate(const Command& command, infmem::v1::Infmem::Stub* stub) {
  if (command.chat_format_given) return false;
  grpc::ClientContext context;
  ApplyDeadline(command.timeout, &context);
  infmem::v1::Model model;
  const grpc::Status status = stub->GetModel(&context, infmem::v1::GetModelRequest(), &model);
  if (!status.ok()) return FromGrpcStatus(status);
  return !model.chat_template().empty() && !model.chat_template_builtin();
}

absl::Status RunChat(const Command& command, infmem::v1::Infmem::Stub* stub) {
  ASSIGN_OR_RETURN(const bool server_template, UseServerTemplate(command, stub));
  SigintScope sigint;
  const bool interactive = isatty(STDIN_FILENO);
  LineReader lines(STDIN_FILENO);
  bool just_cancelled = false;  // the previous reply was cancelled with Ctrl-C
  while (true) {
    interrupted.store(false);
    if (interactive) std::cerr << "> " << std::flush;
    std::string line;
    ASSIGN_OR_RETURN(const LineResult result, lines.Next(&line));
    if (result != LineResult::kLine) {
      if (interactive) std::cerr << '\n';
      return absl::OkStatus();
    }
    GenerateRequest request = command.generate;
    request.set_session_id(command.session_id);
    if (server_template) {
      infmem::v1::ChatMessage* message = request.mutable_chat()->add_messages();
      message->set_role("user");
      message->set_content(line);
      if (!command.stop_given) request.clear_stop();  // the end-of-turn token ends the reply
    } else {
      std::string turn = command.chat_format;
      turn.replace(turn.find("{}"), 2, line);
      request.set_text(turn);
    }
    Reply reply;
    absl::Status status = StreamReply(request, command.timeout, stub, &reply);
    // The server finishes a cancelled reply one step after the cancel, and until then the
    // session is busy (ABORTED, before anything was appended): retry for a moment.
    for (int retry = 0; just_cancelled && status.code() == absl::StatusCode::kAborted &&
                        retry < 100 && !interrupted.load();
         ++retry) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      status = StreamReply(request, command.timeout, stub, &reply);
    }
    if (!reply.ends_with_newline) std::cout << '\n';
    std::cout << std::flush;
    just_cancelled = status.code() == absl::StatusCode::kCancelled && interrupted.load();
    if (just_cancelled) {
      std::cerr << "[cancelled]\n";
      continue;
    }
    RETURN_IF_ERROR(status);
  }
}

}  // namespace infmem::client
