// Tests of the `infmem` client's offline parts: ParseCommand (commands, arguments, flags,
// usage errors), token id parsing, the export file framing and the exit-code mapping.
#include <gmock/gmock.h>
#include <grpcpp/support/status.h>
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "client/args.h"
#include "client/chunk_file.h"
#include "client/client.h"

namespace infmem::client {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

absl::StatusOr<Command> Parse(std::vector<std::string> args) { return ParseCommand(args); }

void ExpectUsageError(std::vector<std::string> args, const std::string& message_part) {
  const absl::StatusOr<Command> command = ParseCommand(args);
  ASSERT_FALSE(command.ok()) << "accepted: " << args[0];
  EXPECT_EQ(command.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(command.status().message()), HasSubstr(message_part));
}

TEST(ParseCommandTest, CreateWithFlags) {
  const absl::StatusOr<Command> command =
      Parse({"create", "--id=s1", "--text", "hello", "--seed=7", "--server=h:1", "--format=json"});
  ASSERT_TRUE(command.ok()) << command.status();
  EXPECT_EQ(command->kind, CommandKind::kCreate);
  EXPECT_EQ(command->session_id, "s1");
  EXPECT_EQ(command->text, "hello");
  EXPECT_EQ(command->seed, 7u);
  EXPECT_EQ(command->connection.server, "h:1");
  EXPECT_TRUE(command->json);
  EXPECT_EQ(command->timeout, absl::Seconds(30));
}

TEST(ParseCommandTest, FlagsResetBetweenCalls) {
  ASSERT_TRUE(Parse({"create", "--id=s1", "--server=h:1"}).ok());
  const absl::StatusOr<Command> command = Parse({"create"});
  ASSERT_TRUE(command.ok()) << command.status();
  EXPECT_EQ(command->session_id, "");
  EXPECT_EQ(command->connection.server, "127.0.0.1:50051");
  EXPECT_FALSE(command->json);
}

TEST(ParseCommandTest, AppendTextStdinAndTokenIds) {
  absl::StatusOr<Command> command = Parse({"append", "s", "some text"});
  ASSERT_TRUE(command.ok()) << command.status();
  EXPECT_EQ(command->kind, CommandKind::kAppend);
  EXPECT_EQ(command->session_id, "s");
  EXPECT_EQ(command->text, "some text");
  EXPECT_FALSE(command->text_from_stdin);
  EXPECT_FALSE(command->has_token_ids);

  command = Parse({"append", "s", "-"});
  ASSERT_TRUE(command.ok()) << command.status();
  EXPECT_TRUE(command->text_from_stdin);

  command = Parse({"append", "--token_ids=1,2, 3", "s"});
  ASSERT_TRUE(command.ok()) << command.status();
  EXPECT_TRUE(command->has_token_ids);
  EXPECT_THAT(command->token_ids, ElementsAre(1, 2, 3));
}

TEST(ParseCommandTest, GenerateSamplingStopsAndTimeout) {
  absl::StatusOr<Command> command =
      Parse({"generate", "s", "Once", "--max_tokens=20", "--temperature=0.8", "--top_k=40",
             "--seed=3", "--stop=a,b", "--stop", "\\n", "--dry_run"});
  ASSERT_TRUE(command.ok()) << command.status();
  EXPECT_EQ(command->kind, CommandKind::kGenerate);
  EXPECT_EQ(command->session_id, "s");
  EXPECT_EQ(command->text, "Once");
  EXPECT_EQ(command->generate.max_tokens(), 20);
  ASSERT_TRUE(command->generate.has_sampling());
  EXPECT_DOUBLE_EQ(command->generate.sampling().temperature(), 0.8);
  EXPECT_EQ(command->generate.sampling().top_k(), 40);
  EXPECT_EQ(command->generate.sampling().seed(), 3u);
  EXPECT_THAT(command->generate.stop(), ElementsAre("a", "b", "\n"));
  EXPECT_TRUE(command->generate.dry_run());
  EXPECT_EQ(command->timeout, absl::InfiniteDuration());  // streaming: none by default

  command = Parse({"generate", "s", "--timeout=2.5", "--nodry_run"});
  ASSERT_TRUE(command.ok()) << command.status();
  EXPECT_EQ(command->text, "");
  EXPECT_FALSE(command->generate.has_sampling());  // greedy: sampling left unset
  EXPECT_FALSE(command->generate.dry_run());
  EXPECT_EQ(command->timeout, absl::Milliseconds(2500));

  command = Parse({"get", "s", "--timeout=0"});
  ASSERT_TRUE(command.ok()) << command.status();
  EXPECT_EQ(command->timeout, absl::InfiniteDuration());
}

TEST(ParseCommandTest, ChatSamplesAndEndsAtTheTurnByDefault) {
  absl::StatusOr<Command> command = Parse({"chat", "s"});
  ASSERT_TRUE(command.ok()) << command.status();
  ASSERT_TRUE(command->generate.has_sampling());
  EXPECT_DOUBLE_EQ(command->generate.sampling().temperature(), 0.8);
  EXPECT_DOUBLE_EQ(command->generate.sampling().top_p(), 0.95);
  EXPECT_DOUBLE_EQ(command->generate.sampling().repetition_penalty(), 1.1);
  EXPECT_EQ(command->generate.max_tokens(), 128);
  EXPECT_THAT(command->generate.stop(), ElementsAre("\n"));
  EXPECT_EQ(command->chat_format, "{}\n");
  // Every default yields to its flag; greedy is one flag away.
  command = Parse({"chat", "s", "--temperature=0", "--max_tokens=7", "--stop=END",
                   "--repetition_penalty=1", "--chat_format=<|user|>\\n{}</s>\\n<|assistant|>\\n"});
  ASSERT_TRUE(command.ok()) << command.status();
  EXPECT_DOUBLE_EQ(command->generate.sampling().temperature(), 0);
  EXPECT_DOUBLE_EQ(command->generate.sampling().repetition_penalty(), 1);
  EXPECT_DOUBLE_EQ(command->generate.sampling().top_p(), 0.95);
  EXPECT_EQ(command->generate.max_tokens(), 7);
  EXPECT_THAT(command->generate.stop(), ElementsAre("END"));
  EXPECT_EQ(command->chat_format, "<|user|>\n{}</s>\n<|assistant|>\n");
  // generate keeps its greedy default and takes no chat format.
  command = Parse({"generate", "s"});
  ASSERT_TRUE(command.ok()) << command.status();
  EXPECT_FALSE(command->generate.has_sampling());
  EXPECT_EQ(command->generate.max_tokens(), 0);
  EXPECT_FALSE(Parse({"generate", "s", "--chat_format={}"}).ok());
  for (const char* bad : {"--chat_format=no placeholder", "--chat_format={}{}"}) {
    const auto status = Parse({"chat", "s", bad}).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(status.message()), HasSubstr("chat_format")) << bad;
  }
}

