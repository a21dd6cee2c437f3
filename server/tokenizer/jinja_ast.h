// The syntax tree of a Jinja template: built by jinja_parse.cc, walked by jinja_render.cc.
// Immutable once parsed.
#ifndef INFMEM_SERVER_TOKENIZER_JINJA_AST_H_
#define INFMEM_SERVER_TOKENIZER_JINJA_AST_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/tokenizer/jinja_value.h"

namespace infmem::tokenizer::jinja {

struct Expr;
using ExprPtr = std::shared_ptr<const Expr>;

struct Expr {
  enum Kind {
    kLiteral,  // literal
    kName,     // name
    kAttr,     // args[0].name
    kItem,     // args[0][args[1]]
    kSlice,    // args[0][args[1]:args[2]:args[3]] (null parts omitted)
    kCall,     // args[0](args[1..], kwargs)
    kFilter,   // args[0] | name(args[1..], kwargs); args[0] null inside a filter block
    kTest,     // args[0] is [not] name(args[1..])
    kNot,      // not args[0]
    kNeg,      // -args[0]
    kBinary,   // args[0] op args[1]
    kAnd,      // args[0] and args[1]
    kOr,       // args[0] or args[1]
    kCond,     // args[0] if args[1] else args[2] (null: undefined)
    kList,     // [args...] and tuples
    kDict,     // {args[0]: args[1], ...}
  };
  Kind kind = kLiteral;
  Value literal;
  std::string name;  // kName, kAttr, kFilter, kTest; kBinary: the operator
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  bool negated = false;  // kTest
  int line = 0;
};

struct Node;
using NodePtr = std::shared_ptr<const Node>;
using Body = std::vector<NodePtr>;

struct Node {
  enum Kind {
    kRoot,      // body
    kText,      // text
    kOutput,    // {{ expr }}
    kIf,        // branches, else_body
    kFor,       // targets in expr [if filter]: body, else_body
    kSet,       // targets = expr; or attribute (targets[0].attribute) = expr
    kSetBlock,  // targets[0] = rendered body
    kMacro,     // name(params): body
    kBreak,
    kContinue,
    kFilterBlock,  // expr (a kFilter with a null value) applied to the rendered body
    kGeneration,   // body, rendered as is
  };
  Kind kind = kText;
  std::string text;
  ExprPtr expr;
  ExprPtr filter;  // kFor's `if`
  std::vector<std::string> targets;
  std::string attribute;  // kSet of a namespace attribute
  std::vector<std::pair<ExprPtr, Body>> branches;
  Body body;
  Body else_body;
  std::string name;                                     // kMacro
  std::vector<std::pair<std::string, ExprPtr>> params;  // kMacro (default may be null)
  int line = 0;
};

// Parses a template source into a kRoot node (jinja_parse.cc).
absl::StatusOr<NodePtr> ParseTemplate(absl::string_view source);

}  // namespace infmem::tokenizer::jinja

#endif  // INFMEM_SERVER_TOKENIZER_JINJA_AST_H_
