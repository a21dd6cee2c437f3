#include "server/service/session_transfer.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/common/status_macros.h"

namespace infmem::service {

ExportReactor::ExportReactor(const ServiceContext& context, Caller caller,
                             const v1::ExportSessionRequest* request)
    : context_(context), caller_(std::move(caller)), start_(absl::Now()) {
  context_.work.Schedule([this, request] {
    auto read = [&]() -> absl::StatusOr<session::SessionImage> {
      RETURN_IF_ERROR(ValidateIdField("session_id", request->session_id()));
      ASSIGN_OR_RETURN(session::SessionLease lease,
                       context_.sessions.Acquire(caller_.Key(request->session_id())));
      return context_.sessions.Export(lease);
    };
    absl::StatusOr<session::SessionImage> image = read();
    absl::MutexLock lock(&mu_);
    if (!image.ok()) return End(image.status());
    image_ = *std::move(image);
    WriteNext();
  });
}

void ExportReactor::WriteNext() {
  if (!first_ && sent_ >= image_.snapshot.size()) return End(absl::OkStatus());
  chunk_.Clear();
  if (first_) {
    ToProto(caller_, image_.info, context_.model.StateBytes(), chunk_.mutable_session());
    chunk_.mutable_pending_token_ids()->Add(image_.pending.begin(), image_.pending.end());
    first_ = false;
  }
  const size_t n = std::min(kChunkBytes, image_.snapshot.size() - sent_);
  chunk_.set_data(image_.snapshot.substr(sent_, n));
  sent_ += n;
  StartWrite(&chunk_);
}

void ExportReactor::OnWriteDone(bool ok) {
  absl::MutexLock lock(&mu_);
  if (!ok) return End(absl::CancelledError("the client stopped reading"));
  WriteNext();
}

void ExportReactor::End(const absl::Status& status) {
  Finish(Completed(context_, "ExportSession", start_, status));
}

absl::Status ImportAssembler::Add(const v1::ImportSessionRequest& message) {
  const v1::SessionChunk& chunk = message.chunk();
  if (messages_++ == 0) {
    id_field_ = message.session_id().empty() ? "chunk.session.id" : "session_id";
    image_.info.id = message.session_id().empty() ? chunk.session().id() : message.session_id();
    image_.pending.assign(chunk.pending_token_ids().begin(), chunk.pending_token_ids().end());
  } else if (!message.session_id().empty() || chunk.has_session() ||
             chunk.pending_token_ids_size() > 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "message ", messages_ - 1,
        ": only the first message may carry session_id, chunk.session or pending_token_ids"));
  }
  if (static_cast<int64_t>(image_.snapshot.size() + chunk.data().size()) > max_bytes_) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the imported state is over the limit of ", max_bytes_, " bytes"));
  }
  image_.snapshot += chunk.data();
  return absl::OkStatus();
}

absl::StatusOr<session::SessionImage> ImportAssembler::Finish() {
  if (messages_ == 0) return absl::InvalidArgumentError("no chunks: nothing to import");
  RETURN_IF_ERROR(ValidateIdField(id_field_, image_.info.id));
  if (image_.snapshot.empty()) return absl::InvalidArgumentError("the chunks hold no state");
  return std::move(image_);
}

ImportReactor::ImportReactor(const ServiceContext& context, Caller caller, v1::Session* response)
    : context_(context),
      caller_(std::move(caller)),
      response_(response),
      start_(absl::Now()),
      assembler_(context.max_import_bytes) {
  StartRead(&request_);
}

void ImportReactor::OnReadDone(bool ok) {
  if (!ok) {  // the client has sent everything
    context_.work.Schedule([this] { Import(); });
    return;
  }
  if (absl::Status added = assembler_.Add(request_); !added.ok()) return End(added);
  StartRead(&request_);
}

void ImportReactor::Import() {
  auto import = [&]() -> absl::Status {
    ASSIGN_OR_RETURN(session::SessionImage image, assembler_.Finish());
    const std::string key = caller_.Key(image.info.id);
    ASSIGN_OR_RETURN(const session::SessionInfo info,
                     context_.sessions.Import(key, std::move(image)));
    ToProto(caller_, info, context_.model.StateBytes(), response_);
    return absl::OkStatus();
  };
  End(import());
}

void ImportReactor::End(const absl::Status& status) {
  Finish(Completed(context_, "ImportSession", start_, status));
}

}  // namespace infmem::service
