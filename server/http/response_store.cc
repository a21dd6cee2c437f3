#include "server/http/response_store.h"

#include <cstdio>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "server/common/file_io.h"
#include "server/common/status_macros.h"
#include "server/store/file_system.h"

namespace infmem::http {

absl::StatusOr<ResponseStore> ResponseStore::Open(const std::string& dir) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) {
    return absl::InternalError(absl::StrCat(dir, ": cannot create directory: ", error.message()));
  }
  return ResponseStore(dir);
}

absl::Status ResponseStore::Put(const std::string& key,
                                const nlohmann::ordered_json& record) const {
  return store::WriteFileDurably(
      store::FileSystem::Default(), Path(key),
      record.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
}

absl::StatusOr<nlohmann::ordered_json> ResponseStore::Get(const std::string& key) const {
  ASSIGN_OR_RETURN(const std::string text, ReadFile(Path(key)));
  nlohmann::ordered_json record =
      nlohmann::ordered_json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!record.is_object()) {
    return absl::DataLossError(absl::StrCat(Path(key), ": not a JSON object"));
  }
  return record;
}

absl::Status ResponseStore::Delete(const std::string& key) const {
  std::error_code error;
  if (!std::filesystem::remove(Path(key), error)) {
    if (error) return absl::InternalError(absl::StrCat(Path(key), ": ", error.message()));
    return absl::NotFoundError(absl::StrCat("no stored response '", key, "'"));
  }
  return store::FileSystem::Default().SyncDir(dir_);
}

}  // namespace infmem::http
