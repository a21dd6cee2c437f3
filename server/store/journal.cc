#include "server/store/journal.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "server/common/hash.h"
#include "server/common/status_macros.h"

namespace infmem::store {
namespace {

constexpr uint32_t kMagic = 0x314a4d49;      // "IMJ1" read as little-endian
constexpr uint32_t kSeqMagic = 0x324a4d49;   // "IMJ2": an IMJ1 record with a client sequence
constexpr size_t kHeaderBytes = 16;          // magic, count, first_index
constexpr uint32_t kCallMagic = 0x334a4d49;  // "IMJ3": a call's last record, with its shape
constexpr size_t kSeqBytes = 8;              // IMJ2's client_seq, after the header
constexpr size_t kCallBytes = 24;            // IMJ3's client_seq, call begin, generated, chunk
constexpr size_t kChecksumBytes = 8;

template <typename T>
void Put(std::string& out, T value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof(value));
}

template <typename T>
T Get(const char* p) {
  T value;
  std::memcpy(&value, p, sizeof(value));
  return value;
}

}  // namespace

JournalWriter::JournalWriter(std::string path, std::unique_ptr<AppendFile> file, int64_t size)
    : path_(std::move(path)), file_(std::move(file)), size_(size) {}

JournalWriter::~JournalWriter() = default;

absl::StatusOr<std::unique_ptr<JournalWriter>> JournalWriter::Open(const std::string& path,
                                                                   int64_t valid_bytes,
                                                                   FileSystem* fs) {
  FileSystem& files = fs != nullptr ? *fs : FileSystem::Default();
  bool created = false;
  ASSIGN_OR_RETURN(std::unique_ptr<AppendFile> file, files.OpenAppend(path, &created));
  if (created) RETURN_IF_ERROR(files.SyncDir(ParentDir(path)));
  const int64_t end = file->Size();
  if (end > valid_bytes) {
    if (absl::Status cut = file->Truncate(valid_bytes); !cut.ok()) {
      return absl::InternalError(
          absl::StrCat("cutting the torn tail of ", path, ": ", cut.message()));
    }
  }
  const int64_t size = std::min<int64_t>(end, valid_bytes);
  return std::unique_ptr<JournalWriter>(new JournalWriter(path, std::move(file), size));
}

absl::Status JournalWriter::Append(int64_t first_index, absl::Span<const int32_t> tokens,
                                   uint64_t client_seq, CallShape shape) {
  const bool with_shape = shape.prefill_chunk > 0 && !tokens.empty();
  if (with_shape && (shape.generated < 0 || static_cast<size_t>(shape.generated) > tokens.size())) {
    return absl::InternalError(absl::StrCat("a call of ", tokens.size(), " tokens cannot have ",
                                            shape.generated, " generated"));
  }
  std::string buf;
  // The sequence number and the shape ride on the call's last record (one with no tokens when
  // the call added none), so they are durable exactly when the call's tokens are.
  for (size_t done = 0; done < tokens.size() || (client_seq != 0 && buf.empty());) {
    const uint32_t count =
        static_cast<uint32_t>(std::min<size_t>(kMaxJournalRecordTokens, tokens.size() - done));
    const bool last = done + count == tokens.size();
    const bool with_call = last && with_shape;
    const bool with_seq = last && client_seq != 0 && !with_call;
    const size_t start = buf.size();
    Put<uint32_t>(buf, with_call ? kCallMagic : with_seq ? kSeqMagic : kMagic);
    Put<uint32_t>(buf, count);
    Put<int64_t>(buf, first_index + static_cast<int64_t>(done));
    if (with_seq) Put<uint64_t>(buf, client_seq);
    if (with_call) {
      Put<uint64_t>(buf, client_seq);
      Put<int64_t>(buf, first_index);
      Put<uint32_t>(buf, static_cast<uint32_t>(shape.generated));
      Put<uint32_t>(buf, static_cast<uint32_t>(shape.prefill_chunk));
    }
    buf.append(reinterpret_cast<const char*>(tokens.data() + done), count * sizeof(int32_t));
    Put<uint64_t>(buf, Fnv1a64(buf.data() + start, buf.size() - start));
    done += count;
  }
  if (absl::Status written = file_->Append(buf); !written.ok()) {
    // Leave no partial record behind a later append: cut back to the last whole record.
    if (absl::Status cut = file_->Truncate(size_); !cut.ok()) {
      return absl::InternalError(absl::StrCat("restoring journal ", path_, " after \"",
                                              written.message(), "\": ", cut.message()));
    }
    return written;
  }
  size_ += static_cast<int64_t>(buf.size());
  return absl::OkStatus();
}

