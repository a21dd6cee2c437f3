#include "server/session/residency.h"

namespace infmem::session {

void Residency::Touch(const std::string& id, int64_t bytes) {
  auto it = entries_.find(id);
  if (it != entries_.end()) {
    order_.splice(order_.begin(), order_, it->second.position);
    return;
  }
  order_.push_front(id);
  entries_[id] = Entry{order_.begin(), bytes, 0};
  bytes_ += bytes;
}

void Residency::Remove(const std::string& id) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  bytes_ -= it->second.bytes;
  order_.erase(it->second.position);
  entries_.erase(it);
}

void Residency::Pin(const std::string& id) {
  auto it = entries_.find(id);
  if (it != entries_.end()) ++it->second.pins;
}

void Residency::Unpin(const std::string& id) {
  auto it = entries_.find(id);
  if (it != entries_.end() && it->second.pins > 0) --it->second.pins;
}

std::vector<std::string> Residency::Victims() const {
  std::vector<std::string> victims;
  int64_t sessions = static_cast<int64_t>(order_.size()), bytes = bytes_;
  auto over = [&] {
    return (max_sessions_ > 0 && sessions > max_sessions_) ||
           (max_bytes_ > 0 && bytes > max_bytes_);
  };
  for (auto it = order_.rbegin(); it != order_.rend() && over(); ++it) {
    const Entry& e = entries_.at(*it);
    if (e.pins > 0) continue;
    victims.push_back(*it);
    --sessions;
    bytes -= e.bytes;
  }
  return victims;
}

}  // namespace infmem::session
