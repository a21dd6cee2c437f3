// Blocking helpers over the C++ stub for integration tests: one line per call, with the
// status and the pieces a test compares.
#ifndef INFMEM_TESTS_TESTING_API_CALLS_H_
#define INFMEM_TESTS_TESTING_API_CALLS_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "infmem/v1/infmem.grpc.pb.h"

namespace infmem::testing {

struct Generation {
  grpc::Status status;
  std::vector<int32_t> ids;
  std::string text;
  int messages = 0;
  v1::GenerateResponse last;  // the final message (finish_reason, usage)
};

inline std::unique_ptr<grpc::ClientContext> ContextWithin(std::chrono::seconds s) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + s);
  return context;
}

// Streams a Generate call to its end. `on_message` may cancel `context` (it sees each message).
inline Generation Generate(
    v1::Infmem::Stub& stub, const v1::GenerateRequest& request,
    grpc::ClientContext* context = nullptr,
    const std::function<void(const v1::GenerateResponse&)>& on_message = nullptr) {
  std::unique_ptr<grpc::ClientContext> own;
  if (context == nullptr) {
    own = ContextWithin(std::chrono::seconds(120));
    context = own.get();
  }
  Generation g;
  auto reader = stub.Generate(context, request);
  v1::GenerateResponse message;
  while (reader->Read(&message)) {
    ++g.messages;
    g.ids.insert(g.ids.end(), message.token_ids().begin(), message.token_ids().end());
    g.text += message.text();
    g.last = message;
    if (on_message) on_message(message);
  }
  g.status = reader->Finish();
  return g;
}

// Generates `n` tokens greedily from `id` (dry_run: the session keeps nothing).
inline Generation Greedy(v1::Infmem::Stub& stub, const std::string& id, int n, bool dry_run = false,
                         const std::string& text = "") {
  v1::GenerateRequest request;
  request.set_session_id(id);
  request.set_max_tokens(n);
  request.set_dry_run(dry_run);
  request.set_text(text);
  return Generate(stub, request);
}

inline grpc::Status Create(v1::Infmem::Stub& stub, const std::string& id,
                           const std::string& text = "", v1::Session* out = nullptr) {
  v1::CreateSessionRequest request;
  request.set_session_id(id);
  request.set_text(text);
  v1::Session session;
  auto context = ContextWithin(std::chrono::seconds(60));
  return stub.CreateSession(context.get(), request, out != nullptr ? out : &session);
}

inline grpc::Status Append(v1::Infmem::Stub& stub, const std::string& id, const std::string& text,
                           v1::AppendResponse* out = nullptr) {
  v1::AppendRequest request;
  request.set_session_id(id);
  request.set_text(text);
  v1::AppendResponse response;
  auto context = ContextWithin(std::chrono::seconds(60));
  return stub.Append(context.get(), request, out != nullptr ? out : &response);
}

inline grpc::Status Get(v1::Infmem::Stub& stub, const std::string& id, v1::Session* out) {
  v1::GetSessionRequest request;
  request.set_session_id(id);
  auto context = ContextWithin(std::chrono::seconds(60));
  return stub.GetSession(context.get(), request, out);
}

// Waits until session `id` is free again after a call the client cancelled (the server
// finishes such a call a step later): probes with a one-token dry run, which leaves nothing.
inline void WaitUntilFree(v1::Infmem::Stub& stub, const std::string& id) {
  for (int i = 0; i < 500; ++i) {
    if (Greedy(stub, id, 1, /*dry_run=*/true).status.error_code() != grpc::ABORTED) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// Returns the server's model (a call that needs no session: the server is up).
inline grpc::Status Ping(v1::Infmem::Stub& stub) {
  v1::Model model;
  auto context = ContextWithin(std::chrono::seconds(30));
  return stub.GetModel(context.get(), v1::GetModelRequest(), &model);
}

}  // namespace infmem::testing

#endif  // INFMEM_TESTS_TESTING_API_CALLS_H_
