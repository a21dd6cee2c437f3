// JinjaValue: the values a chat template computes with, with Python's semantics where Jinja
// defers to Python (truthiness, equality, ordering, str(), slicing by code point), since
// Hugging Face renders templates with Python's jinja2. Lists and dicts are shared by
// reference, as Python objects are; dicts keep insertion order.
// Thread-safety: a value is used by one render at a time.
#ifndef INFMEM_SERVER_TOKENIZER_JINJA_VALUE_H_
#define INFMEM_SERVER_TOKENIZER_JINJA_VALUE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace infmem::tokenizer::jinja {

struct Value;
using List = std::vector<Value>;
using Dict = std::vector<std::pair<std::string, Value>>;
using KwArgs = std::vector<std::pair<std::string, Value>>;
using Function = std::function<absl::StatusOr<Value>(std::vector<Value>& args, KwArgs& kwargs)>;

struct Value {
  enum Kind { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict, kFunction };
  Kind kind = kUndefined;
  bool boolean = false;
  int64_t integer = 0;
  double number = 0;
  std::string string;                  // kString; kUndefined: the name that was missing
  std::shared_ptr<List> list;          // kList
  std::shared_ptr<Dict> dict;          // kDict
  bool is_namespace = false;           // kDict made by namespace(): attributes are assignable
  std::shared_ptr<Function> function;  // kFunction

  static Value Undefined(std::string name = "");
  static Value None();
  static Value Bool(bool b);
  static Value Int(int64_t i);
  static Value Float(double f);
  static Value Str(std::string s);
  static Value MakeList(List items = {});
  static Value MakeDict(Dict items = {});
  static Value Fn(Function f);
  static Value FromJson(const nlohmann::ordered_json& json);

  bool IsNumber() const { return kind == kInt || kind == kFloat || kind == kBool; }
  double AsDouble() const {
    return kind == kFloat ? number : static_cast<double>(kind == kBool ? boolean : integer);
  }
  // Returns the value of `key` in a dict, or nullptr.
  const Value* Find(absl::string_view key) const;
  void Set(const std::string& key, Value value);  // kDict only
};

// Python's bool(value).
bool Truthy(const Value& value);
// Python's ==.
bool Equal(const Value& a, const Value& b);
// Python's <; InvalidArgument for types Python cannot order.
absl::StatusOr<bool> Less(const Value& a, const Value& b);
// Python's str(value) (None -> "None", lists and dicts as their repr); undefined -> "".
std::string ToString(const Value& value);
// json.dumps(value, ensure_ascii=False, indent, separators, sort_keys), as Hugging Face's
// tojson filter does. indent < 0: none.
absl::StatusOr<std::string> ToJson(const Value& value, int indent, bool sort_keys);
// Python's name for the type, for error messages.
std::string TypeName(const Value& value);

// Code-point helpers for Python's string indexing and slicing.
std::vector<std::string> CodePoints(absl::string_view text);

}  // namespace infmem::tokenizer::jinja

#endif  // INFMEM_SERVER_TOKENIZER_JINJA_VALUE_H_
