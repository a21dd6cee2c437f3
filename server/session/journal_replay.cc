#include "server/session/journal_replay.h"

#include <glog/logging.h>

#include <algorithm>

#include "absl/types/span.h"
#include "server/common/status_macros.h"

namespace infmem::session {

absl::StatusOr<Replayed> ReplayJournal(const model::Model& model, model::SessionState& state,
                                       const store::JournalContents& journal) {
  const int64_t first = journal.first_index;
  const int64_t end = first + static_cast<int64_t>(journal.tokens.size());
  auto tokens = [&](int64_t begin, int64_t stop) {
    return absl::MakeConstSpan(journal.tokens)
        .subspan(static_cast<size_t>(begin - first), static_cast<size_t>(stop - begin));
  };
  Replayed out;
  int64_t at = std::max(state.tokens_seen(), first);
  for (const store::JournalCall& call : journal.calls) {
    if (call.begin < at) continue;  // covered by the snapshot, wholly or in part
    const int64_t generated = call.shape.generated;
    if (call.end > end || generated > call.end - call.begin || call.shape.prefill_chunk < 1) break;
    const absl::Span<const int32_t> added = tokens(call.begin, call.end);
    std::vector<int32_t> input = std::move(out.pending);
    out.pending.clear();
    const absl::Span<const int32_t> between = tokens(at, call.begin);
    input.insert(input.end(), between.begin(), between.end());
    input.insert(input.end(), added.begin(), added.end() - generated);
    if (input.empty()) {  // a generation with nothing to continue from: never journaled
      LOG(WARNING) << "journal call at token " << call.begin
                   << " generated from an empty session; its tokens are left pending";
      out.pending.assign(between.begin(), between.end());
      at = call.begin;
      break;
    }
    // The scheduler fed all of the input before sampling, all but its last token otherwise.
    const size_t feed_end = generated > 0 ? input.size() : input.size() - 1;
    const size_t chunk = static_cast<size_t>(call.shape.prefill_chunk);
    for (size_t fed = 0; fed < feed_end;) {
      const size_t n = std::min(chunk, feed_end - fed);
      RETURN_IF_ERROR(model.Prefill(state, absl::MakeConstSpan(input).subspan(fed, n)).status());
      fed += n;
    }
    model::SessionState* row[] = {&state};
    for (int64_t i = 0; i + 1 < generated; ++i) {
      RETURN_IF_ERROR(model.DecodeStep(row, {added[added.size() - generated + i]}).status());
    }
    out.fed += static_cast<int64_t>(feed_end) + std::max<int64_t>(generated - 1, 0);
    out.pending = {generated > 0 ? added.back() : input.back()};
    at = call.end;
  }
  const absl::Span<const int32_t> rest = tokens(at, end);
  out.pending.insert(out.pending.end(), rest.begin(), rest.end());
  return out;
}

}  // namespace infmem::session
