#include "server/http/prefix_cache.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "glog/logging.h"
#include "server/common/hash.h"

namespace infmem::http {
namespace {

constexpr char kPrefix[] = "pc-";

// Two independent 64-bit hashes of a token prefix, extended one token at a time.
struct PrefixHash {
  uint64_t a = kFnvOffset;
  uint64_t b = MixSeed(kFnvOffset, 0x9e3779b97f4a7c15ULL);
  void Add(int32_t token) {
    a = Fnv1a64(&token, sizeof(token), a);
    b = MixSeed(b, static_cast<uint64_t>(static_cast<uint32_t>(token)));
  }
  std::string Id() const { return absl::StrFormat("%s%016x%016x", kPrefix, a, b); }
};

}  // namespace

std::string PrefixCache::Key(const service::Caller& caller, absl::Span<const int32_t> sequence) {
  PrefixHash hash;
  for (int32_t token : sequence) hash.Add(token);
  return caller.Key(hash.Id());
}

void PrefixCache::LoadNamespace(const service::Caller& caller) {
  const std::string prefix = caller.Prefix();
  {
    absl::MutexLock lock(&mu_);
    if (!loaded_.insert(prefix).second) return;
  }
  std::string after;
  bool more = true;
  while (more) {
    auto page = sessions_.List(prefix, after, 1000, &more);
    if (!page.ok() || page->empty()) break;
    absl::MutexLock lock(&mu_);
    for (const session::SessionInfo& info : *page) {
      if (absl::StartsWith(info.id, prefix + kPrefix)) last_used_.emplace(info.id, 0);
    }
    after = page->back().id;
  }
}

PrefixCache::Start PrefixCache::Begin(const service::Caller& caller,
                                      absl::Span<const int32_t> sequence, uint64_t seed,
                                      bool fresh_bos) {
  Start start;
  if (enabled()) {
    LoadNamespace(caller);
    // The keys of every prefix, longest first; the first one cached and loadable wins.
    std::vector<std::string> keys;
    PrefixHash hash;
    for (int32_t token : sequence) {
      hash.Add(token);
      keys.push_back(caller.Key(hash.Id()));
    }
    for (size_t n = keys.size(); n >= 1 && start.session == nullptr; --n) {
      {
        absl::MutexLock lock(&mu_);
        auto it = last_used_.find(keys[n - 1]);
        if (it == last_used_.end()) continue;
        it->second = ++clock_;
      }
      auto lease = sessions_.Acquire(keys[n - 1]);
      if (!lease.ok()) {  // deleted, or in use by a concurrent call: try a shorter prefix
        if (absl::IsNotFound(lease.status())) {
          absl::MutexLock lock(&mu_);
          last_used_.erase(keys[n - 1]);
        }
        continue;
      }
      const session::Session& cached = lease->session();
      if (cached.tokens() != static_cast<int64_t>(n)) continue;  // not what its name says
      start.session = std::make_unique<session::Session>(
          store::SessionRecord{"prefix", seed, absl::ToUnixMillis(absl::Now())},
          model_.Clone(*cached.state));
      start.session->pending = cached.pending;
      start.held = n;
    }
  }
  if (start.session == nullptr) {
    start.session = std::make_unique<session::Session>(
        store::SessionRecord{"prefix", seed, absl::ToUnixMillis(absl::Now())},
        model_.NewSession(seed));
    if (fresh_bos && !sequence.empty()) {
      start.session->pending.push_back(sequence[0]);
      start.held = 1;
    }
  }
  return start;
}

void PrefixCache::Put(const service::Caller& caller, absl::Span<const int32_t> sequence,
                      const session::Session& session) {
  if (!enabled() || sequence.empty()) return;
  const std::string key = Key(caller, sequence);
  {
    absl::MutexLock lock(&mu_);
    if (auto it = last_used_.find(key); it != last_used_.end()) {
      it->second = ++clock_;
      return;  // already cached
    }
  }
  session::SessionImage image;
  auto snapshot = model_.SerializeState(*session.state);
  if (!snapshot.ok()) {
    LOG(WARNING) << "prefix cache: " << snapshot.status();
    return;
  }
  image.snapshot = *std::move(snapshot);
  image.pending = session.pending;
  auto imported = sessions_.Import(key, std::move(image));
  if (!imported.ok() && !absl::IsAlreadyExists(imported.status())) {
    // A full store, say: the call still succeeds, it is only not reused.
    LOG(WARNING) << "prefix cache: " << imported.status();
    return;
  }
  {
    absl::MutexLock lock(&mu_);
    last_used_[key] = ++clock_;
  }
  EvictBeyondCapacity();
}

void PrefixCache::EvictBeyondCapacity() {
  std::vector<std::string> victims;
  {
    absl::MutexLock lock(&mu_);
    while (static_cast<int>(last_used_.size()) > capacity_) {
      auto oldest = last_used_.begin();
      for (auto it = last_used_.begin(); it != last_used_.end(); ++it) {
        if (it->second < oldest->second) oldest = it;
      }
      victims.push_back(oldest->first);
      last_used_.erase(oldest);
    }
  }
  for (const std::string& key : victims) {
    absl::Status deleted = sessions_.Delete(key);
    if (!deleted.ok() && !absl::IsNotFound(deleted)) {
      LOG(WARNING) << "prefix cache: evicting " << key << ": " << deleted;
    }
  }
}

}  // namespace infmem::http
