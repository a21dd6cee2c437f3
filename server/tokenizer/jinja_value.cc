#include "server/tokenizer/jinja_value.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace infmem::tokenizer::jinja {
namespace {

// Python's repr(float): the shortest digits that read back to `f`, in fixed notation for
// decimal exponents in [-4, 16), else scientific with a two-digit exponent.
std::string FloatRepr(double f) {
  if (std::isnan(f)) return "nan";
  if (std::isinf(f)) return f > 0 ? "inf" : "-inf";
  if (f == 0) return std::signbit(f) ? "-0.0" : "0.0";
  char buffer[40];
  int precision = 1;
  for (; precision <= 17; ++precision) {
    std::snprintf(buffer, sizeof(buffer), "%.*e", precision - 1, f);
    if (std::strtod(buffer, nullptr) == f) break;
  }
  // buffer: [-]d[.ddd]e[+-]XX
  std::string text(buffer);
  const bool negative = text[0] == '-';
  if (negative) text.erase(0, 1);
  const size_t e = text.find('e');
  const int exponent = std::atoi(text.c_str() + e + 1);
  std::string digits = text.substr(0, e);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  std::string out;
  if (exponent >= -4 && exponent < 16) {
    if (exponent < 0) {
      out = "0." + std::string(-exponent - 1, '0') + digits;
    } else if (static_cast<int>(digits.size()) <= exponent + 1) {
      out = digits + std::string(exponent + 1 - digits.size(), '0') + ".0";
    } else {
      out = digits.substr(0, exponent + 1) + "." + digits.substr(exponent + 1);
    }
  } else {
    out = digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char exp_text[24];
    std::snprintf(exp_text, sizeof(exp_text), "e%c%02d", exponent < 0 ? '-' : '+',
                  std::abs(exponent));
    out += exp_text;
  }
  return negative ? "-" + out : out;
}

// Python's repr(str).
std::string StringRepr(const std::string& s) {
  const bool has_single = s.find('\'') != std::string::npos;
  const bool has_double = s.find('"') != std::string::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  for (const char c : s) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c == quote) {
          out += '\\';
          out += c;
        } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
          char hex[8];
          std::snprintf(hex, sizeof(hex), "\\x%02x", static_cast<unsigned char>(c));
          out += hex;
        } else {
          out += c;
        }
    }
  }
  out += quote;
  return out;
}

std::string Repr(const Value& value) {
  switch (value.kind) {
    case Value::kString:
      return StringRepr(value.string);
    case Value::kList: {
      std::string out = "[";
      for (size_t i = 0; i < value.list->size(); ++i) {
        if (i > 0) out += ", ";
        out += Repr((*value.list)[i]);
      }
      return out + "]";
    }
    case Value::kDict: {
      std::string out = value.is_namespace ? "<Namespace {" : "{";
      for (size_t i = 0; i < value.dict->size(); ++i) {
        if (i > 0) out += ", ";
        out += StringRepr((*value.dict)[i].first) + ": " + Repr((*value.dict)[i].second);
      }
      return out + (value.is_namespace ? "}>" : "}");
    }
    default:
      return ToString(value);
  }
}

