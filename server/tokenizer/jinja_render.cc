// Renders a parsed Jinja template with jinja2's semantics as Hugging Face configures it.
//
// Scopes: a for loop and a macro call open a scope; `set` writes to the innermost one, so
// (as in jinja2) a variable set inside a loop is gone after it; namespace() objects carry
// state out. Undefined values render as "", iterate as empty and are false; using one in
// arithmetic, or taking an attribute of one, is an error, as with jinja2's default Undefined.
//
// Filters: abs capitalize count d default dictsort e escape first float indent int items join
//   last length list lower map max min reject rejectattr replace reverse round safe select
//   selectattr sort string sum title tojson trim unique upper.
// Tests: boolean callable defined divisibleby eq equalto even false float ge gt in integer
//   iterable le lower lt mapping ne none number odd sameas sequence string true undefined upper.
// Methods: str.capitalize count endswith find join lower lstrip replace rfind rsplit rstrip
//   split startswith strip title upper; dict.get items keys values.
// Globals: dict namespace range raise_exception strftime_now.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <ctime>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/common/status_macros.h"
#include "server/tokenizer/jinja_ast.h"
#include "server/tokenizer/jinja_template.h"
#include "server/tokenizer/unicode_text.h"

namespace infmem::tokenizer {
namespace jinja {
namespace {

absl::Status RenderError(int line, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("template line ", line, ": ", what));
}

// Marks a raise_exception() so that it surfaces with its own message.
constexpr absl::string_view kRaisedPrefix = "raise_exception: ";

bool IsPySpace(char32_t c) { return IsWhitespace(c) || (c >= 0x1C && c <= 0x1F); }

char32_t Decode(const std::string& utf8) {
  const unsigned char lead = static_cast<unsigned char>(utf8[0]);
  if (lead < 0x80) return lead;
  char32_t c = lead < 0xE0 ? (lead & 0x1F) : lead < 0xF0 ? (lead & 0x0F) : (lead & 0x07);
  for (size_t i = 1; i < utf8.size(); ++i)
    c = (c << 6) | (static_cast<unsigned char>(utf8[i]) & 0x3F);
  return c;
}

// Python's str.strip/lstrip/rstrip: `chars` null strips whitespace.
std::string Strip(const std::string& text, const std::string* chars, bool left, bool right) {
  const std::vector<std::string> points = CodePoints(text);
  std::vector<std::string> set;
  if (chars != nullptr) set = CodePoints(*chars);
  const auto strip = [&](const std::string& c) {
    if (chars == nullptr) return IsPySpace(Decode(c));
    return std::find(set.begin(), set.end(), c) != set.end();
  };
  size_t begin = 0, end = points.size();
  if (left) {
    while (begin < end && strip(points[begin])) ++begin;
  }
  if (right) {
    while (end > begin && strip(points[end - 1])) --end;
  }
  std::string out;
  for (size_t i = begin; i < end; ++i) out += points[i];
  return out;
}

std::string Capitalize(const std::string& text) {
  std::vector<std::string> points = CodePoints(text);
  if (points.empty()) return "";
  std::string out = Uppercase(points[0]);
  std::string rest;
  for (size_t i = 1; i < points.size(); ++i) rest += points[i];
  return out + Lowercase(rest);
}

std::string Title(const std::string& text) {
  std::string out;
  bool previous_cased = false;
  for (const std::string& c : CodePoints(text)) {
    const char32_t code = Decode(c);
    const bool cased = IsAlphanumeric(code) && !(code >= '0' && code <= '9');
    out += cased ? (previous_cased ? Lowercase(c) : Uppercase(c)) : c;
    previous_cased = cased;
  }
  return out;
}

// Python's index normalization for item access; false when out of range.
bool NormalizeIndex(int64_t* index, size_t size) {
  if (*index < 0) *index += static_cast<int64_t>(size);
  return *index >= 0 && *index < static_cast<int64_t>(size);
}

// Python's slice indices over `size` items.
std::vector<size_t> SliceIndices(size_t size, const Value* start, const Value* stop,
                                 const Value* step) {
  const int64_t n = static_cast<int64_t>(size);
  const int64_t s = step != nullptr ? step->integer : 1;
  std::vector<size_t> out;
  if (s == 0) return out;
  const auto clamp = [&](const Value* v, int64_t fallback) -> int64_t {
    if (v == nullptr) return fallback;
    int64_t i = v->integer;
    if (i < 0) i += n;
    if (s > 0) return std::clamp<int64_t>(i, 0, n);
    return std::clamp<int64_t>(i, -1, n - 1);
  };
  const int64_t begin = clamp(start, s > 0 ? 0 : n - 1);
  const int64_t end = clamp(stop, s > 0 ? n : -1);
  for (int64_t i = begin; s > 0 ? i < end : i > end; i += s) out.push_back(static_cast<size_t>(i));
  return out;
}

// Items a for loop or a filter iterates over: list items, dict keys, string characters.
absl::StatusOr<List> Iterate(const Value& value, int line) {
  switch (value.kind) {
    case Value::kUndefined:
      return List();
    case Value::kList:
      return *value.list;
    case Value::kDict: {
      List keys;
      for (const auto& item : *value.dict) keys.push_back(Value::Str(item.first));
      return keys;
    }
    case Value::kString: {
      List chars;
      for (std::string& c : CodePoints(value.string)) chars.push_back(Value::Str(std::move(c)));
      return chars;
    }
    default:
      return RenderError(line, absl::StrCat("'", TypeName(value), "' object is not iterable"));
  }
}

const Value* Arg(std::vector<Value>& args, KwArgs& kwargs, size_t index, absl::string_view name) {
  if (index < args.size()) return &args[index];
  for (auto& [key, value] : kwargs) {
    if (key == name) return &value;
  }
  return nullptr;
}

// The value of an attribute by name (dict key, or item of `value` when it is a dict); used by
// map/selectattr/sort/join with `attribute=`. Dotted paths walk nested dicts.
Value GetPath(const Value& value, const std::string& path) {
  Value current = value;
  for (absl::string_view part : absl::StrSplit(path, '.')) {
    const Value* next = current.Find(part);
    if (next == nullptr) return Value::Undefined(std::string(part));
    current = *next;
  }
  return current;
}

class Renderer {
 public:
  Renderer(const JinjaTemplate::RenderOptions& options) : options_(options) {}

  absl::StatusOr<std::string> Run(const Node& root, const nlohmann::ordered_json& variables) {
    scopes_.emplace_back();
    InstallGlobals();
    if (variables.is_object()) {
      for (const auto& [key, value] : variables.items())
        scopes_.back()[key] = Value::FromJson(value);
    }
    std::string out;
    RETURN_IF_ERROR(Exec(root.body, &out));
    return out;
  }

 private:
  using Scope = absl::flat_hash_map<std::string, Value>;

