// SessionState: the per-session memory of MODEL.md §6 (per layer: LTM coefficients and
// their keys/values, the STM keys/values, the pending normalised inputs, the sticky
// histogram; plus the token count, the seed and the LTM update count). Created by
// Model::NewSession / DeserializeState / Clone and only meaningful with that model.
// Thread-compatible: one user at a time.
#ifndef INFMEM_SERVER_MODEL_SESSION_STATE_H_
#define INFMEM_SERVER_MODEL_SESSION_STATE_H_

#include <cstdint>
#include <memory>

namespace infmem::model {

class SessionState {
 public:
  struct Impl;

  explicit SessionState(std::unique_ptr<Impl> impl);
  ~SessionState();
  SessionState(const SessionState&) = delete;
  SessionState& operator=(const SessionState&) = delete;

  // Returns how many tokens the session has consumed.
  int64_t tokens_seen() const;
  uint64_t seed() const;
  // Returns how many LTM updates have been applied.
  int64_t ltm_updates() const;
  // Returns the bytes held by the state's tensors.
  int64_t ByteSize() const;

  Impl& impl() { return *impl_; }
  const Impl& impl() const { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace infmem::model

#endif  // INFMEM_SERVER_MODEL_SESSION_STATE_H_
