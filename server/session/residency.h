// Residency: which sessions stay in memory. Keeps the resident sessions in least-recently-used
// order with their state sizes, and names the ones to evict when a count or byte budget is
// exceeded; pinned sessions (busy in a call) are never named. The SessionManager owns one and
// calls it under its own lock: not thread-safe.
#ifndef INFMEM_SERVER_SESSION_RESIDENCY_H_
#define INFMEM_SERVER_SESSION_RESIDENCY_H_

#include <cstdint>
#include <list>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace infmem::session {

class Residency {
 public:
  // Budgets; 0 means unlimited.
  Residency(int64_t max_sessions, int64_t max_bytes)
      : max_sessions_(max_sessions), max_bytes_(max_bytes) {}

  // Records a use of `id` now, adding it with `bytes` of state if it is not resident.
  void Touch(const std::string& id, int64_t bytes);
  // Forgets `id` (evicted or deleted); pins included.
  void Remove(const std::string& id);
  // Pins `id` against eviction, or releases one pin; pins nest. `id` must be resident.
  void Pin(const std::string& id);
  void Unpin(const std::string& id);

  bool Contains(const std::string& id) const { return entries_.contains(id); }
  int64_t sessions() const { return static_cast<int64_t>(order_.size()); }
  int64_t bytes() const { return bytes_; }

  // Returns the least recently used unpinned sessions whose removal brings the set within
  // both budgets, oldest first (it removes nothing). When pinned sessions stand in the way
  // the list falls short, and the set stays over budget until they are unpinned.
  std::vector<std::string> Victims() const;

 private:
  struct Entry {
    std::list<std::string>::iterator position;  // in order_
    int64_t bytes = 0;
    int pins = 0;
  };
  const int64_t max_sessions_, max_bytes_;
  std::list<std::string> order_;  // most recently used first
  absl::flat_hash_map<std::string, Entry> entries_;
  int64_t bytes_ = 0;
};

}  // namespace infmem::session

#endif  // INFMEM_SERVER_SESSION_RESIDENCY_H_
