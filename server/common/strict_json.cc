#include "server/common/strict_json.h"

#include <exception>
#include <set>
#include <vector>

namespace infmem {

std::string DescribeJson(const nlohmann::json& value) {
  using Json = nlohmann::json;
  constexpr size_t kMaxChars = 64;
  switch (value.type()) {
    case Json::value_t::array:
      return "an array";
    case Json::value_t::object:
      return "an object";
    case Json::value_t::string: {
      const auto& s = value.get_ref<const std::string&>();
      std::string shown =
          Json(s.substr(0, kMaxChars)).dump(-1, ' ', false, Json::error_handler_t::replace);
      return s.size() > kMaxChars ? shown + "..." : shown;
    }
    default:  // null, boolean, numbers: short by construction
      return value.dump();
  }
}

JsonProblem ParseStrictJson(absl::string_view text, nlohmann::json* out) {
  using Json = nlohmann::json;
  JsonProblem problem;
  if (const size_t nul = text.find('\0'); nul != absl::string_view::npos) {
    problem.kind = JsonProblem::kNulByte;
    problem.nul_offset = nul;
    return problem;
  }
  std::vector<std::set<std::string>> open_objects;
  auto callback = [&](int /*depth*/, Json::parse_event_t event, Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start:
        open_objects.emplace_back();
        break;
      case Json::parse_event_t::object_end:
        if (!open_objects.empty()) {
          open_objects.pop_back();
        }
        break;
      case Json::parse_event_t::key:
        if (problem.kind == JsonProblem::kNone && !open_objects.empty() && parsed.is_string() &&
            !open_objects.back().insert(parsed.get<std::string>()).second) {
          problem.kind = JsonProblem::kDuplicateKey;
          problem.detail = parsed.get<std::string>();
        }
        break;
      default:
        break;
    }
    return true;
  };
  try {
    *out = Json::parse(text.begin(), text.end(), callback, /*allow_exceptions=*/true);
  } catch (const std::exception& e) {
    problem.kind = JsonProblem::kSyntax;
    problem.detail = std::string(absl::string_view(e.what()).substr(0, 300));
  }
  return problem;
}

}  // namespace infmem
