// The unary and file-streaming commands of `infmem`, and the dispatch to every command.
#include "client/commands.h"

#include <grpcpp/client_context.h>
#include <grpcpp/generic/generic_stub.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "client/chunk_file.h"
#include "client/client.h"
#include "client/streaming.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "google/protobuf/unknown_field_set.h"
#include "google/protobuf/util/json_util.h"
#include "infmem/v1/infmem.grpc.pb.h"
#include "server/common/status_macros.h"

namespace infmem::client {
namespace {

using infmem::v1::Infmem;

void PrintLine(const std::string& line) { std::cout << line << '\n'; }

// Prints `message` as one line of proto JSON, every field included.
absl::Status PrintJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  std::string json;
  const auto status = google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!status.ok()) return absl::InternalError(status.ToString());
  PrintLine(json);
  return absl::OkStatus();
}

// Prints the scalar fields of `message`, one "name: value" line each; *_unix_ms fields are
// printed as UTC times named without the suffix. Generic so that new fields of Session and Model
// show up unasked.
void PrintFields(const google::protobuf::Message& message) {
  using google::protobuf::FieldDescriptor;
  const google::protobuf::Descriptor* descriptor = message.GetDescriptor();
  const google::protobuf::Reflection* reflection = message.GetReflection();
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const FieldDescriptor* field = descriptor->field(i);
    if (field->is_repeated()) continue;
    absl::string_view name = field->name();
    std::string value;
    switch (field->cpp_type()) {
      case FieldDescriptor::CPPTYPE_STRING:
        value = reflection->GetString(message, field);
        break;
      case FieldDescriptor::CPPTYPE_INT32:
        value = absl::StrCat(reflection->GetInt32(message, field));
        break;
      case FieldDescriptor::CPPTYPE_INT64: {
        const int64_t number = reflection->GetInt64(message, field);
        if (absl::ConsumeSuffix(&name, "_unix_ms")) {
          value = number == 0 ? "unset"
                              : absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ",
                                                 absl::FromUnixMillis(number), absl::UTCTimeZone());
        } else {
          value = absl::StrCat(number);
        }
        break;
      }
      case FieldDescriptor::CPPTYPE_UINT32:
        value = absl::StrCat(reflection->GetUInt32(message, field));
        break;
      case FieldDescriptor::CPPTYPE_UINT64:
        value = absl::StrCat(reflection->GetUInt64(message, field));
        break;
      case FieldDescriptor::CPPTYPE_DOUBLE:
        value = absl::StrCat(reflection->GetDouble(message, field));
        break;
      case FieldDescriptor::CPPTYPE_FLOAT:
        value = absl::StrCat(reflection->GetFloat(message, field));
        break;
      case FieldDescriptor::CPPTYPE_BOOL:
        value = reflection->GetBool(message, field) ? "true" : "false";
        break;
      case FieldDescriptor::CPPTYPE_ENUM:
        value = reflection->GetEnum(message, field)->name();
        break;
      case FieldDescriptor::CPPTYPE_MESSAGE:
        continue;
    }
    PrintLine(absl::StrCat(name, ": ", value));
  }
}

// Prints a Session as its id (text) or as JSON.
absl::Status PrintSessionId(const Command& command, const infmem::v1::Session& session) {
  if (command.json) return PrintJson(session);
  PrintLine(session.id());
  return absl::OkStatus();
}

// Returns the failure to `what` (e.g. "open") `path`, coded from errno when it is set.
absl::Status OpenError(const std::string& path, const char* what) {
  const std::string message = absl::StrCat("cannot ", what, " ", path);
  return errno != 0 ? absl::ErrnoToStatus(errno, message) : absl::UnknownError(message);
}

absl::Status RunCreate(const Command& command, Infmem::Stub* stub) {
  infmem::v1::CreateSessionRequest request;
  request.set_session_id(command.session_id);
  ASSIGN_OR_RETURN(*request.mutable_text(), ReadCommandText(command));
  request.set_seed(command.seed);
  grpc::ClientContext context;
  ApplyDeadline(command.timeout, &context);
  RouteBySession(command.session_id, &context);
  infmem::v1::Session session;
  RETURN_IF_ERROR(FromGrpcStatus(stub->CreateSession(&context, request, &session)));
  return PrintSessionId(command, session);
}

