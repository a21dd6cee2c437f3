// Journal: a session's append-only token log on disk (ARCHITECTURE.md §4). Each record holds
// the absolute index of its first token, the tokens, and a checksum over both, so recovery
// can tell a torn tail (an append cut short by a crash, never acknowledged) from corruption of
// acknowledged records.
//
// Record (little-endian): u32 magic "IMJ1" | u32 count | u64 first_index | i32 tokens[count] |
// u64 FNV-1a 64 of everything before it in the record. A call with a client sequence number
// (idempotent retries) writes its last record as "IMJ2", with u64 client_seq after
// first_index; that record alone may hold no tokens. A call whose shape is known (how the
// scheduler fed it: CallShape) writes its last record as "IMJ3": u64 client_seq (0: none),
// u64 the call's first index, u32 generated, u32 prefill_chunk after first_index; replay
// feeds such a call as it was fed, so it rebuilds the state bit for bit.
//
// JournalWriter is not thread-safe (one writer per session, under the session's lock);
// ReadJournal is a pure function of the file.
#ifndef INFMEM_SERVER_STORE_JOURNAL_H_
#define INFMEM_SERVER_STORE_JOURNAL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "server/store/file_system.h"

namespace infmem::store {

// The most tokens one record may hold (a bigger append is split into several records).
inline constexpr uint32_t kMaxJournalRecordTokens = 1u << 20;

// How the scheduler fed one call's tokens into the state: its pending tokens and prompt in
// chunks of `prefill_chunk` from the first (all of them when it generated, all but the last
// otherwise), then its generated tokens one decode step each but the last. prefill_chunk 0:
// unknown (a session's first tokens, an import, a journal from before call shapes).
struct CallShape {
  int32_t generated = 0;      // the call's last `generated` tokens were sampled
  int32_t prefill_chunk = 0;  // >= 1 when known
};

// One call recorded with its shape: its tokens are [begin, end).
struct JournalCall {
  int64_t begin = 0, end = 0;
  CallShape shape;
  uint64_t client_seq = 0;  // the call's client sequence number (0: none)
};

class JournalWriter {
 public:
  // Opens `path` for appending, creating it if missing (and then syncing its directory, so
  // that the file's entry is as durable as the bytes Sync makes durable); `valid_bytes` (from
  // ReadJournal) cuts a torn tail first. Returns an error naming the path when the file cannot
  // be opened. `fs` null: FileSystem::Default().
  static absl::StatusOr<std::unique_ptr<JournalWriter>> Open(const std::string& path,
                                                             int64_t valid_bytes,
                                                             FileSystem* fs = nullptr);
  ~JournalWriter();
  JournalWriter(const JournalWriter&) = delete;
  JournalWriter& operator=(const JournalWriter&) = delete;

  // Writes records for `tokens`, the first of which has absolute index `first_index`, and
  // `client_seq` when not 0 (then even with no tokens), and `shape` when known (then the
  // tokens are one call's, at least one). The bytes reach the page cache, not the disk: call
  // Sync before acknowledging them.
  absl::Status Append(int64_t first_index, absl::Span<const int32_t> tokens,
                      uint64_t client_seq = 0, CallShape shape = {});
  // Makes every appended byte durable (fdatasync).
  absl::Status Sync();
  // Cuts the journal back to `size` bytes (a record that could not be made durable).
  absl::Status Truncate(int64_t size);
  // Returns the bytes written so far (file size).
  int64_t size() const { return size_; }

 private:
  JournalWriter(std::string path, std::unique_ptr<AppendFile> file, int64_t size);
  std::string path_;
  std::unique_ptr<AppendFile> file_;
  int64_t size_;
};

struct JournalContents {
  int64_t first_index = 0;         // index of tokens[0] (0 when the journal is empty)
  std::vector<int32_t> tokens;     // every token of the valid records, contiguous
  uint64_t client_seq = 0;         // the highest client sequence number recorded (0: none)
  std::vector<JournalCall> calls;  // the calls recorded with their shapes, in order
  int64_t valid_bytes = 0;         // length of the valid prefix of the file
  bool torn_tail = false;          // bytes after the valid prefix were an unfinished last record
};

// Reads the journal at `path` (a missing file reads as empty). A last record that is
// incomplete or fails its checksum is a torn tail: reported and excluded. DataLoss when a bad
// record is followed by more data, or when records do not continue each other's indexes.
absl::StatusOr<JournalContents> ReadJournal(const std::string& path, FileSystem* fs = nullptr);

}  // namespace infmem::store

#endif  // INFMEM_SERVER_STORE_JOURNAL_H_
