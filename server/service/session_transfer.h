// ExportReactor and ImportReactor: ExportSession and ImportSession, which move a session's
// whole state (snapshot + pending tokens) as a stream of chunks, so states larger than one
// gRPC message travel. Each reactor deletes itself in OnDone. Thread-safety: gRPC callbacks
// and the WorkQueue task meet under mu_.
#ifndef INFMEM_SERVER_SERVICE_SESSION_TRANSFER_H_
#define INFMEM_SERVER_SERVICE_SESSION_TRANSFER_H_

#include <grpcpp/grpcpp.h>

#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/service/service_context.h"

namespace infmem::service {

// Bytes of state per SessionChunk.
inline constexpr size_t kChunkBytes = 1 << 20;

class ExportReactor final : public grpc::ServerWriteReactor<v1::SessionChunk> {
 public:
  ExportReactor(const ServiceContext& context, Caller caller,
                const v1::ExportSessionRequest* request);
  void OnWriteDone(bool ok) override;
  // Takes mu_ once first: the thread whose Finish led here may still be releasing it.
  void OnDone() override {
    { absl::MutexLock lock(&mu_); }
    delete this;
  }

 private:
  void WriteNext() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void End(const absl::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const ServiceContext& context_;
  const Caller caller_;
  const absl::Time start_;
  absl::Mutex mu_;
  session::SessionImage image_ ABSL_GUARDED_BY(mu_);
  size_t sent_ ABSL_GUARDED_BY(mu_) = 0;
  bool first_ ABSL_GUARDED_BY(mu_) = true;
  v1::SessionChunk chunk_ ABSL_GUARDED_BY(mu_);
};

// Reassembles an ImportSession stream into a SessionImage: the first message may carry the
// new id, the session's metadata and its pending tokens; every message a piece of the state.
// The parser of the stream, apart from gRPC so it can be fuzzed. Not thread-safe.
class ImportAssembler {
 public:
  explicit ImportAssembler(int64_t max_bytes) : max_bytes_(max_bytes) {}
  // Takes the next message. INVALID_ARGUMENT when a later message carries first-message
  // fields, RESOURCE_EXHAUSTED when the state grows over `max_bytes`.
  absl::Status Add(const v1::ImportSessionRequest& message);
  // Returns the assembled image (info.id: the id to create): INVALID_ARGUMENT for no
  // message, a bad id (naming the field it came from) or no state.
  absl::StatusOr<session::SessionImage> Finish();

 private:
  const int64_t max_bytes_;
  int64_t messages_ = 0;
  const char* id_field_ = "session_id";  // the request field the id came from
  session::SessionImage image_;
};

class ImportReactor final : public grpc::ServerReadReactor<v1::ImportSessionRequest> {
 public:
  ImportReactor(const ServiceContext& context, Caller caller, v1::Session* response);
  void OnReadDone(bool ok) override;
  void OnDone() override { delete this; }

 private:
  // Creates the session from what was read (on the WorkQueue) and finishes.
  void Import();
  void End(const absl::Status& status);

  const ServiceContext& context_;
  const Caller caller_;
  v1::Session* const response_;
  const absl::Time start_;
  v1::ImportSessionRequest request_;
  ImportAssembler assembler_;
};

}  // namespace infmem::service

#endif  // INFMEM_SERVER_SERVICE_SESSION_TRANSFER_H_