TEST(ParseCommandTest, OtherCommands) {
  absl::StatusOr<Command> command = Parse({"list", "--page_size=5"});
  ASSERT_TRUE(command.ok()) << command.status();
  EXPECT_EQ(command->kind, CommandKind::kList);
  EXPECT_EQ(command->page_size, 5);

  command = Parse({"fork", "a", "--new_id=b"});
  ASSERT_TRUE(command.ok()) << command.status();
  EXPECT_EQ(command->session_id, "a");
  EXPECT_EQ(command->new_session_id, "b");

  command = Parse({"export", "a", "--out=/tmp/a.infmem"});
  ASSERT_TRUE(command.ok()) << command.status();
  EXPECT_EQ(command->path, "/tmp/a.infmem");
  command = Parse({"export", "a"});
  ASSERT_TRUE(command.ok()) << command.status();
  EXPECT_EQ(command->path, "-");

  command = Parse({"import", "a.infmem", "--id=c"});
  ASSERT_TRUE(command.ok()) << command.status();
  EXPECT_EQ(command->kind, CommandKind::kImport);
  EXPECT_EQ(command->path, "a.infmem");
  EXPECT_EQ(command->session_id, "c");

  command = Parse({"detokenize", "5", "6,7"});
  ASSERT_TRUE(command.ok()) << command.status();
  EXPECT_THAT(command->token_ids, ElementsAre(5, 6, 7));

  command = Parse({"tokenize", "--", "--not a flag"});
  ASSERT_TRUE(command.ok()) << command.status();
  EXPECT_EQ(command->text, "--not a flag");

  for (const char* name : {"chat", "get", "delete"}) {
    command = Parse({name, "s"});
    ASSERT_TRUE(command.ok()) << name << ": " << command.status();
    EXPECT_EQ(command->session_id, "s");
  }
  EXPECT_EQ(Parse({"model"})->kind, CommandKind::kModel);
  EXPECT_EQ(Parse({"health"})->kind, CommandKind::kHealth);
  EXPECT_EQ(Parse({"--help"})->kind, CommandKind::kHelp);
  EXPECT_EQ(Parse({"help"})->kind, CommandKind::kHelp);
  EXPECT_EQ(Parse({"get", "-h"})->kind, CommandKind::kHelp);
}

