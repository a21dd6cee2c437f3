// PrefixCache: reuse of computed conversations across stateless calls
// (/v1/chat/completions, /v1/completions). Chat clients resend the whole history each turn;
// the cache keeps the model state of what a call computed as a durable session named after a
// hash of its tokens ("pc-<32 hex>", in the caller's namespace), and a later call whose tokens
// begin with such a sequence starts from a copy of that state instead of from nothing.
// Each call stores two states: the prompt's, and the prompt followed by the reply as the next
// call's prompt will hold it (the conversation re-rendered with the template, so a reply the
// model produced as a non-canonical tokenization still matches). Being sessions, they survive
// restarts and move between replicas; the least recently used beyond `capacity` are deleted.
// A copy of another tenant's state is never used (keys are per tenant).
// Thread-safe. Begin and Put block (session loads, snapshots): call them off small stacks
// (the work queue).
#ifndef INFMEM_SERVER_HTTP_PREFIX_CACHE_H_
#define INFMEM_SERVER_HTTP_PREFIX_CACHE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "server/model/model.h"
#include "server/service/service_context.h"
#include "server/session/session.h"
#include "server/session/session_manager.h"

namespace infmem::http {

class PrefixCache {
 public:
  // `capacity`: cached states kept (across tenants); 0 disables the cache.
  PrefixCache(session::SessionManager& sessions, const model::Model& model, int capacity)
      : sessions_(sessions), model_(model), capacity_(capacity) {}

  bool enabled() const { return capacity_ > 0; }

  struct Start {
    std::unique_ptr<session::Session> session;  // in memory, owned by the caller
    size_t held = 0;  // how many leading tokens of the sequence the session already holds
  };
  // A session for computing `sequence` (the session's whole token sequence, BOS first): a copy
  // of the longest cached prefix, or a fresh session holding only sequence[0] (its BOS) when
  // `fresh_bos` is true, nothing otherwise.
  Start Begin(const service::Caller& caller, absl::Span<const int32_t> sequence, uint64_t seed,
              bool fresh_bos);
  // Stores a copy of `session`, which holds exactly `sequence`.
  void Put(const service::Caller& caller, absl::Span<const int32_t> sequence,
           const session::Session& session);

 private:
  // The key of `sequence` in `caller`'s namespace.
  static std::string Key(const service::Caller& caller, absl::Span<const int32_t> sequence);
  // Adds the caller's stored entries to the index (once per namespace: after a restart).
  void LoadNamespace(const service::Caller& caller);
  void EvictBeyondCapacity();

  session::SessionManager& sessions_;
  const model::Model& model_;
  const int capacity_;
  absl::Mutex mu_;
  std::map<std::string, uint64_t> last_used_ ABSL_GUARDED_BY(mu_);  // key -> use counter
  std::set<std::string> loaded_ ABSL_GUARDED_BY(mu_);               // namespaces indexed
  uint64_t clock_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace infmem::http

#endif  // INFMEM_SERVER_HTTP_PREFIX_CACHE_H_