  void InstallGlobals() {
    Scope& globals = scopes_.back();
    globals["raise_exception"] =
        Value::Fn([](std::vector<Value>& args, KwArgs&) -> absl::StatusOr<Value> {
          return absl::FailedPreconditionError(
              absl::StrCat(kRaisedPrefix, args.empty() ? "" : ToString(args[0])));
        });
    globals["strftime_now"] =
        Value::Fn([this](std::vector<Value>& args, KwArgs&) -> absl::StatusOr<Value> {
          if (args.empty() || args[0].kind != Value::kString) {
            return absl::InvalidArgumentError("strftime_now() needs a format string");
          }
          const std::time_t seconds = absl::ToTimeT(options_.now());
          std::tm tm{};
          gmtime_r(&seconds, &tm);
          char buffer[256];
          const size_t n = std::strftime(buffer, sizeof(buffer), args[0].string.c_str(), &tm);
          return Value::Str(std::string(buffer, n));
        });
    globals["range"] = Value::Fn([](std::vector<Value>& args, KwArgs&) -> absl::StatusOr<Value> {
      int64_t start = 0, stop = 0, step = 1;
      for (const Value& a : args) {
        if (a.kind != Value::kInt) return absl::InvalidArgumentError("range() takes integers");
      }
      if (args.size() == 1) {
        stop = args[0].integer;
      } else if (args.size() >= 2) {
        start = args[0].integer;
        stop = args[1].integer;
        if (args.size() >= 3) step = args[2].integer;
      }
      if (step == 0 || args.empty() || args.size() > 3)
        return absl::InvalidArgumentError("bad range() arguments");
      List items;
      for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
        if (items.size() >= 1'000'000) return absl::InvalidArgumentError("range() too long");
        items.push_back(Value::Int(i));
      }
      return Value::MakeList(std::move(items));
    });
    globals["namespace"] =
        Value::Fn([](std::vector<Value>& args, KwArgs& kwargs) -> absl::StatusOr<Value> {
          Value ns = Value::MakeDict();
          ns.is_namespace = true;
          for (const Value& a : args) {
            if (a.kind == Value::kDict) {
              for (const auto& [k, v] : *a.dict) ns.Set(k, v);
            }
          }
          for (auto& [k, v] : kwargs) ns.Set(k, v);
          return ns;
        });
    globals["dict"] = Value::Fn([](std::vector<Value>&, KwArgs& kwargs) -> absl::StatusOr<Value> {
      Value d = Value::MakeDict();
      for (auto& [k, v] : kwargs) d.Set(k, v);
      return d;
    });
  }

  absl::Status Step(int line) {
    if (++steps_ > options_.max_steps) return RenderError(line, "the template ran too long");
    return absl::OkStatus();
  }

  Value Lookup(const std::string& name) const {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
      const auto found = it->find(name);
      if (found != it->end()) return found->second;
    }
    return Value::Undefined(name);
  }

  absl::Status Append(const std::string& text, std::string* out, int line) {
    out->append(text);
    if (out->size() > static_cast<size_t>(options_.max_output_bytes)) {
      return RenderError(line, absl::StrCat("output over ", options_.max_output_bytes, " bytes"));
    }
    return absl::OkStatus();
  }

  absl::Status Exec(const Body& body, std::string* out) {
    for (const NodePtr& node : body) {
      RETURN_IF_ERROR(ExecNode(*node, out));
      if (flow_ != kNormal) return absl::OkStatus();
    }
    return absl::OkStatus();
  }

  absl::Status Assign(const std::vector<std::string>& targets, const Value& value, int line) {
    if (targets.size() == 1) {
      scopes_.back()[targets[0]] = value;
      return absl::OkStatus();
    }
    ASSIGN_OR_RETURN(const List items, Iterate(value, line));
    if (items.size() != targets.size()) {
      return RenderError(
          line, absl::StrCat("cannot unpack ", items.size(), " values into ", targets.size()));
    }
    for (size_t i = 0; i < targets.size(); ++i) scopes_.back()[targets[i]] = items[i];
    return absl::OkStatus();
  }

  absl::Status ExecNode(const Node& node, std::string* out) {
    switch (node.kind) {
      case Node::kRoot:
        return Exec(node.body, out);
      case Node::kText:
        return Append(node.text, out, node.line);
      case Node::kOutput: {
        ASSIGN_OR_RETURN(const Value value, Eval(*node.expr));
        return Append(ToString(value), out, node.line);
      }
      case Node::kIf:
        for (const auto& [condition, body] : node.branches) {
          ASSIGN_OR_RETURN(const Value test, Eval(*condition));
          if (Truthy(test)) return Exec(body, out);
        }
        return Exec(node.else_body, out);
      case Node::kFor:
        return ExecFor(node, out);
      case Node::kSet: {
        ASSIGN_OR_RETURN(const Value value, Eval(*node.expr));
        if (node.attribute.empty()) return Assign(node.targets, value, node.line);
        Value target = Lookup(node.targets[0]);
        if (target.kind != Value::kDict || !target.is_namespace) {
          return RenderError(node.line,
                             absl::StrCat("cannot assign attribute on non-namespace object '",
                                          node.targets[0], "'"));
        }
        target.Set(node.attribute, value);
        return absl::OkStatus();
      }
      case Node::kSetBlock: {
        std::string text;
        RETURN_IF_ERROR(Exec(node.body, &text));
        scopes_.back()[node.targets[0]] = Value::Str(std::move(text));
        return absl::OkStatus();
      }
      case Node::kMacro:
        scopes_.back()[node.name] = MakeMacro(node);
        return absl::OkStatus();
      case Node::kBreak:
      case Node::kContinue:
        if (loop_depth_ == 0) return RenderError(node.line, "break or continue outside a loop");
        flow_ = node.kind == Node::kBreak ? kBreak : kContinue;
        return absl::OkStatus();
      case Node::kFilterBlock: {
        std::string text;
        RETURN_IF_ERROR(Exec(node.body, &text));
        ASSIGN_OR_RETURN(const Value value, ApplyFilter(*node.expr, Value::Str(std::move(text))));
        return Append(ToString(value), out, node.line);
      }
      case Node::kGeneration:
        return Exec(node.body, out);
    }
    return absl::OkStatus();
  }