TEST(ParseCommandTest, UnknownCommandOrFlag) {
  ExpectUsageError({}, "missing command");
  ExpectUsageError({"frobnicate"}, "unknown command \"frobnicate\"");
  ExpectUsageError({"list", "--bogus=1"}, "unknown flag --bogus");
  ExpectUsageError({"get", "s", "--new_id=x"}, "get does not take --new_id");
  ExpectUsageError({"get", "s", "--format=json", "--timeout"}, "--timeout needs a value");
}

TEST(ParseCommandTest, MissingOrExtraArguments) {
  ExpectUsageError({"get"}, "missing arguments");
  ExpectUsageError({"get", "a", "b"}, "too many arguments");
  ExpectUsageError({"append", "s"}, "missing arguments");
  ExpectUsageError({"append", "s", "text", "--token_ids=1"}, "not both");
  ExpectUsageError({"generate"}, "missing arguments");
  ExpectUsageError({"import"}, "missing arguments");
  ExpectUsageError({"detokenize"}, "missing arguments");
  ExpectUsageError({"delete", ""}, "empty argument");
}

TEST(ParseCommandTest, BadFlagValues) {
  ExpectUsageError({"generate", "s", "--max_tokens=abc"}, "bad value \"abc\" for --max_tokens");
  ExpectUsageError({"generate", "s", "--max_tokens=-1"}, "--max_tokens must be >= 0");
  ExpectUsageError({"generate", "s", "--temperature=-0.5"}, "--temperature");
  ExpectUsageError({"generate", "s", "--top_p=1.5"}, "--top_p must be in [0, 1]");
  ExpectUsageError({"generate", "s", "--min_p=1"}, "--min_p");
  ExpectUsageError({"generate", "s", "--stop=a,,b"}, "empty sequence");
  ExpectUsageError({"generate", "s", "--stop=\\q"}, "bad --stop");
  ExpectUsageError({"list", "--page_size=-3"}, "--page_size");
  ExpectUsageError({"get", "s", "--timeout=-1"}, "--timeout");
  ExpectUsageError({"get", "s", "--format=xml"}, "--format must be text or json");
  ExpectUsageError({"create", "--seed=-1"}, "--seed");
}

TEST(ParseCommandTest, MalformedTokenIds) {
  ExpectUsageError({"append", "s", "--token_ids=1,x,3"}, "\"x\" is not a token id");
  ExpectUsageError({"append", "s", "--token_ids=-4"}, "\"-4\" is not a token id");
  ExpectUsageError({"append", "s", "--token_ids=99999999999"}, "is not a token id");
  ExpectUsageError({"append", "s", "--token_ids=1.5"}, "is not a token id");
  ExpectUsageError({"append", "s", "--token_ids=,"}, "has no token ids");
  ExpectUsageError({"detokenize", "7", "+8"}, "\"+8\" is not a token id");
}

TEST(ChunkFileTest, RoundTrip) {
  std::stringstream file;
  infmem::v1::SessionChunk first;
  first.mutable_session()->set_id("s");
  first.set_data("abc");
  first.add_pending_token_ids(42);
  infmem::v1::SessionChunk second;
  second.set_data(std::string(100000, 'x'));
  ASSERT_TRUE(WriteChunk(first, &file).ok());
  ASSERT_TRUE(WriteChunk(second, &file).ok());
  ASSERT_TRUE(WriteChunk(infmem::v1::SessionChunk(), &file).ok());  // an empty frame

  // The first frame's prefix is its length, little-endian.
  const std::string bytes = file.str();
  const size_t first_size = first.ByteSizeLong();
  ASSERT_LT(first_size, 256u);
  EXPECT_EQ(bytes.substr(0, 4), std::string({static_cast<char>(first_size), 0, 0, 0}));

  ChunkFileReader reader(&file);
  infmem::v1::SessionChunk chunk;
  ASSERT_TRUE(*reader.Next(&chunk));
  EXPECT_EQ(chunk.session().id(), "s");
  EXPECT_EQ(chunk.data(), "abc");
  EXPECT_THAT(chunk.pending_token_ids(), ElementsAre(42));
  ASSERT_TRUE(*reader.Next(&chunk));
  EXPECT_FALSE(chunk.has_session());  // each frame is read into a cleared message
  EXPECT_EQ(chunk.data(), second.data());
  EXPECT_EQ(chunk.pending_token_ids_size(), 0);
  ASSERT_TRUE(*reader.Next(&chunk));
  EXPECT_EQ(chunk.ByteSizeLong(), 0u);
  const absl::StatusOr<bool> end = reader.Next(&chunk);
  ASSERT_TRUE(end.ok()) << end.status();
  EXPECT_FALSE(*end);
}

