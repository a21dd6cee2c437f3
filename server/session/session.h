// Session: one session's live memory. The model state has consumed every token of the session
// except `pending`, the newest ones; a session always keeps at least its last token pending
// (once it has any), so a later Generate has a token to continue from and a snapshot plus the
// journal's tail restores it exactly. Owned by the SessionManager (shared_ptr); used by one
// call at a time, the holder of its SessionLease, so it has no lock of its own.
#ifndef INFMEM_SERVER_SESSION_SESSION_H_
#define INFMEM_SERVER_SESSION_SESSION_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "server/model/session_state.h"
#include "server/store/session_store.h"

namespace infmem::session {

struct Session {
  Session(store::SessionRecord record, std::unique_ptr<model::SessionState> state)
      : record(std::move(record)), state(std::move(state)) {}

  // Returns the tokens in the session: consumed by the state plus pending.
  int64_t tokens() const { return state->tokens_seen() + static_cast<int64_t>(pending.size()); }

  const store::SessionRecord record;
  std::unique_ptr<model::SessionState> state;
  std::vector<int32_t> pending;  // tokens after the state's, oldest first
  int64_t journaled_tokens = 0;  // tokens durable in the store (snapshot + journal)
  int64_t snapshot_tokens = 0;   // state tokens the store's snapshot covers
  uint64_t client_seq = 0;       // the last client sequence number applied (idempotent calls)
  // The calls the scheduler ran on the session since its tokens were last journaled, each
  // with how it fed them (journaled with them, so that a replay feeds them the same way).
  struct Call {
    int64_t tokens = 0;
    store::CallShape shape;
  };
  std::vector<Call> unjournaled_calls;
  // The generated tokens of the session's last call when it carried a client sequence number
  // (last_call_seq): a retry of that call (its answer was lost) gets them again.
  uint64_t last_call_seq = 0;
  std::vector<int32_t> last_call_generated;
};

}  // namespace infmem::session

#endif  // INFMEM_SERVER_SESSION_SESSION_H_