absl::Status RunAppend(const Command& command, Infmem::Stub* stub) {
  infmem::v1::AppendRequest request;
  request.set_session_id(command.session_id);
  request.set_client_seq(command.seq);
  if (command.has_token_ids) {
    request.mutable_token_ids()->mutable_ids()->Add(command.token_ids.begin(),
                                                    command.token_ids.end());
  } else {
    ASSIGN_OR_RETURN(*request.mutable_text(), ReadCommandText(command));
  }
  grpc::ClientContext context;
  ApplyDeadline(command.timeout, &context);
  RouteBySession(command.session_id, &context);
  infmem::v1::AppendResponse response;
  RETURN_IF_ERROR(FromGrpcStatus(stub->Append(&context, request, &response)));
  PrintLine(absl::StrCat("appended_tokens=", response.appended_tokens(), " session_tokens=",
                         response.session_tokens(), response.duplicate() ? " duplicate=true" : ""));
  return absl::OkStatus();
}

absl::Status RunList(const Command& command, Infmem::Stub* stub) {
  infmem::v1::ListSessionsResponse all;  // --format=json: every page, printed once
  infmem::v1::ListSessionsRequest request;
  request.set_page_size(command.page_size);
  do {
    grpc::ClientContext context;
    ApplyDeadline(command.timeout, &context);
    RouteBySession(command.session_id, &context);
    infmem::v1::ListSessionsResponse page;
    RETURN_IF_ERROR(FromGrpcStatus(stub->ListSessions(&context, request, &page)));
    if (!page.next_page_token().empty() && page.next_page_token() == request.page_token()) {
      return absl::InternalError("the server returned the same page token twice");
    }
    for (const infmem::v1::Session& session : page.sessions()) {
      if (command.json) {
        *all.add_sessions() = session;
      } else {
        PrintLine(absl::StrCat(session.id(), " tokens=", session.tokens(),
                               " resident=", session.resident() ? "true" : "false"));
      }
    }
    request.set_page_token(page.next_page_token());
  } while (!request.page_token().empty());
  return command.json ? PrintJson(all) : absl::OkStatus();
}

absl::Status RunGet(const Command& command, Infmem::Stub* stub) {
  infmem::v1::GetSessionRequest request;
  request.set_session_id(command.session_id);
  grpc::ClientContext context;
  ApplyDeadline(command.timeout, &context);
  RouteBySession(command.session_id, &context);
  infmem::v1::Session session;
  RETURN_IF_ERROR(FromGrpcStatus(stub->GetSession(&context, request, &session)));
  if (command.json) return PrintJson(session);
  PrintFields(session);
  return absl::OkStatus();
}

absl::Status RunFork(const Command& command, Infmem::Stub* stub) {
  infmem::v1::ForkSessionRequest request;
  request.set_session_id(command.session_id);
  request.set_new_session_id(command.new_session_id);
  grpc::ClientContext context;
  ApplyDeadline(command.timeout, &context);
  RouteBySession(command.session_id, &context);
  infmem::v1::Session session;
  RETURN_IF_ERROR(FromGrpcStatus(stub->ForkSession(&context, request, &session)));
  return PrintSessionId(command, session);
}

absl::Status RunDelete(const Command& command, Infmem::Stub* stub) {
  infmem::v1::DeleteSessionRequest request;
  request.set_session_id(command.session_id);
  grpc::ClientContext context;
  ApplyDeadline(command.timeout, &context);
  RouteBySession(command.session_id, &context);
  infmem::v1::DeleteSessionResponse response;
  return FromGrpcStatus(stub->DeleteSession(&context, request, &response));
}

// Receives the ExportSession stream into `out`.
absl::Status ReceiveExport(const Command& command, Infmem::Stub* stub, std::ostream* out) {
  infmem::v1::ExportSessionRequest request;
  request.set_session_id(command.session_id);
  grpc::ClientContext context;
  ApplyDeadline(command.timeout, &context);
  RouteBySession(command.session_id, &context);
  std::unique_ptr<grpc::ClientReader<infmem::v1::SessionChunk>> reader =
      stub->ExportSession(&context, request);
  infmem::v1::SessionChunk chunk;
  while (reader->Read(&chunk)) {
    absl::Status written = WriteChunk(chunk, out);
    if (!written.ok()) {
      context.TryCancel();
      reader->Finish();
      return written;
    }
  }
  RETURN_IF_ERROR(FromGrpcStatus(reader->Finish()));
  out->flush();
  if (!*out) return absl::InternalError("cannot write the export file");
  return absl::OkStatus();
}