void JsonString(const std::string& s, std::string* out) {
  out->push_back('"');
  for (const char c : s) {
    switch (c) {
      case '"':
        *out += "\\\"";
        break;
      case '\\':
        *out += "\\\\";
        break;
      case '\n':
        *out += "\\n";
        break;
      case '\r':
        *out += "\\r";
        break;
      case '\t':
        *out += "\\t";
        break;
      case '\b':
        *out += "\\b";
        break;
      case '\f':
        *out += "\\f";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char hex[8];
          std::snprintf(hex, sizeof(hex), "\\u%04x", static_cast<unsigned char>(c));
          *out += hex;
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

absl::Status AppendJson(const Value& value, int indent, bool sort_keys, int depth,
                        std::string* out) {
  if (depth > 256) return absl::InvalidArgumentError("tojson: value nested too deeply");
  const std::string item_sep = indent >= 0 ? "," : ", ";
  const auto newline = [&](int level) {
    if (indent >= 0) *out += "\n" + std::string(static_cast<size_t>(indent * level), ' ');
  };
  switch (value.kind) {
    case Value::kUndefined:
    case Value::kNone:
      *out += "null";
      return absl::OkStatus();
    case Value::kBool:
      *out += value.boolean ? "true" : "false";
      return absl::OkStatus();
    case Value::kInt:
      *out += std::to_string(value.integer);
      return absl::OkStatus();
    case Value::kFloat:
      if (std::isnan(value.number)) {
        *out += "NaN";
      } else if (std::isinf(value.number)) {
        *out += value.number > 0 ? "Infinity" : "-Infinity";
      } else {
        *out += FloatRepr(value.number);
      }
      return absl::OkStatus();
    case Value::kString:
      JsonString(value.string, out);
      return absl::OkStatus();
    case Value::kList: {
      if (value.list->empty()) {
        *out += "[]";
        return absl::OkStatus();
      }
      *out += "[";
      for (size_t i = 0; i < value.list->size(); ++i) {
        if (i > 0) *out += item_sep;
        newline(depth + 1);
        if (absl::Status s = AppendJson((*value.list)[i], indent, sort_keys, depth + 1, out);
            !s.ok()) {
          return s;
        }
      }
      newline(depth);
      *out += "]";
      return absl::OkStatus();
    }
    case Value::kDict: {
      if (value.dict->empty()) {
        *out += "{}";
        return absl::OkStatus();
      }
      std::vector<const std::pair<std::string, Value>*> items;
      for (const auto& item : *value.dict) items.push_back(&item);
      if (sort_keys) {
        std::stable_sort(items.begin(), items.end(),
                         [](const auto* a, const auto* b) { return a->first < b->first; });
      }
      *out += "{";
      for (size_t i = 0; i < items.size(); ++i) {
        if (i > 0) *out += item_sep;
        newline(depth + 1);
        JsonString(items[i]->first, out);
        *out += ": ";
        if (absl::Status s = AppendJson(items[i]->second, indent, sort_keys, depth + 1, out);
            !s.ok()) {
          return s;
        }
      }
      newline(depth);
      *out += "}";
      return absl::OkStatus();
    }
    case Value::kFunction:
      return absl::InvalidArgumentError("tojson: a function is not JSON serializable");
  }
  return absl::OkStatus();
}

}  // namespace

Value Value::Undefined(std::string name) {
  Value v;
  v.string = std::move(name);
  return v;
}
Value Value::None() {
  Value v;
  v.kind = kNone;
  return v;
}
Value Value::Bool(bool b) {
  Value v;
  v.kind = kBool;
  v.boolean = b;
  return v;
}
Value Value::Int(int64_t i) {
  Value v;
  v.kind = kInt;
  v.integer = i;
  return v;
}
Value Value::Float(double f) {
  Value v;
  v.kind = kFloat;
  v.number = f;
  return v;
}
Value Value::Str(std::string s) {
  Value v;
  v.kind = kString;
  v.string = std::move(s);
  return v;
}
Value Value::MakeList(List items) {
  Value v;
  v.kind = kList;
  v.list = std::make_shared<List>(std::move(items));
  return v;
}
Value Value::MakeDict(Dict items) {
  Value v;
  v.kind = kDict;
  v.dict = std::make_shared<Dict>(std::move(items));
  return v;
}
Value Value::Fn(Function f) {
  Value v;
  v.kind = kFunction;
  v.function = std::make_shared<Function>(std::move(f));
  return v;
}

Value Value::FromJson(const nlohmann::ordered_json& json) {
  switch (json.type()) {
    case nlohmann::ordered_json::value_t::null:
      return None();
    case nlohmann::ordered_json::value_t::boolean:
      return Bool(json.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer:
      return Int(json.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned:
      return json.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX) ? Float(json.get<double>())
                                                                     : Int(json.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_float:
      return Float(json.get<double>());
    case nlohmann::ordered_json::value_t::string:
      return Str(json.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      List items;
      items.reserve(json.size());
      for (const auto& item : json) items.push_back(FromJson(item));
      return MakeList(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      Dict items;
      items.reserve(json.size());
      for (const auto& [key, item] : json.items()) items.emplace_back(key, FromJson(item));
      return MakeDict(std::move(items));
    }
    default:
      return None();
  }
}

const Value* Value::Find(absl::string_view key) const {
  if (kind != kDict) return nullptr;
  for (const auto& [k, v] : *dict) {
    if (k == key) return &v;
  }
  return nullptr;
}

void Value::Set(const std::string& key, Value value) {
  for (auto& [k, v] : *dict) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  dict->emplace_back(key, std::move(value));
}

bool Truthy(const Value& value) {
  switch (value.kind) {
    case Value::kUndefined:
    case Value::kNone:
      return false;
    case Value::kBool:
      return value.boolean;
    case Value::kInt:
      return value.integer != 0;
    case Value::kFloat:
      return value.number != 0;
    case Value::kString:
      return !value.string.empty();
    case Value::kList:
      return !value.list->empty();
    case Value::kDict:
      return value.is_namespace || !value.dict->empty();
    case Value::kFunction:
      return true;
  }
  return false;
}

bool Equal(const Value& a, const Value& b) {
  if (a.IsNumber() && b.IsNumber()) {
    if (a.kind != Value::kFloat && b.kind != Value::kFloat) {
      const int64_t x = a.kind == Value::kBool ? a.boolean : a.integer;
      const int64_t y = b.kind == Value::kBool ? b.boolean : b.integer;
      return x == y;
    }
    return a.AsDouble() == b.AsDouble();
  }
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Value::kUndefined:
    case Value::kNone:
      return true;
    case Value::kString:
      return a.string == b.string;
    case Value::kList:
      if (a.list->size() != b.list->size()) return false;
      for (size_t i = 0; i < a.list->size(); ++i) {
        if (!Equal((*a.list)[i], (*b.list)[i])) return false;
      }
      return true;
    case Value::kDict:
      if (a.dict->size() != b.dict->size()) return false;
      for (const auto& [key, value] : *a.dict) {
        const Value* other = b.Find(key);
        if (other == nullptr || !Equal(value, *other)) return false;
      }
      return true;
    case Value::kFunction:
      return a.function == b.function;
    default:
      return false;
  }
}

absl::StatusOr<bool> Less(const Value& a, const Value& b) {
  if (a.IsNumber() && b.IsNumber()) {
    if (a.kind != Value::kFloat && b.kind != Value::kFloat) {
      return (a.kind == Value::kBool ? a.boolean : a.integer) <
             (b.kind == Value::kBool ? b.boolean : b.integer);
    }
    return a.AsDouble() < b.AsDouble();
  }
  if (a.kind == Value::kString && b.kind == Value::kString)
    return a.string < b.string;  // code point order
  if (a.kind == Value::kList && b.kind == Value::kList) {
    for (size_t i = 0; i < a.list->size() && i < b.list->size(); ++i) {
      if (Equal((*a.list)[i], (*b.list)[i])) continue;
      return Less((*a.list)[i], (*b.list)[i]);
    }
    return a.list->size() < b.list->size();
  }
  return absl::InvalidArgumentError(absl::StrCat("'<' not supported between instances of '",
                                                 TypeName(a), "' and '", TypeName(b), "'"));
}

std::string ToString(const Value& value) {
  switch (value.kind) {
    case Value::kUndefined:
      return "";
    case Value::kNone:
      return "None";
    case Value::kBool:
      return value.boolean ? "True" : "False";
    case Value::kInt:
      return std::to_string(value.integer);
    case Value::kFloat:
      return FloatRepr(value.number);
    case Value::kString:
      return value.string;
    case Value::kFunction:
      return "<function>";
    default:
      return Repr(value);
  }
}

absl::StatusOr<std::string> ToJson(const Value& value, int indent, bool sort_keys) {
  std::string out;
  if (absl::Status s = AppendJson(value, indent, sort_keys, 0, &out); !s.ok()) return s;
  return out;
}

std::string TypeName(const Value& value) {
  switch (value.kind) {
    case Value::kUndefined:
      return "Undefined";
    case Value::kNone:
      return "NoneType";
    case Value::kBool:
      return "bool";
    case Value::kInt:
      return "int";
    case Value::kFloat:
      return "float";
    case Value::kString:
      return "str";
    case Value::kList:
      return "list";
    case Value::kDict:
      return value.is_namespace ? "Namespace" : "dict";
    case Value::kFunction:
      return "function";
  }
  return "object";
}

std::vector<std::string> CodePoints(absl::string_view text) {
  std::vector<std::string> out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    const unsigned char lead = static_cast<unsigned char>(text[pos]);
    size_t length = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
    length = std::min(length, text.size() - pos);
    out.emplace_back(text.substr(pos, length));
    pos += length;
  }
  return out;
}

}  // namespace infmem::tokenizer::jinja
