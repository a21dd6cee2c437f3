// ResponseStore: the stored responses of the Responses API (/v1/responses), one JSON record
// per response in a directory, each written durably (temporary file, fsync, rename, directory
// fsync) before the response is acknowledged. A record holds what GET /v1/responses/{id} and
// its input_items return; the conversation itself lives in the response's session, which the
// SessionManager keeps (and which moves between replicas in cluster mode; the records stay on
// the replica that wrote them). Keys are SessionManager keys ("<tenant>.<id>" or "<id>"), so
// one tenant never sees another's records. The server keeps them in <session_dir>/.responses,
// a name no session id can take. Thread-safe (one file per key).
#ifndef INFMEM_SERVER_HTTP_RESPONSE_STORE_H_
#define INFMEM_SERVER_HTTP_RESPONSE_STORE_H_

#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace infmem::http {

class ResponseStore {
 public:
  // Uses (and creates) `dir`.
  static absl::StatusOr<ResponseStore> Open(const std::string& dir);

  // Writes the record of `key` durably.
  absl::Status Put(const std::string& key, const nlohmann::ordered_json& record) const;
  // Reads it: NotFound when there is none, DataLoss when it is not a JSON object.
  absl::StatusOr<nlohmann::ordered_json> Get(const std::string& key) const;
  // Removes it (durably); NotFound when there is none.
  absl::Status Delete(const std::string& key) const;

 private:
  explicit ResponseStore(std::string dir) : dir_(std::move(dir)) {}
  std::string Path(const std::string& key) const { return dir_ + "/" + key + ".json"; }

  std::string dir_;
};

}  // namespace infmem::http

#endif  // INFMEM_SERVER_HTTP_RESPONSE_STORE_H_