// Exports to stdout, or to a temporary file renamed to --out once the stream is complete,
// so that a failed export never leaves a truncated file under the name asked for.
absl::Status RunExport(const Command& command, Infmem::Stub* stub) {
  if (command.path == "-") {
    if (isatty(STDOUT_FILENO)) {
      return absl::FailedPreconditionError(
          "not writing an export to a terminal; use --out=FILE or a pipe");
    }
    return ReceiveExport(command, stub, &std::cout);
  }
  const std::string temp = command.path + ".partial";
  absl::Status status;
  {
    errno = 0;
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    if (!out) return OpenError(temp, "create");
    status = ReceiveExport(command, stub, &out);
    out.close();
    if (status.ok() && !out) status = absl::InternalError(absl::StrCat("cannot write ", temp));
  }
  errno = 0;
  if (status.ok() && std::rename(temp.c_str(), command.path.c_str()) != 0) {
    status = OpenError(command.path, "rename the export to");
  }
  if (!status.ok()) std::remove(temp.c_str());
  return status;
}

// Streams the chunks of `in` to ImportSession.
absl::Status SendImport(const Command& command, Infmem::Stub* stub, std::istream* in) {
  ChunkFileReader chunks(in);
  infmem::v1::ImportSessionRequest request;
  request.set_session_id(command.session_id);  // first message only
  ASSIGN_OR_RETURN(const bool any, chunks.Next(request.mutable_chunk()));
  if (!any) return absl::DataLossError("the export file holds no chunks");

  grpc::ClientContext context;
  ApplyDeadline(command.timeout, &context);
  RouteBySession(command.session_id, &context);
  infmem::v1::Session session;
  std::unique_ptr<grpc::ClientWriter<infmem::v1::ImportSessionRequest>> writer =
      stub->ImportSession(&context, &session);
  bool more = true;
  while (more) {
    // A failed Write means the server ended the call; Finish says why.
    if (!writer->Write(request)) break;
    request.Clear();
    absl::StatusOr<bool> next = chunks.Next(request.mutable_chunk());
    if (!next.ok()) {
      context.TryCancel();
      writer->Finish();
      return next.status();
    }
    more = *next;
    if (!more) writer->WritesDone();
  }
  RETURN_IF_ERROR(FromGrpcStatus(writer->Finish()));
  PrintLine(session.id());
  return absl::OkStatus();
}

absl::Status RunImport(const Command& command, Infmem::Stub* stub) {
  if (command.path == "-") return SendImport(command, stub, &std::cin);
  errno = 0;
  std::ifstream in(command.path, std::ios::binary);
  if (!in) return OpenError(command.path, "open");
  return SendImport(command, stub, &in);
}

absl::Status RunTokenize(const Command& command, Infmem::Stub* stub) {
  infmem::v1::TokenizeRequest request;
  ASSIGN_OR_RETURN(*request.mutable_text(), ReadCommandText(command));
  grpc::ClientContext context;
  ApplyDeadline(command.timeout, &context);
  RouteBySession(command.session_id, &context);
  infmem::v1::TokenizeResponse response;
  RETURN_IF_ERROR(FromGrpcStatus(stub->Tokenize(&context, request, &response)));
  PrintLine(absl::StrJoin(response.token_ids(), " "));
  return absl::OkStatus();
}

absl::Status RunDetokenize(const Command& command, Infmem::Stub* stub) {
  infmem::v1::DetokenizeRequest request;
  request.mutable_token_ids()->Add(command.token_ids.begin(), command.token_ids.end());
  grpc::ClientContext context;
  ApplyDeadline(command.timeout, &context);
  RouteBySession(command.session_id, &context);
  infmem::v1::DetokenizeResponse response;
  RETURN_IF_ERROR(FromGrpcStatus(stub->Detokenize(&context, request, &response)));
  PrintLine(response.text());
  return absl::OkStatus();
}

