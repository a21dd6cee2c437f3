// Fuzzes config.json parsing: any text either fails with an error or gives a config that
// serialises to JSON which parses back to the same JSON (a round trip without loss).
#include <cstddef>
#include <cstdint>
#include <string>

#include "server/model/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto config = infmem::model::ParseModelConfig(text);
  if (!config.ok()) return 0;
  const std::string json = infmem::model::ModelConfigToJson(*config);
  auto again = infmem::model::ParseModelConfig(json);
  if (!again.ok() || infmem::model::ModelConfigToJson(*again) != json) __builtin_trap();
  return 0;
}