  absl::Status ExecFor(const Node& node, std::string* out) {
    ASSIGN_OR_RETURN(const Value iterable, Eval(*node.expr));
    ASSIGN_OR_RETURN(List items, Iterate(iterable, node.line));
    scopes_.emplace_back();
    if (node.filter != nullptr) {
      List kept;
      for (const Value& item : items) {
        RETURN_IF_ERROR(Assign(node.targets, item, node.line));
        ASSIGN_OR_RETURN(const Value keep, Eval(*node.filter));
        if (Truthy(keep)) kept.push_back(item);
      }
      items = std::move(kept);
    }
    ++loop_depth_;
    const int64_t n = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < n; ++i) {
      RETURN_IF_ERROR(Step(node.line));
      Value loop = Value::MakeDict();
      loop.Set("index0", Value::Int(i));
      loop.Set("index", Value::Int(i + 1));
      loop.Set("revindex0", Value::Int(n - i - 1));
      loop.Set("revindex", Value::Int(n - i));
      loop.Set("first", Value::Bool(i == 0));
      loop.Set("last", Value::Bool(i == n - 1));
      loop.Set("length", Value::Int(n));
      loop.Set("depth", Value::Int(1));
      loop.Set("depth0", Value::Int(0));
      loop.Set("previtem", i > 0 ? items[i - 1] : Value::Undefined("previtem"));
      loop.Set("nextitem", i + 1 < n ? items[i + 1] : Value::Undefined("nextitem"));
      loop.Set("cycle", Value::Fn([i](std::vector<Value>& args, KwArgs&) -> absl::StatusOr<Value> {
                 if (args.empty())
                   return absl::InvalidArgumentError("loop.cycle() needs arguments");
                 return args[static_cast<size_t>(i) % args.size()];
               }));
      scopes_.back()["loop"] = loop;
      RETURN_IF_ERROR(Assign(node.targets, items[i], node.line));
      RETURN_IF_ERROR(Exec(node.body, out));
      if (flow_ == kBreak) {
        flow_ = kNormal;
        break;
      }
      flow_ = kNormal;
    }
    --loop_depth_;
    scopes_.pop_back();
    if (n == 0) return Exec(node.else_body, out);
    return absl::OkStatus();
  }

  Value MakeMacro(const Node& node) {
    const Node* macro = &node;
    return Value::Fn(
        [this, macro](std::vector<Value>& args, KwArgs& kwargs) -> absl::StatusOr<Value> {
          RETURN_IF_ERROR(Step(macro->line));
          if (++call_depth_ > 64) return RenderError(macro->line, "macros nested too deeply");
          // A macro sees the template's globals and its arguments, not the caller's locals.
          std::vector<Scope> saved;
          saved.swap(scopes_);
          scopes_.push_back(saved.front());
          scopes_.emplace_back();
          absl::Status status;
          for (size_t i = 0; i < macro->params.size() && status.ok(); ++i) {
            const auto& [name, fallback] = macro->params[i];
            const Value* given = Arg(args, kwargs, i, name);
            if (given != nullptr) {
              scopes_.back()[name] = *given;
            } else if (fallback != nullptr) {
              auto value = Eval(*fallback);
              if (!value.ok())
                status = value.status();
              else
                scopes_.back()[name] = *value;
            } else {
              scopes_.back()[name] = Value::Undefined(name);
            }
          }
          std::string text;
          const int saved_loops = loop_depth_;
          loop_depth_ = 0;
          if (status.ok()) status = Exec(macro->body, &text);
          loop_depth_ = saved_loops;
          flow_ = kNormal;
          scopes_.swap(saved);
          --call_depth_;
          if (!status.ok()) return status;
          return Value::Str(std::move(text));
        });
  }

  absl::StatusOr<Value> Eval(const Expr& e) {
    switch (e.kind) {
      case Expr::kLiteral:
        return e.literal;
      case Expr::kName:
        return Lookup(e.name);
      case Expr::kAttr: {
        ASSIGN_OR_RETURN(const Value object, Eval(*e.args[0]));
        return GetAttr(object, e.name, e.line);
      }
      case Expr::kItem: {
        ASSIGN_OR_RETURN(const Value object, Eval(*e.args[0]));
        ASSIGN_OR_RETURN(const Value key, Eval(*e.args[1]));
        return GetItem(object, key, e.line);
      }
      case Expr::kSlice:
        return EvalSlice(e);
      case Expr::kCall: {
        ASSIGN_OR_RETURN(const Value callee, Eval(*e.args[0]));
        if (callee.kind != Value::kFunction) {
          return RenderError(e.line,
                             callee.kind == Value::kUndefined
                                 ? absl::StrCat("'", callee.string, "' is undefined")
                                 : absl::StrCat("'", TypeName(callee), "' object is not callable"));
        }
        std::vector<Value> args;
        KwArgs kwargs;
        RETURN_IF_ERROR(EvalArguments(e, &args, &kwargs));
        auto result = (*callee.function)(args, kwargs);
        if (!result.ok() && result.status().code() == absl::StatusCode::kInvalidArgument &&
            !absl::StartsWith(result.status().message(), "template line")) {
          return RenderError(e.line, result.status().message());
        }
        return result;
      }
      case Expr::kFilter: {
        ASSIGN_OR_RETURN(const Value value, Eval(*e.args[0]));
        return ApplyFilter(e, value);
      }
      case Expr::kTest: {
        ASSIGN_OR_RETURN(const bool result, ApplyTest(e));
        return Value::Bool(result != e.negated);
      }
      case Expr::kNot: {
        ASSIGN_OR_RETURN(const Value value, Eval(*e.args[0]));
        return Value::Bool(!Truthy(value));
      }
      case Expr::kNeg: {
        ASSIGN_OR_RETURN(const Value value, Eval(*e.args[0]));
        if (value.kind == Value::kInt) return Value::Int(-value.integer);
        if (value.kind == Value::kFloat) return Value::Float(-value.number);
        return RenderError(e.line,
                           absl::StrCat("bad operand type for unary -: '", TypeName(value), "'"));
      }
      case Expr::kAnd: {
        ASSIGN_OR_RETURN(const Value left, Eval(*e.args[0]));
        if (!Truthy(left)) return left;
        return Eval(*e.args[1]);
      }
      case Expr::kOr: {
        ASSIGN_OR_RETURN(const Value left, Eval(*e.args[0]));
        if (Truthy(left)) return left;
        return Eval(*e.args[1]);
      }
      case Expr::kCond: {
        ASSIGN_OR_RETURN(const Value test, Eval(*e.args[1]));
        if (Truthy(test)) return Eval(*e.args[0]);
        if (e.args[2] == nullptr) return Value::Undefined();
        return Eval(*e.args[2]);
      }
      case Expr::kList: {
        List items;
        for (const ExprPtr& item : e.args) {
          ASSIGN_OR_RETURN(Value v, Eval(*item));
          items.push_back(std::move(v));
        }
        return Value::MakeList(std::move(items));
      }
      case Expr::kDict: {
        Value dict = Value::MakeDict();
        for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
          ASSIGN_OR_RETURN(const Value key, Eval(*e.args[i]));
          ASSIGN_OR_RETURN(Value value, Eval(*e.args[i + 1]));
          if (key.kind != Value::kString) return RenderError(e.line, "dict keys must be strings");
          dict.Set(key.string, std::move(value));
        }
        return dict;
      }
      case Expr::kBinary:
        return EvalBinary(e);
    }
    return RenderError(e.line, "unknown expression");
  }

  absl::StatusOr<Value> EvalSlice(const Expr& e) {
    ASSIGN_OR_RETURN(const Value object, Eval(*e.args[0]));
    Value parts[3];
    const Value* pointers[3] = {nullptr, nullptr, nullptr};
    for (int i = 0; i < 3; ++i) {
      if (e.args[i + 1] == nullptr) continue;
      ASSIGN_OR_RETURN(parts[i], Eval(*e.args[i + 1]));
      if (parts[i].kind == Value::kNone) continue;
      if (parts[i].kind != Value::kInt)
        return RenderError(e.line, "slice indices must be integers");
      pointers[i] = &parts[i];
    }
    if (pointers[2] != nullptr && pointers[2]->integer == 0)
      return RenderError(e.line, "slice step cannot be zero");
    if (object.kind == Value::kList) {
      List out;
      for (size_t i : SliceIndices(object.list->size(), pointers[0], pointers[1], pointers[2])) {
        out.push_back((*object.list)[i]);
      }
      return Value::MakeList(std::move(out));
    }
    if (object.kind == Value::kString) {
      const std::vector<std::string> points = CodePoints(object.string);
      std::string out;
      for (size_t i : SliceIndices(points.size(), pointers[0], pointers[1], pointers[2]))
        out += points[i];
      return Value::Str(std::move(out));
    }
    if (object.kind == Value::kUndefined)
      return RenderError(e.line, absl::StrCat("'", object.string, "' is undefined"));
    return RenderError(e.line,
                       absl::StrCat("'", TypeName(object), "' object is not subscriptable"));
  }

  absl::StatusOr<Value> GetItem(const Value& object, const Value& key, int line) {
    switch (object.kind) {
      case Value::kList:
        if (key.kind == Value::kInt) {
          int64_t index = key.integer;
          if (!NormalizeIndex(&index, object.list->size())) return Value::Undefined("item");
          return (*object.list)[static_cast<size_t>(index)];
        }
        break;
      case Value::kString:
        if (key.kind == Value::kInt) {
          const std::vector<std::string> points = CodePoints(object.string);
          int64_t index = key.integer;
          if (!NormalizeIndex(&index, points.size())) return Value::Undefined("item");
          return Value::Str(points[static_cast<size_t>(index)]);
        }
        break;
      case Value::kDict:
        if (key.kind == Value::kString) {
          const Value* found = object.Find(key.string);
          if (found != nullptr) return *found;
          return GetAttr(object, key.string, line);
        }
        return Value::Undefined("item");
      case Value::kUndefined:
        return RenderError(line, absl::StrCat("'", object.string.empty() ? "value" : object.string,
                                              "' is undefined"));
      default:
        break;
    }
    if (key.kind == Value::kString) return GetAttr(object, key.string, line);
    return Value::Undefined("item");
  }

  absl::StatusOr<Value> GetAttr(const Value& object, const std::string& name, int line) {
    if (object.kind == Value::kUndefined) {
      return RenderError(line, absl::StrCat("'", object.string.empty() ? "value" : object.string,
                                            "' is undefined (reading its attribute '", name, "')"));
    }
    if (object.kind == Value::kDict) {
      if (!object.is_namespace &&
          (name == "get" || name == "items" || name == "keys" || name == "values")) {
        return DictMethod(object, name);
      }
      const Value* found = object.Find(name);
      if (found != nullptr) return *found;
      return Value::Undefined(name);
    }
    if (object.kind == Value::kString) return StringMethod(object.string, name, line);
    if (object.kind == Value::kList) {
      if (name == "append" || name == "pop" || name == "insert" || name == "extend" ||
          name == "remove" || name == "clear" || name == "sort" || name == "reverse") {
        return RenderError(line,
                           absl::StrCat("access to attribute '", name,
                                        "' of 'list' object is unsafe (lists are immutable here)"));
      }
    }
    return Value::Undefined(name);
  }

  Value DictMethod(const Value& object, const std::string& name) {
    const Value dict = object;
    return Value::Fn(
        [dict, name](std::vector<Value>& args, KwArgs& kwargs) -> absl::StatusOr<Value> {
          if (name == "get") {
            const Value* key = Arg(args, kwargs, 0, "key");
            if (key == nullptr) return absl::InvalidArgumentError("get() needs a key");
            const Value* found = key->kind == Value::kString ? dict.Find(key->string) : nullptr;
            if (found != nullptr) return *found;
            const Value* fallback = Arg(args, kwargs, 1, "default");
            return fallback != nullptr ? *fallback : Value::None();
          }
          List out;
          for (const auto& [k, v] : *dict.dict) {
            if (name == "keys")
              out.push_back(Value::Str(k));
            else if (name == "values")
              out.push_back(v);
            else
              out.push_back(Value::MakeList({Value::Str(k), v}));
          }
          return Value::MakeList(std::move(out));
        });
  }

  absl::StatusOr<Value> StringMethod(const std::string& s, const std::string& name, int line) {
    static const absl::string_view kMethods[] = {
        "strip",   "lstrip", "rstrip",  "split",   "rsplit",     "startswith", "endswith",
        "replace", "upper",  "lower",   "title",   "capitalize", "find",       "rfind",
        "count",   "join",   "isdigit", "isalpha", "isspace",    "isupper",    "islower"};
    if (std::find(std::begin(kMethods), std::end(kMethods), name) == std::end(kMethods)) {
      return Value::Undefined(name);
    }
    (void)line;
    return Value::Fn([s, name](std::vector<Value>& args, KwArgs& kwargs) -> absl::StatusOr<Value> {
      const auto string_arg = [&](size_t i, absl::string_view key) -> const std::string* {
        const Value* v = Arg(args, kwargs, i, key);
        return v != nullptr && v->kind == Value::kString ? &v->string : nullptr;
      };
      if (name == "strip" || name == "lstrip" || name == "rstrip") {
        const Value* chars = Arg(args, kwargs, 0, "chars");
        if (chars != nullptr && chars->kind != Value::kString && chars->kind != Value::kNone) {
          return absl::InvalidArgumentError(absl::StrCat(name, " arg must be None or str"));
        }
        const std::string* set =
            chars != nullptr && chars->kind == Value::kString ? &chars->string : nullptr;
        return Value::Str(Strip(s, set, name != "rstrip", name != "lstrip"));
      }
      if (name == "split" || name == "rsplit") {
        const Value* sep = Arg(args, kwargs, 0, "sep");
        const Value* max = Arg(args, kwargs, 1, "maxsplit");
        int64_t maxsplit = max != nullptr && max->kind == Value::kInt ? max->integer : -1;
        List parts;
        if (sep == nullptr || sep->kind == Value::kNone) {
          std::vector<std::string> words;
          std::string current;
          bool in_word = false;
          const std::vector<std::string> points = CodePoints(s);
          for (size_t i = 0; i < points.size(); ++i) {
            if (IsPySpace(Decode(points[i])) &&
                (maxsplit < 0 || static_cast<int64_t>(words.size()) < maxsplit || !in_word)) {
              if (in_word) words.push_back(current);
              current.clear();
              in_word = false;
            } else {
              current += points[i];
              in_word = true;
            }
          }
          if (in_word) words.push_back(Strip(current, nullptr, false, true));
          for (std::string& w : words) parts.push_back(Value::Str(std::move(w)));
          return Value::MakeList(std::move(parts));
        }
        if (sep->kind != Value::kString)
          return absl::InvalidArgumentError("split() separator must be a string");
        if (sep->string.empty()) return absl::InvalidArgumentError("empty separator");
        std::vector<std::string> pieces = absl::StrSplit(s, sep->string);
        if (maxsplit >= 0 && static_cast<int64_t>(pieces.size()) > maxsplit + 1) {
          if (name == "split") {
            std::vector<std::string> rest(pieces.begin() + maxsplit, pieces.end());
            pieces.resize(static_cast<size_t>(maxsplit));
            pieces.push_back(absl::StrJoin(rest, sep->string));
          } else {
            const size_t keep = pieces.size() - static_cast<size_t>(maxsplit);
            std::vector<std::string> head(pieces.begin(), pieces.begin() + keep);
            std::vector<std::string> tail(pieces.begin() + keep, pieces.end());
            pieces = {absl::StrJoin(head, sep->string)};
            pieces.insert(pieces.end(), tail.begin(), tail.end());
          }
        }
        for (std::string& p : pieces) parts.push_back(Value::Str(std::move(p)));
        return Value::MakeList(std::move(parts));
      }
      if (name == "startswith" || name == "endswith") {
        const Value* prefix = Arg(args, kwargs, 0, "prefix");
        if (prefix == nullptr)
          return absl::InvalidArgumentError(absl::StrCat(name, "() needs an argument"));
        List options;
        if (prefix->kind == Value::kList)
          options = *prefix->list;
        else
          options.push_back(*prefix);
        for (const Value& option : options) {
          if (option.kind != Value::kString)
            return absl::InvalidArgumentError(absl::StrCat(name, "() takes strings"));
          if (name == "startswith" ? absl::StartsWith(s, option.string)
                                   : absl::EndsWith(s, option.string)) {
            return Value::Bool(true);
          }
        }
        return Value::Bool(false);
      }
      if (name == "replace") {
        const std::string* from = string_arg(0, "old");
        const std::string* to = string_arg(1, "new");
        if (from == nullptr || to == nullptr)
          return absl::InvalidArgumentError("replace() takes two strings");
        const Value* count = Arg(args, kwargs, 2, "count");
        int64_t limit = count != nullptr && count->kind == Value::kInt ? count->integer : -1;
        if (from->empty()) {
          if (limit < 0) {
            std::string out = *to;
            for (const std::string& c : CodePoints(s)) out += c + *to;
            return Value::Str(out);
          }
        }
        std::string out;
        size_t pos = 0;
        int64_t done = 0;
        while (!from->empty() && (limit < 0 || done < limit)) {
          const size_t found = s.find(*from, pos);
          if (found == std::string::npos) break;
          out += s.substr(pos, found - pos) + *to;
          pos = found + from->size();
          ++done;
        }
        return Value::Str(out + s.substr(pos));
      }
      if (name == "upper") return Value::Str(Uppercase(s));
      if (name == "lower") return Value::Str(Lowercase(s));
      if (name == "title") return Value::Str(Title(s));
      if (name == "capitalize") return Value::Str(Capitalize(s));
      if (name == "find" || name == "rfind" || name == "count") {
        const std::string* needle = string_arg(0, "sub");
        if (needle == nullptr)
          return absl::InvalidArgumentError(absl::StrCat(name, "() needs a string"));
        if (name == "count") {
          if (needle->empty()) return Value::Int(static_cast<int64_t>(CodePoints(s).size()) + 1);
          int64_t n = 0;
          for (size_t pos = s.find(*needle); pos != std::string::npos;
               pos = s.find(*needle, pos + needle->size()))
            ++n;
          return Value::Int(n);
        }
        const size_t pos = name == "find" ? s.find(*needle) : s.rfind(*needle);
        if (pos == std::string::npos) return Value::Int(-1);
        return Value::Int(static_cast<int64_t>(CodePoints(s.substr(0, pos)).size()));
      }
      if (name == "join") {
        const Value* items = Arg(args, kwargs, 0, "iterable");
        if (items == nullptr) return absl::InvalidArgumentError("join() needs an iterable");
        auto list = Iterate(*items, 0);
        if (!list.ok()) return list.status();
        std::vector<std::string> parts;
        for (const Value& v : *list) {
          if (v.kind != Value::kString) return absl::InvalidArgumentError("join() takes strings");
          parts.push_back(v.string);
        }
        return Value::Str(absl::StrJoin(parts, s));
      }
      // The is* predicates over code points.
      const std::vector<std::string> points = CodePoints(s);
      if (points.empty()) return Value::Bool(false);
      bool all = true;
      for (const std::string& c : points) {
        const char32_t code = Decode(c);
        if (name == "isdigit")
          all = all && code >= '0' && code <= '9';
        else if (name == "isspace")
          all = all && IsPySpace(code);
        else if (name == "isalpha")
          all = all && IsAlphanumeric(code) && !(code >= '0' && code <= '9');
        else if (name == "isupper")
          all = all && Uppercase(c) == c && Lowercase(c) != c;
        else if (name == "islower")
          all = all && Lowercase(c) == c && Uppercase(c) != c;
      }
      return Value::Bool(all);
    });
  }

  absl::StatusOr<Value> EvalBinary(const Expr& e) {
    ASSIGN_OR_RETURN(const Value a, Eval(*e.args[0]));
    ASSIGN_OR_RETURN(const Value b, Eval(*e.args[1]));
    const std::string& op = e.name;
    if (op == "==") return Value::Bool(Equal(a, b));
    if (op == "!=") return Value::Bool(!Equal(a, b));
    if (op == "~") return Value::Str(ToString(a) + ToString(b));
    if (op == "in" || op == "not in") {
      bool found = false;
      if (b.kind == Value::kString) {
        if (a.kind != Value::kString)
          return RenderError(e.line, "'in <string>' requires string as left operand");
        found = b.string.find(a.string) != std::string::npos;
      } else if (b.kind == Value::kList) {
        for (const Value& item : *b.list) found = found || Equal(item, a);
      } else if (b.kind == Value::kDict) {
        found = a.kind == Value::kString && b.Find(a.string) != nullptr;
      } else if (b.kind == Value::kUndefined) {
        found = false;
      } else {
        return RenderError(e.line,
                           absl::StrCat("argument of type '", TypeName(b), "' is not iterable"));
      }
      return Value::Bool(found != (op == "not in"));
    }
    if (op == "<" || op == ">" || op == "<=" || op == ">=") {
      const bool swap = op == ">" || op == "<=";
      auto less = Less(swap ? b : a, swap ? a : b);
      if (!less.ok()) return RenderError(e.line, less.status().message());
      return Value::Bool((op == "<" || op == ">") ? *less : !*less);
    }
    for (const Value* v : {&a, &b}) {
      if (v->kind == Value::kUndefined) {
        return RenderError(
            e.line, absl::StrCat("'", v->string.empty() ? "value" : v->string, "' is undefined"));
      }
    }
    if (op == "+") {
      if (a.kind == Value::kString && b.kind == Value::kString)
        return Value::Str(a.string + b.string);
      if (a.kind == Value::kList && b.kind == Value::kList) {
        List out = *a.list;
        out.insert(out.end(), b.list->begin(), b.list->end());
        return Value::MakeList(std::move(out));
      }
    }
    if (op == "*" && ((a.kind == Value::kString && b.kind == Value::kInt) ||
                      (a.kind == Value::kInt && b.kind == Value::kString))) {
      const std::string& text = a.kind == Value::kString ? a.string : b.string;
      const int64_t times = a.kind == Value::kInt ? a.integer : b.integer;
      if (times > 0 && text.size() * static_cast<size_t>(times) >
                           static_cast<size_t>(options_.max_output_bytes)) {
        return RenderError(e.line, "string repetition too large");
      }
      std::string out;
      for (int64_t i = 0; i < times; ++i) out += text;
      return Value::Str(out);
    }
    if (!a.IsNumber() || !b.IsNumber()) {
      return RenderError(e.line, absl::StrCat("unsupported operand type(s) for ", op, ": '",
                                              TypeName(a), "' and '", TypeName(b), "'"));
    }
    const bool integers = a.kind != Value::kFloat && b.kind != Value::kFloat;
    const int64_t x = a.kind == Value::kBool ? a.boolean : a.integer;
    const int64_t y = b.kind == Value::kBool ? b.boolean : b.integer;
    const double fx = a.AsDouble(), fy = b.AsDouble();
    if (op == "+") return integers ? Value::Int(x + y) : Value::Float(fx + fy);
    if (op == "-") return integers ? Value::Int(x - y) : Value::Float(fx - fy);
    if (op == "*") return integers ? Value::Int(x * y) : Value::Float(fx * fy);
    if (op == "/") {
      if (fy == 0) return RenderError(e.line, "division by zero");
      return Value::Float(fx / fy);
    }
    if (op == "//" || op == "%") {
      if (integers ? y == 0 : fy == 0)
        return RenderError(e.line, "integer division or modulo by zero");
      if (integers) {
        int64_t q = x / y, r = x % y;
        if (r != 0 && ((r < 0) != (y < 0))) {
          --q;
          r += y;
        }
        return Value::Int(op == "//" ? q : r);
      }
      const double q = std::floor(fx / fy);
      return Value::Float(op == "//" ? q : fx - q * fy);
    }
    if (op == "**") {
      if (integers && y >= 0) {
        int64_t result = 1;
        for (int64_t i = 0; i < y && i < 64; ++i) result *= x;
        return Value::Int(result);
      }
      return Value::Float(std::pow(fx, fy));
    }
    return RenderError(e.line, absl::StrCat("unknown operator ", op));
  }

  absl::StatusOr<bool> ApplyTest(const Expr& e) {
    ASSIGN_OR_RETURN(const Value v, Eval(*e.args[0]));
    std::vector<Value> args;
    for (size_t i = 1; i < e.args.size(); ++i) {
      ASSIGN_OR_RETURN(Value a, Eval(*e.args[i]));
      args.push_back(std::move(a));
    }
    const std::string& t = e.name;
    const auto need_arg = [&]() -> absl::Status {
      if (args.empty())
        return RenderError(e.line, absl::StrCat("test '", t, "' needs an argument"));
      return absl::OkStatus();
    };
    if (t == "defined") return v.kind != Value::kUndefined;
    if (t == "undefined") return v.kind == Value::kUndefined;
    if (t == "none") return v.kind == Value::kNone;
    if (t == "boolean") return v.kind == Value::kBool;
    if (t == "true") return v.kind == Value::kBool && v.boolean;
    if (t == "false") return v.kind == Value::kBool && !v.boolean;
    if (t == "integer") return v.kind == Value::kInt;
    if (t == "float") return v.kind == Value::kFloat;
    if (t == "number")
      return v.kind == Value::kInt || v.kind == Value::kFloat || v.kind == Value::kBool;
    if (t == "string") return v.kind == Value::kString;
    if (t == "mapping") return v.kind == Value::kDict;
    if (t == "iterable")
      return v.kind == Value::kList || v.kind == Value::kDict || v.kind == Value::kString ||
             v.kind == Value::kUndefined;
    if (t == "sequence")
      return v.kind == Value::kList || v.kind == Value::kDict || v.kind == Value::kString;
    if (t == "callable") return v.kind == Value::kFunction;
    if (t == "odd" || t == "even") {
      if (v.kind != Value::kInt)
        return RenderError(e.line, absl::StrCat("test '", t, "' needs an integer"));
      return (v.integer % 2 != 0) == (t == "odd");
    }
    if (t == "divisibleby") {
      RETURN_IF_ERROR(need_arg());
      if (v.kind != Value::kInt || args[0].kind != Value::kInt || args[0].integer == 0) {
        return RenderError(e.line, "divisibleby needs non-zero integers");
      }
      return v.integer % args[0].integer == 0;
    }
    if (t == "lower" || t == "upper") {
      if (v.kind != Value::kString) return false;
      return t == "lower" ? Lowercase(v.string) == v.string : Uppercase(v.string) == v.string;
    }
    if (t == "eq" || t == "equalto" || t == "==" || t == "sameas") {
      RETURN_IF_ERROR(need_arg());
      if (t == "sameas" && v.kind != args[0].kind) return false;
      return Equal(v, args[0]);
    }
    if (t == "ne" || t == "!=") {
      RETURN_IF_ERROR(need_arg());
      return !Equal(v, args[0]);
    }
    if (t == "lt" || t == "gt" || t == "le" || t == "ge" || t == "lessthan" || t == "greaterthan") {
      RETURN_IF_ERROR(need_arg());
      const bool swap = t == "gt" || t == "greaterthan" || t == "le";
      auto less = Less(swap ? args[0] : v, swap ? v : args[0]);
      if (!less.ok()) return RenderError(e.line, less.status().message());
      return (t == "lt" || t == "gt" || t == "lessthan" || t == "greaterthan") ? *less : !*less;
    }
    if (t == "in") {
      RETURN_IF_ERROR(need_arg());
      const Value& c = args[0];
      if (c.kind == Value::kString)
        return v.kind == Value::kString && c.string.find(v.string) != std::string::npos;
      if (c.kind == Value::kList) {
        for (const Value& item : *c.list) {
          if (Equal(item, v)) return true;
        }
        return false;
      }
      if (c.kind == Value::kDict) return v.kind == Value::kString && c.Find(v.string) != nullptr;
      return false;
    }
    return RenderError(e.line, absl::StrCat("unknown test '", t, "'"));
  }

  // Evaluates the arguments of a call or filter: e.args[1..] and e.kwargs.
  absl::Status EvalArguments(const Expr& e, std::vector<Value>* args, KwArgs* kwargs) {
    for (size_t i = 1; i < e.args.size(); ++i) {
      ASSIGN_OR_RETURN(Value a, Eval(*e.args[i]));
      args->push_back(std::move(a));
    }
    for (const auto& [name, expr] : e.kwargs) {
      ASSIGN_OR_RETURN(Value a, Eval(*expr));
      kwargs->emplace_back(name, std::move(a));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<Value> ApplyFilter(const Expr& e, Value v) {
    std::vector<Value> args;
    KwArgs kwargs;
    RETURN_IF_ERROR(EvalArguments(e, &args, &kwargs));
    return CallFilter(e.name, std::move(v), args, kwargs, e.line);
  }

  absl::StatusOr<Value> CallFilter(const std::string& f, Value v, std::vector<Value>& args,
                                   KwArgs& kwargs, int line) {
    const auto arg = [&](size_t i, absl::string_view name) { return Arg(args, kwargs, i, name); };
    if (f == "safe") return v;
    if (f == "default" || f == "d") {
      const Value* fallback = arg(0, "default_value");
      const Value* boolean = arg(1, "boolean");
      const bool use =
          v.kind == Value::kUndefined || (boolean != nullptr && Truthy(*boolean) && !Truthy(v));
      if (use) return fallback != nullptr ? *fallback : Value::Str("");
      return v;
    }
    if (f == "string") return Value::Str(ToString(v));
    if (f == "tojson") {
      const Value* indent = arg(0, "indent");
      const Value* sort = arg(1, "sort_keys");
      const int width = indent != nullptr && indent->kind == Value::kInt
                            ? static_cast<int>(std::clamp<int64_t>(indent->integer, 0, 64))
                            : -1;
      auto json = ToJson(v, width, sort != nullptr && Truthy(*sort));
      if (!json.ok()) return RenderError(line, json.status().message());
      return Value::Str(*json);
    }
    if (v.kind == Value::kUndefined && f != "length" && f != "count" && f != "list") {
      return RenderError(line, absl::StrCat("'", v.string.empty() ? "value" : v.string,
                                            "' is undefined (filter '", f, "')"));
    }
    if (f == "trim") {
      const Value* chars = arg(0, "chars");
      const std::string text = ToString(v);
      return Value::Str(
          Strip(text, chars != nullptr && chars->kind == Value::kString ? &chars->string : nullptr,
                true, true));
    }
    if (f == "upper") return Value::Str(Uppercase(ToString(v)));
    if (f == "lower") return Value::Str(Lowercase(ToString(v)));
    if (f == "title") return Value::Str(Title(ToString(v)));
    if (f == "capitalize") return Value::Str(Capitalize(ToString(v)));
    if (f == "length" || f == "count") {
      switch (v.kind) {
        case Value::kUndefined:
          return Value::Int(0);
        case Value::kString:
          return Value::Int(static_cast<int64_t>(CodePoints(v.string).size()));
        case Value::kList:
          return Value::Int(static_cast<int64_t>(v.list->size()));
        case Value::kDict:
          return Value::Int(static_cast<int64_t>(v.dict->size()));
        default:
          return RenderError(line, absl::StrCat("object of type '", TypeName(v), "' has no len()"));
      }
    }
    if (f == "escape" || f == "e") {
      return Value::Str(absl::StrReplaceAll(
          ToString(v),
          {{"&", "&amp;"}, {"<", "&lt;"}, {">", "&gt;"}, {"\"", "&#34;"}, {"'", "&#39;"}}));
    }
    if (f == "int") {
      if (v.kind == Value::kInt) return v;
      if (v.kind == Value::kFloat) return Value::Int(static_cast<int64_t>(v.number));
      if (v.kind == Value::kBool) return Value::Int(v.boolean);
      int64_t parsed = 0;
      if (v.kind == Value::kString &&
          absl::SimpleAtoi(Strip(v.string, nullptr, true, true), &parsed))
        return Value::Int(parsed);
      const Value* fallback = arg(0, "default");
      return fallback != nullptr ? *fallback : Value::Int(0);
    }
    if (f == "float") {
      if (v.IsNumber()) return Value::Float(v.AsDouble());
      double parsed = 0;
      if (v.kind == Value::kString &&
          absl::SimpleAtod(Strip(v.string, nullptr, true, true), &parsed))
        return Value::Float(parsed);
      const Value* fallback = arg(0, "default");
      return fallback != nullptr ? *fallback : Value::Float(0);
    }
    if (f == "abs") {
      if (v.kind == Value::kInt) return Value::Int(v.integer < 0 ? -v.integer : v.integer);
      if (v.kind == Value::kFloat) return Value::Float(std::fabs(v.number));
      return RenderError(line, "abs needs a number");
    }
    if (f == "round") {
      const Value* precision = arg(0, "precision");
      const int digits = precision != nullptr && precision->kind == Value::kInt
                             ? static_cast<int>(precision->integer)
                             : 0;
      const double scale = std::pow(10.0, digits);
      return Value::Float(std::round(v.AsDouble() * scale) / scale);
    }
    if (f == "replace") {
      if (args.size() < 2 || args[0].kind != Value::kString || args[1].kind != Value::kString) {
        return RenderError(line, "replace needs two strings");
      }
      ASSIGN_OR_RETURN(Value method, StringMethod(ToString(v), "replace", line));
      return (*method.function)(args, kwargs);
    }
    if (f == "indent") {
      const Value* width_arg = arg(0, "width");
      const Value* first_arg = arg(1, "first");
      const Value* blank_arg = arg(2, "blank");
      const std::string pad =
          width_arg != nullptr && width_arg->kind == Value::kString
              ? width_arg->string
              : std::string(
                    width_arg != nullptr && width_arg->kind == Value::kInt
                        ? static_cast<size_t>(std::clamp<int64_t>(width_arg->integer, 0, 256))
                        : 4,
                    ' ');
      const bool first = first_arg != nullptr && Truthy(*first_arg);
      const bool blank = blank_arg != nullptr && Truthy(*blank_arg);
      std::vector<std::string> lines = absl::StrSplit(ToString(v), '\n');
      std::string out;
      for (size_t i = 0; i < lines.size(); ++i) {
        if (i > 0) out += "\n";
        if ((i > 0 || first) && (blank || !lines[i].empty())) out += pad;
        out += lines[i];
      }
      return Value::Str(out);
    }
    // Filters over sequences.
    static const absl::string_view kSequenceFilters[] = {
        "list", "first", "last", "reverse", "join",   "items",  "dictsort",   "unique",    "sum",
        "min",  "max",   "sort", "map",     "select", "reject", "selectattr", "rejectattr"};
    if (std::find(std::begin(kSequenceFilters), std::end(kSequenceFilters), f) ==
        std::end(kSequenceFilters)) {
      return RenderError(line, absl::StrCat("unknown filter '", f, "'"));
    }
    ASSIGN_OR_RETURN(List items, Iterate(v, line));
    if (f == "list") return Value::MakeList(std::move(items));
    if (f == "first") return items.empty() ? Value::Undefined("first") : items.front();
    if (f == "last") return items.empty() ? Value::Undefined("last") : items.back();
    if (f == "reverse") {
      std::reverse(items.begin(), items.end());
      if (v.kind == Value::kString) {
        std::string out;
        for (const Value& c : items) out += c.string;
        return Value::Str(out);
      }
      return Value::MakeList(std::move(items));
    }
    if (f == "join") {
      const Value* separator = arg(0, "d");
      const Value* attribute = arg(1, "attribute");
      std::vector<std::string> parts;
      for (const Value& item : items) {
        parts.push_back(
            ToString(attribute != nullptr ? GetPath(item, ToString(*attribute)) : item));
      }
      return Value::Str(absl::StrJoin(parts, separator != nullptr ? ToString(*separator) : ""));
    }
    if (f == "items") {
      if (v.kind != Value::kDict) return RenderError(line, "items needs a mapping");
      return (*DictMethod(v, "items").function)(args, kwargs);
    }
    if (f == "dictsort") {
      if (v.kind != Value::kDict) return RenderError(line, "dictsort needs a mapping");
      Dict sorted = *v.dict;
      std::stable_sort(sorted.begin(), sorted.end(),
                       [](const auto& a, const auto& b) { return a.first < b.first; });
      List out;
      for (auto& [k, value] : sorted) out.push_back(Value::MakeList({Value::Str(k), value}));
      return Value::MakeList(std::move(out));
    }
    if (f == "unique") {
      List out;
      for (const Value& item : items) {
        bool seen = false;
        for (const Value& kept : out) seen = seen || Equal(kept, item);
        if (!seen) out.push_back(item);
      }
      return Value::MakeList(std::move(out));
    }
    if (f == "sum") {
      Value total = Value::Int(0);
      const Value* attribute = arg(0, "attribute");
      for (const Value& item : items) {
        const Value x = attribute != nullptr ? GetPath(item, ToString(*attribute)) : item;
        if (!x.IsNumber()) return RenderError(line, "sum needs numbers");
        total = (total.kind == Value::kInt && x.kind != Value::kFloat)
                    ? Value::Int(total.integer + (x.kind == Value::kBool ? x.boolean : x.integer))
                    : Value::Float(total.AsDouble() + x.AsDouble());
      }
      return total;
    }
    if (f == "min" || f == "max" || f == "sort") {
      const Value* attribute = arg(f == "sort" ? 2 : 1, "attribute");
      const Value* reverse = f == "sort" ? arg(0, "reverse") : nullptr;
      const auto key = [&](const Value& item) {
        return attribute != nullptr ? GetPath(item, ToString(*attribute)) : item;
      };
      absl::Status error;
      std::stable_sort(items.begin(), items.end(), [&](const Value& a, const Value& b) {
        auto less = Less(key(a), key(b));
        if (!less.ok()) {
          error = less.status();
          return false;
        }
        return *less;
      });
      if (!error.ok()) return RenderError(line, error.message());
      if (f == "sort") {
        if (reverse != nullptr && Truthy(*reverse)) std::reverse(items.begin(), items.end());
        return Value::MakeList(std::move(items));
      }
      if (items.empty()) return Value::Undefined(f);
      return f == "min" ? items.front() : items.back();
    }
    if (f == "map") {
      const Value* attribute = Arg(args, kwargs, static_cast<size_t>(-1), "attribute");
      List out;
      if (attribute != nullptr) {
        for (const Value& item : items) out.push_back(GetPath(item, ToString(*attribute)));
        return Value::MakeList(std::move(out));
      }
      if (args.empty() || args[0].kind != Value::kString)
        return RenderError(line, "map needs a filter name or attribute=");
      const std::string filter = args[0].string;
      std::vector<Value> rest(args.begin() + 1, args.end());
      for (const Value& item : items) {
        std::vector<Value> call_args = rest;
        KwArgs call_kwargs = kwargs;
        ASSIGN_OR_RETURN(Value mapped, CallFilter(filter, item, call_args, call_kwargs, line));
        out.push_back(std::move(mapped));
      }
      return Value::MakeList(std::move(out));
    }
    if (f == "select" || f == "reject" || f == "selectattr" || f == "rejectattr") {
      const bool by_attribute = f == "selectattr" || f == "rejectattr";
      const bool keep_matches = f == "select" || f == "selectattr";
      size_t next = 0;
      std::string attribute;
      if (by_attribute) {
        if (args.empty()) return RenderError(line, absl::StrCat(f, " needs an attribute"));
        attribute = ToString(args[next++]);
      }
      std::string test = next < args.size() ? ToString(args[next++]) : "";
      List out;
      for (const Value& item : items) {
        const Value subject = by_attribute ? GetPath(item, attribute) : item;
        bool pass = Truthy(subject);
        if (!test.empty()) {
          auto test_expr = std::make_shared<Expr>();
          test_expr->kind = Expr::kTest;
          test_expr->name = test;
          test_expr->line = line;
          auto subject_expr = std::make_shared<Expr>();
          subject_expr->literal = subject;
          test_expr->args.push_back(subject_expr);
          for (size_t i = next; i < args.size(); ++i) {
            auto a = std::make_shared<Expr>();
            a->literal = args[i];
            test_expr->args.push_back(a);
          }
          ASSIGN_OR_RETURN(pass, ApplyTest(*test_expr));
        }
        if (pass == keep_matches) out.push_back(item);
      }
      return Value::MakeList(std::move(out));
    }
    return RenderError(line, absl::StrCat("unknown filter '", f, "'"));
  }

  const JinjaTemplate::RenderOptions& options_;
  std::vector<Scope> scopes_;
  enum { kNormal, kBreak, kContinue } flow_ = kNormal;
  int loop_depth_ = 0;
  int call_depth_ = 0;
  int64_t steps_ = 0;
};

}  // namespace
}  // namespace jinja

JinjaTemplate::JinjaTemplate(std::shared_ptr<const jinja::Node> root) : root_(std::move(root)) {}
JinjaTemplate::~JinjaTemplate() = default;

absl::StatusOr<std::unique_ptr<JinjaTemplate>> JinjaTemplate::Parse(absl::string_view source) {
  ASSIGN_OR_RETURN(jinja::NodePtr root, jinja::ParseTemplate(source));
  return std::unique_ptr<JinjaTemplate>(new JinjaTemplate(std::move(root)));
}

absl::StatusOr<std::string> JinjaTemplate::Render(const nlohmann::ordered_json& variables,
                                                  const RenderOptions& options) const {
  jinja::Renderer renderer(options);
  auto out = renderer.Run(*root_, variables);
  if (!out.ok() && out.status().code() == absl::StatusCode::kFailedPrecondition &&
      absl::StartsWith(out.status().message(), jinja::kRaisedPrefix)) {
    return absl::FailedPreconditionError(
        out.status().message().substr(jinja::kRaisedPrefix.size()));
  }
  return out;
}

}  // namespace infmem::tokenizer