absl::Status JournalWriter::Sync() { return file_->Sync(); }

absl::Status JournalWriter::Truncate(int64_t size) {
  RETURN_IF_ERROR(file_->Truncate(size));
  size_ = size;
  return absl::OkStatus();
}

absl::StatusOr<JournalContents> ReadJournal(const std::string& path, FileSystem* fs) {
  FileSystem& files = fs != nullptr ? *fs : FileSystem::Default();
  JournalContents out;
  absl::StatusOr<std::string> read = files.ReadFile(path);
  if (absl::IsNotFound(read.status())) return out;  // a missing journal reads as empty
  ASSIGN_OR_RETURN(const std::string data, std::move(read));
  auto corrupt = [&](size_t offset, absl::string_view why) {
    return absl::DataLossError(
        absl::StrCat("journal ", path, " is corrupt at byte ", offset, ": ", why));
  };
  size_t pos = 0;
  int64_t next_index = -1;
  while (pos < data.size()) {
    const size_t left = data.size() - pos;
    if (left < kHeaderBytes) {
      out.torn_tail = true;  // a header cut short
      break;
    }
    const uint32_t magic = Get<uint32_t>(data.data() + pos);
    const uint32_t count = Get<uint32_t>(data.data() + pos + 4);
    const int64_t first = Get<int64_t>(data.data() + pos + 8);
    if (magic != kMagic && magic != kSeqMagic && magic != kCallMagic) {
      // A crash can leave the file extended over bytes that were never written (zeros).
      if (std::all_of(data.begin() + static_cast<std::ptrdiff_t>(pos), data.end(),
                      [](char c) { return c == 0; })) {
        out.torn_tail = true;
        break;
      }
      return corrupt(pos, "bad record magic");
    }
    const bool with_seq = magic == kSeqMagic;
    const bool with_call = magic == kCallMagic;
    // Only a record carrying a sequence number may hold no tokens.
    if ((count == 0 && !with_seq) || count > kMaxJournalRecordTokens) {
      return corrupt(pos, "bad token count");
    }
    if (first < 0) return corrupt(pos, "negative token index");
    const size_t head = kHeaderBytes + (with_seq ? kSeqBytes : 0) + (with_call ? kCallBytes : 0);
    const size_t record = head + count * sizeof(int32_t) + kChecksumBytes;
    if (record > left) {
      out.torn_tail = true;
      break;
    }
    const uint64_t want = Get<uint64_t>(data.data() + pos + record - kChecksumBytes);
    if (Fnv1a64(data.data() + pos, record - kChecksumBytes) != want) {
      if (record == left) {
        out.torn_tail = true;
        break;
      }
      return corrupt(pos, "checksum mismatch");
    }
    if (next_index >= 0 && first != next_index) {
      return corrupt(pos,
                     absl::StrCat("record starts at token ", first, ", expected ", next_index));
    }
    if (next_index < 0) out.first_index = first;
    if (with_seq || with_call) {
      out.client_seq = std::max(out.client_seq, Get<uint64_t>(data.data() + pos + kHeaderBytes));
    }
    if (with_call) {
      JournalCall call;
      call.begin = Get<int64_t>(data.data() + pos + kHeaderBytes + 8);
      call.end = first + count;
      call.client_seq = Get<uint64_t>(data.data() + pos + kHeaderBytes);
      call.shape.generated =
          static_cast<int32_t>(Get<uint32_t>(data.data() + pos + kHeaderBytes + 16));
      call.shape.prefill_chunk =
          static_cast<int32_t>(Get<uint32_t>(data.data() + pos + kHeaderBytes + 20));
      // The call began in this record or an earlier one of this journal, after the last call.
      const int64_t floor =
          out.calls.empty() ? (next_index < 0 ? first : out.first_index) : out.calls.back().end;
      if (call.begin < floor || call.begin > first || call.shape.generated < 0 ||
          call.shape.generated > call.end - call.begin || call.shape.prefill_chunk < 1) {
        return corrupt(pos, "bad call shape");
      }
      out.calls.push_back(call);
    }
    const size_t old = out.tokens.size();
    out.tokens.resize(old + count);
    std::memcpy(out.tokens.data() + old, data.data() + pos + head, count * sizeof(int32_t));
    next_index = first + count;
    pos += record;
  }
  out.valid_bytes = static_cast<int64_t>(pos);
  return out;
}

}  // namespace infmem::store