TEST(ChunkFileTest, EmptyFileHasNoChunks) {
  std::stringstream file;
  ChunkFileReader reader(&file);
  infmem::v1::SessionChunk chunk;
  const absl::StatusOr<bool> next = reader.Next(&chunk);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_FALSE(*next);
}

// Reads every chunk of `bytes`; returns the first error.
absl::Status ReadAll(const std::string& bytes) {
  std::stringstream file(bytes);
  ChunkFileReader reader(&file);
  infmem::v1::SessionChunk chunk;
  while (true) {
    const absl::StatusOr<bool> next = reader.Next(&chunk);
    if (!next.ok()) return next.status();
    if (!*next) return absl::OkStatus();
  }
}

std::string OneFrame() {
  std::stringstream file;
  infmem::v1::SessionChunk chunk;
  chunk.set_data("0123456789");
  EXPECT_TRUE(WriteChunk(chunk, &file).ok());
  return file.str();
}

TEST(ChunkFileTest, TruncatedLengthPrefix) {
  const std::string frame = OneFrame();
  const absl::Status status = ReadAll(frame + frame.substr(0, 3));
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(status.message()), HasSubstr("3-byte length prefix at byte"));
}

TEST(ChunkFileTest, LengthBeyondFileEnd) {
  const std::string frame = OneFrame();
  const absl::Status status = ReadAll(frame.substr(0, frame.size() - 1));
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(status.message()), HasSubstr("truncated: frame at byte 0"));
}

TEST(ChunkFileTest, OversizedOrGarbageFrame) {
  EXPECT_EQ(ReadAll(std::string("\xff\xff\xff\xff", 4)).code(), absl::StatusCode::kDataLoss);
  // A 2-byte frame whose bytes are not a SessionChunk (field 1, wire type 7: invalid).
  EXPECT_EQ(ReadAll(std::string("\x02\x00\x00\x00\x0f\x01", 6)).code(),
            absl::StatusCode::kDataLoss);
}

TEST(ExitCodeTest, MapsStatusCodes) {
  EXPECT_EQ(ExitCodeFor(absl::OkStatus()), 0);
  EXPECT_EQ(ExitCodeFor(absl::CancelledError("")), 11);
  EXPECT_EQ(ExitCodeFor(absl::InvalidArgumentError("")), 13);
  EXPECT_EQ(ExitCodeFor(absl::DeadlineExceededError("")), 14);
  EXPECT_EQ(ExitCodeFor(absl::NotFoundError("")), 15);
  EXPECT_EQ(ExitCodeFor(absl::AbortedError("")), 20);
  EXPECT_EQ(ExitCodeFor(absl::UnavailableError("")), 24);
  EXPECT_EQ(ExitCodeFor(absl::DataLossError("")), 25);
  EXPECT_EQ(ExitCodeFor(absl::UnauthenticatedError("")), 26);
  EXPECT_EQ(kExitUsage, 2);
}

TEST(ExitCodeTest, FromGrpcStatus) {
  const absl::Status status =
      FromGrpcStatus(grpc::Status(grpc::StatusCode::NOT_FOUND, "no session \"x\""));
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ExitCodeFor(status), 15);
  EXPECT_EQ(ErrorLine(status), "infmem: NOT_FOUND: no session \"x\"");
  EXPECT_EQ(ExitCodeFor(FromGrpcStatus(grpc::Status(grpc::StatusCode::UNAVAILABLE, ""))), 24);
  EXPECT_EQ(ExitCodeFor(FromGrpcStatus(grpc::Status::CANCELLED)), 11);
  EXPECT_EQ(ExitCodeFor(FromGrpcStatus(grpc::Status::OK)), 0);
}

}  // namespace
}  // namespace infmem::client
