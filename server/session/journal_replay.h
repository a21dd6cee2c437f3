// ReplayJournal: rebuilds a session's state from its snapshot's state and the journal's tail
// (restart, eviction, takeover after a crash). Each call recorded with its shape
// (journal.h CallShape) is fed as the scheduler fed it: its pending tokens and prompt in the
// same prefill chunks, its generated tokens one decode step each. Decode steps compute each
// session alone (model.h), so the state comes out bit for bit the one the session had, and a
// conversation's output does not depend on whether a server crashed. Tokens outside such
// calls (a session's first tokens, an import, journals written before call shapes) are left
// pending, for the next call to feed.
#ifndef INFMEM_SERVER_SESSION_JOURNAL_REPLAY_H_
#define INFMEM_SERVER_SESSION_JOURNAL_REPLAY_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "server/model/model.h"
#include "server/store/journal.h"

namespace infmem::session {

struct Replayed {
  std::vector<int32_t> pending;  // the tokens after the state's, oldest first
  int64_t fed = 0;               // journal tokens the replay fed into the state
};

// Feeds `journal`'s calls after `state`'s tokens into `state`. The journal must hold the
// tokens from the state's count on (the caller checks). An error of the model is returned
// (the state is then suspect); a call whose shape does not fit its tokens ends the replay, its
// tokens and the rest left pending.
absl::StatusOr<Replayed> ReplayJournal(const model::Model& model, model::SessionState& state,
                                       const store::JournalContents& journal);

}  // namespace infmem::session

#endif  // INFMEM_SERVER_SESSION_JOURNAL_REPLAY_H_