absl::Status RunModel(const Command& command, Infmem::Stub* stub) {
  grpc::ClientContext context;
  ApplyDeadline(command.timeout, &context);
  RouteBySession(command.session_id, &context);
  infmem::v1::Model model;
  RETURN_IF_ERROR(FromGrpcStatus(stub->GetModel(&context, infmem::v1::GetModelRequest(), &model)));
  if (command.json) return PrintJson(model);
  PrintFields(model);
  return absl::OkStatus();
}

// Calls grpc.health.v1.Health/Check for the server as a whole (service ""). Debian's gRPC
// ships no generated health messages, so the call is generic and the bytes are decoded
// here: the request {service: ""} encodes to zero bytes, and the response's field 1 is the
// status enum (0 UNKNOWN, 1 SERVING, 2 NOT_SERVING, 3 SERVICE_UNKNOWN). Sets *serving.
absl::Status RunHealth(const Command& command, bool* serving) {
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> channel, MakeChannel(command.connection));
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  ApplyDeadline(command.timeout, &context);
  RouteBySession(command.session_id, &context);
  grpc::Slice empty(std::string{});
  const grpc::ByteBuffer request(&empty, 1);
  grpc::ByteBuffer response;
  grpc::Status call_status;
  absl::Notification done;
  stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request, &response,
                 [&](grpc::Status status) {
                   call_status = std::move(status);
                   done.Notify();
                 });
  done.WaitForNotification();
  RETURN_IF_ERROR(FromGrpcStatus(call_status));

  std::vector<grpc::Slice> slices;
  RETURN_IF_ERROR(FromGrpcStatus(response.Dump(&slices)));
  std::string bytes;
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  google::protobuf::UnknownFieldSet fields;
  if (!fields.ParseFromString(bytes)) {
    return absl::InternalError("the health response does not parse");
  }
  uint64_t value = 0;  // UNKNOWN, the proto3 default
  for (int i = 0; i < fields.field_count(); ++i) {
    const google::protobuf::UnknownField& field = fields.field(i);
    if (field.number() == 1 && field.type() == google::protobuf::UnknownField::TYPE_VARINT) {
      value = field.varint();
    }
  }
  static constexpr const char* kNames[] = {"UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"};
  PrintLine(value < 4 ? kNames[value] : absl::StrCat("UNKNOWN(", value, ")"));
  *serving = value == 1;
  return absl::OkStatus();
}

absl::Status Dispatch(const Command& command, Infmem::Stub* stub) {
  switch (command.kind) {
    case CommandKind::kCreate:
      return RunCreate(command, stub);
    case CommandKind::kAppend:
      return RunAppend(command, stub);
    case CommandKind::kGenerate:
      return RunGenerate(command, stub);
    case CommandKind::kChat:
      return RunChat(command, stub);
    case CommandKind::kList:
      return RunList(command, stub);
    case CommandKind::kGet:
      return RunGet(command, stub);
    case CommandKind::kFork:
      return RunFork(command, stub);
    case CommandKind::kDelete:
      return RunDelete(command, stub);
    case CommandKind::kExport:
      return RunExport(command, stub);
    case CommandKind::kImport:
      return RunImport(command, stub);
    case CommandKind::kTokenize:
      return RunTokenize(command, stub);
    case CommandKind::kDetokenize:
      return RunDetokenize(command, stub);
    case CommandKind::kModel:
      return RunModel(command, stub);
    case CommandKind::kHealth:
    case CommandKind::kHelp:
      break;
  }
  return absl::InternalError("no such command");  // handled by RunCommand
}

}  // namespace

absl::StatusOr<std::string> ReadCommandText(const Command& command) {
  if (!command.text_from_stdin) return command.text;
  std::string text(std::istreambuf_iterator<char>(std::cin), {});
  if (std::cin.bad()) return absl::ErrnoToStatus(errno, "cannot read stdin");
  return text;
}

int RunCommand(const Command& command) {
  absl::Status status;
  if (command.kind == CommandKind::kHealth) {
    bool serving = false;
    status = RunHealth(command, &serving);
    if (status.ok()) return serving ? kExitOk : kExitNotServing;
  } else {
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = MakeChannel(command.connection);
    status = channel.status();
    if (channel.ok()) {
      std::unique_ptr<Infmem::Stub> stub = Infmem::NewStub(*channel);
      status = Dispatch(command, stub.get());
    }
  }
  std::cout.flush();
  if (!status.ok()) std::cerr << ErrorLine(status) << '\n';
  return ExitCodeFor(status);
}

}  // namespace infmem::client
