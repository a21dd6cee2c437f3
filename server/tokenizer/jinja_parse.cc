// Lexer and parser for Jinja templates, with jinja2's whitespace rules as Hugging Face
// configures them: trim_blocks (the first newline after a block or comment tag is dropped),
// lstrip_blocks (spaces and tabs from the start of a line up to a block or comment tag are
// dropped), "-" on a tag strips all whitespace on that side, "+" turns lstrip/trim off, and a
// single trailing newline of the template is dropped (keep_trailing_newline off).
// Operator precedence follows jinja2's parser (filters and tests bind tighter than arithmetic).
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "server/common/status_macros.h"
#include "server/tokenizer/jinja_ast.h"

namespace infmem::tokenizer::jinja {
namespace {

struct Token {
  enum Kind {
    kText,
    kVarBegin,
    kVarEnd,
    kBlockBegin,
    kBlockEnd,
    kName,
    kString,
    kInt,
    kFloat,
    kOp,
    kEnd
  };
  Kind kind;
  std::string text;
  int line;
};

absl::Status SyntaxError(int line, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("template line ", line, ": ", what));
}

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// Appends the UTF-8 encoding of `c`.
void AppendCodepoint(uint32_t c, std::string* out) {
  if (c < 0x80) {
    out->push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (c >> 6)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (c >> 12)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (c >> 18)));
    out->push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

class Lexer {
 public:
  explicit Lexer(absl::string_view source) : src_(source) {}

  absl::StatusOr<std::vector<Token>> Run() {
    size_t pos = 0;
    bool strip_next = false;  // the previous tag ended with "-"
    while (pos < src_.size()) {
      size_t open = src_.find('{', pos);
      while (open != absl::string_view::npos && open + 1 < src_.size() && src_[open + 1] != '{' &&
             src_[open + 1] != '%' && src_[open + 1] != '#') {
        open = src_.find('{', open + 1);
      }
      if (open + 1 >= src_.size()) open = absl::string_view::npos;
      std::string text(
          src_.substr(pos, open == absl::string_view::npos ? absl::string_view::npos : open - pos));
      if (strip_next) {
        size_t skip = 0;
        while (skip < text.size() && IsSpace(text[skip])) ++skip;
        text.erase(0, skip);
        strip_next = false;
      }
      if (open == absl::string_view::npos) {
        // keep_trailing_newline is off: one trailing newline goes.
        if (absl::EndsWith(text, "\n")) text.pop_back();
        Emit(Token::kText, text, pos);
        break;
      }
      const char kind = src_[open + 1];
      const char modifier = open + 2 < src_.size() ? src_[open + 2] : '\0';
      if (modifier == '-') {
        while (!text.empty() && IsSpace(text.back())) text.pop_back();
      } else if (modifier != '+' && (kind == '%' || kind == '#')) {
        // lstrip_blocks: only spaces and tabs between the line's start and the tag.
        size_t start = text.size();
        while (start > 0 && (text[start - 1] == ' ' || text[start - 1] == '\t')) --start;
        const bool line_start =
            start > 0 ? text[start - 1] == '\n' : (pos == 0 || src_[pos - 1] == '\n');
        if (line_start) text.erase(start);
      }
      Emit(Token::kText, text, pos);
      size_t body = open + 2 + ((modifier == '-' || modifier == '+') ? 1 : 0);
      const int line = LineAt(open);
      bool strip_after = false, plus_after = false;
      if (kind == '#') {
        const size_t close = src_.find("#}", body);
        if (close == absl::string_view::npos)
          return SyntaxError(line, "comment not closed with #}");
        strip_after = close > body && src_[close - 1] == '-';
        plus_after = close > body && src_[close - 1] == '+';
        pos = close + 2;
      } else {
        tokens_.push_back(Token{kind == '{' ? Token::kVarBegin : Token::kBlockBegin, "", line});
        ASSIGN_OR_RETURN(pos, LexTag(body, kind == '{' ? '}' : '%', &strip_after, &plus_after));
        tokens_.push_back(Token{kind == '{' ? Token::kVarEnd : Token::kBlockEnd, "", LineAt(pos)});
      }
      if (strip_after) {
        strip_next = true;
      } else if (kind != '{' && !plus_after) {
        // trim_blocks: the first newline after a block or comment tag.
        if (pos < src_.size() && src_[pos] == '\n') {
          ++pos;
        } else if (pos + 1 < src_.size() && src_[pos] == '\r' && src_[pos + 1] == '\n') {
          pos += 2;
        }
      }
    }
    tokens_.push_back(Token{Token::kEnd, "", LineAt(src_.size())});
    return std::move(tokens_);
  }

 private:
  int LineAt(size_t pos) {
    for (; line_pos_ < pos && line_pos_ < src_.size(); ++line_pos_) {
      if (src_[line_pos_] == '\n') ++line_;
    }
    return line_;
  }

  void Emit(Token::Kind kind, const std::string& text, size_t pos) {
    if (!text.empty()) tokens_.push_back(Token{kind, text, LineAt(pos)});
  }

  // Lexes expression tokens from `pos` up to the closing "}}" or "%}" (`closer` is its first
  // character); returns the position after it.
  absl::StatusOr<size_t> LexTag(size_t pos, char closer, bool* strip_after, bool* plus_after) {
    while (true) {
      while (pos < src_.size() && IsSpace(src_[pos])) ++pos;
      const int line = LineAt(pos);
      if (pos >= src_.size()) return SyntaxError(line, "tag not closed");
      const char c = src_[pos];
      const auto at = [&](size_t i) { return i < src_.size() ? src_[i] : '\0'; };
      if ((c == '-' || c == '+') && at(pos + 1) == closer && at(pos + 2) == '}') {
        *strip_after = c == '-';
        *plus_after = c == '+';
        return pos + 3;
      }
      if (c == closer && at(pos + 1) == '}') return pos + 2;
      if (c == '\'' || c == '"') {
        std::string value;
        size_t i = pos + 1;
        for (; i < src_.size() && src_[i] != c; ++i) {
          if (src_[i] != '\\') {
            value.push_back(src_[i]);
            continue;
          }
          if (++i >= src_.size()) break;
          const char e = src_[i];
          switch (e) {
            case 'n':
              value.push_back('\n');
              break;
            case 't':
              value.push_back('\t');
              break;
            case 'r':
              value.push_back('\r');
              break;
            case 'b':
              value.push_back('\b');
              break;
            case 'f':
              value.push_back('\f');
              break;
            case 'v':
              value.push_back('\v');
              break;
            case 'a':
              value.push_back('\a');
              break;
            case '0':
              value.push_back('\0');
              break;
            case '\\':
            case '\'':
            case '"':
              value.push_back(e);
              break;
            case '\n':
              break;
            case 'x':
            case 'u':
            case 'U': {
              const size_t digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
              uint32_t code = 0;
              if (i + digits >= src_.size() ||
                  !absl::SimpleHexAtoi(src_.substr(i + 1, digits), &code) || code > 0x10FFFF) {
                return SyntaxError(
                    line, absl::StrCat("bad \\", std::string(1, e), " escape in a string"));
              }
              AppendCodepoint(code, &value);
              i += digits;
              break;
            }
            default:
              value.push_back('\\');
              value.push_back(e);
          }
        }
        if (i >= src_.size()) return SyntaxError(line, "string not closed");
        tokens_.push_back(Token{Token::kString, std::move(value), line});
        pos = i + 1;
        continue;
      }
      if (std::isdigit(static_cast<unsigned char>(c))) {
        size_t i = pos;
        bool is_float = false;
        while (i < src_.size() &&
               (std::isdigit(static_cast<unsigned char>(src_[i])) || src_[i] == '_'))
          ++i;
        if (at(i) == '.' && std::isdigit(static_cast<unsigned char>(at(i + 1)))) {
          is_float = true;
          for (++i; i < src_.size() && std::isdigit(static_cast<unsigned char>(src_[i])); ++i) {
          }
        }
        if ((at(i) == 'e' || at(i) == 'E') &&
            (std::isdigit(static_cast<unsigned char>(at(i + 1))) ||
             ((at(i + 1) == '-' || at(i + 1) == '+') &&
              std::isdigit(static_cast<unsigned char>(at(i + 2)))))) {
          is_float = true;
          i += 2;
          while (i < src_.size() && std::isdigit(static_cast<unsigned char>(src_[i]))) ++i;
        }
        std::string text(src_.substr(pos, i - pos));
        text.erase(std::remove(text.begin(), text.end(), '_'), text.end());
        tokens_.push_back(Token{is_float ? Token::kFloat : Token::kInt, text, line});
        pos = i;
        continue;
      }
      if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        size_t i = pos;
        while (i < src_.size() &&
               (std::isalnum(static_cast<unsigned char>(src_[i])) || src_[i] == '_'))
          ++i;
        tokens_.push_back(Token{Token::kName, std::string(src_.substr(pos, i - pos)), line});
        pos = i;
        continue;
      }
      static constexpr absl::string_view kTwo[] = {"//", "**", "==", "!=", "<=", ">="};
      bool matched = false;
      for (const absl::string_view op : kTwo) {
        if (src_.substr(pos, 2) == op) {
          tokens_.push_back(Token{Token::kOp, std::string(op), line});
          pos += 2;
          matched = true;
          break;
        }
      }
      if (matched) continue;
      if (absl::string_view("+-*/%~<>()[]{},.:|=").find(c) != absl::string_view::npos) {
        tokens_.push_back(Token{Token::kOp, std::string(1, c), line});
        ++pos;
        continue;
      }
      return SyntaxError(line, absl::StrCat("unexpected character '", std::string(1, c), "'"));
    }
  }

  absl::string_view src_;
  std::vector<Token> tokens_;
  size_t line_pos_ = 0;
  int line_ = 1;
};

std::shared_ptr<Expr> MakeExpr(Expr::Kind kind, int line) {
  auto e = std::make_shared<Expr>();
  e->kind = kind;
  e->line = line;
  return e;
}

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : t_(std::move(tokens)) {}

  absl::StatusOr<NodePtr> Run() {
    auto root = std::make_shared<Node>();
    root->kind = Node::kRoot;
    std::string end_tag;
    ASSIGN_OR_RETURN(root->body, ParseBody({}, &end_tag));
    return root;
  }

 private:
  const Token& Peek(size_t ahead = 0) const { return t_[std::min(i_ + ahead, t_.size() - 1)]; }
  const Token& Next() { return t_[std::min(i_++, t_.size() - 1)]; }
  bool IsOp(absl::string_view op, size_t ahead = 0) const {
    return Peek(ahead).kind == Token::kOp && Peek(ahead).text == op;
  }
  bool IsName(absl::string_view name, size_t ahead = 0) const {
    return Peek(ahead).kind == Token::kName && Peek(ahead).text == name;
  }
  absl::Status Expect(absl::string_view op) {
    if (!IsOp(op)) {
      return SyntaxError(Peek().line, absl::StrCat("expected '", op, "', got ", Describe(Peek())));
    }
    ++i_;
    return absl::OkStatus();
  }
  absl::Status ExpectBlockEnd() {
    if (Peek().kind != Token::kBlockEnd) {
      return SyntaxError(Peek().line,
                         absl::StrCat("expected the end of the tag, got ", Describe(Peek())));
    }
    ++i_;
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> ExpectName() {
    if (Peek().kind != Token::kName) {
      return SyntaxError(Peek().line, absl::StrCat("expected a name, got ", Describe(Peek())));
    }
    return Next().text;
  }
  static std::string Describe(const Token& token) {
    switch (token.kind) {
      case Token::kEnd:
        return "the end of the template";
      case Token::kVarEnd:
        return "'}}'";
      case Token::kBlockEnd:
        return "'%}'";
      case Token::kText:
        return "text";
      default:
        return absl::StrCat("'", token.text.substr(0, 40), "'");
    }
  }

  // Parses nodes until a block tag whose name is in `ends` (left unconsumed past its name,
  // which goes to *end_tag) or the end of the template (allowed only when `ends` is empty).
  absl::StatusOr<Body> ParseBody(const std::vector<std::string>& ends, std::string* end_tag) {
    Body body;
    while (true) {
      const Token& token = Peek();
      if (token.kind == Token::kEnd) {
        if (!ends.empty()) {
          return SyntaxError(token.line, absl::StrCat("missing {% ", ends.back(), " %}"));
        }
        return body;
      }
      if (token.kind == Token::kText) {
        auto node = std::make_shared<Node>();
        node->kind = Node::kText;
        node->text = token.text;
        node->line = token.line;
        body.push_back(node);
        ++i_;
        continue;
      }
      if (token.kind == Token::kVarBegin) {
        ++i_;
        auto node = std::make_shared<Node>();
        node->kind = Node::kOutput;
        node->line = token.line;
        ASSIGN_OR_RETURN(node->expr, ParseTuple(true));
        if (Peek().kind != Token::kVarEnd) {
          return SyntaxError(Peek().line, absl::StrCat("expected '}}', got ", Describe(Peek())));
        }
        ++i_;
        body.push_back(node);
        continue;
      }
      if (token.kind != Token::kBlockBegin) return SyntaxError(token.line, "unexpected token");
      if (Peek(1).kind != Token::kName)
        return SyntaxError(token.line, "expected a tag name after {%");
      const std::string tag = Peek(1).text;
      for (const std::string& end : ends) {
        if (tag == end) {
          i_ += 2;
          *end_tag = tag;
          return body;
        }
      }
      i_ += 2;
      ASSIGN_OR_RETURN(NodePtr node, ParseStatement(tag, token.line));
      body.push_back(node);
    }
  }

  absl::StatusOr<NodePtr> ParseStatement(const std::string& tag, int line) {
    auto node = std::make_shared<Node>();
    node->line = line;
    std::string end_tag;
    if (tag == "if") {
      node->kind = Node::kIf;
      ASSIGN_OR_RETURN(ExprPtr condition, ParseExpression(true));
      RETURN_IF_ERROR(ExpectBlockEnd());
      while (true) {
        ASSIGN_OR_RETURN(Body body, ParseBody({"elif", "else", "endif"}, &end_tag));
        node->branches.emplace_back(condition, std::move(body));
        if (end_tag == "elif") {
          ASSIGN_OR_RETURN(condition, ParseExpression(true));
          RETURN_IF_ERROR(ExpectBlockEnd());
          continue;
        }
        if (end_tag == "else") {
          RETURN_IF_ERROR(ExpectBlockEnd());
          ASSIGN_OR_RETURN(node->else_body, ParseBody({"endif"}, &end_tag));
        }
        break;
      }
      RETURN_IF_ERROR(ExpectBlockEnd());
      return node;
    }
    if (tag == "for") {
      node->kind = Node::kFor;
      do {
        ASSIGN_OR_RETURN(std::string target, ExpectName());
        node->targets.push_back(target);
      } while (IsOp(",") && (++i_, true));
      if (!IsName("in")) return SyntaxError(Peek().line, "expected 'in' in a for tag");
      ++i_;
      ASSIGN_OR_RETURN(node->expr, ParseTuple(false));
      if (IsName("if")) {
        ++i_;
        ASSIGN_OR_RETURN(node->filter, ParseExpression(true));
      }
      if (IsName("recursive")) return SyntaxError(Peek().line, "recursive loops are not supported");
      RETURN_IF_ERROR(ExpectBlockEnd());
      ASSIGN_OR_RETURN(node->body, ParseBody({"else", "endfor"}, &end_tag));
      if (end_tag == "else") {
        RETURN_IF_ERROR(ExpectBlockEnd());
        ASSIGN_OR_RETURN(node->else_body, ParseBody({"endfor"}, &end_tag));
      }
      RETURN_IF_ERROR(ExpectBlockEnd());
      return node;
    }
    if (tag == "set") {
      ASSIGN_OR_RETURN(std::string first, ExpectName());
      node->targets.push_back(first);
      if (IsOp(".")) {
        ++i_;
        ASSIGN_OR_RETURN(node->attribute, ExpectName());
      } else {
        while (IsOp(",")) {
          ++i_;
          ASSIGN_OR_RETURN(std::string target, ExpectName());
          node->targets.push_back(target);
        }
      }
      if (Peek().kind == Token::kBlockEnd && node->targets.size() == 1 && node->attribute.empty()) {
        ++i_;
        node->kind = Node::kSetBlock;
        ASSIGN_OR_RETURN(node->body, ParseBody({"endset"}, &end_tag));
        RETURN_IF_ERROR(ExpectBlockEnd());
        return node;
      }
      node->kind = Node::kSet;
      RETURN_IF_ERROR(Expect("="));
      ASSIGN_OR_RETURN(node->expr, ParseTuple(true));
      RETURN_IF_ERROR(ExpectBlockEnd());
      return node;
    }
    if (tag == "macro") {
      node->kind = Node::kMacro;
      ASSIGN_OR_RETURN(node->name, ExpectName());
      RETURN_IF_ERROR(Expect("("));
      while (!IsOp(")")) {
        ASSIGN_OR_RETURN(std::string param, ExpectName());
        ExprPtr fallback;
        if (IsOp("=")) {
          ++i_;
          ASSIGN_OR_RETURN(fallback, ParseExpression(true));
        }
        node->params.emplace_back(param, fallback);
        if (!IsOp(",")) break;
        ++i_;
      }
      RETURN_IF_ERROR(Expect(")"));
      RETURN_IF_ERROR(ExpectBlockEnd());
      ASSIGN_OR_RETURN(node->body, ParseBody({"endmacro"}, &end_tag));
      RETURN_IF_ERROR(ExpectBlockEnd());
      return node;
    }
    if (tag == "break" || tag == "continue") {
      node->kind = tag == "break" ? Node::kBreak : Node::kContinue;
      RETURN_IF_ERROR(ExpectBlockEnd());
      return node;
    }
    if (tag == "filter") {
      node->kind = Node::kFilterBlock;
      ASSIGN_OR_RETURN(node->expr, ParseFilter(nullptr));
      RETURN_IF_ERROR(ExpectBlockEnd());
      ASSIGN_OR_RETURN(node->body, ParseBody({"endfilter"}, &end_tag));
      RETURN_IF_ERROR(ExpectBlockEnd());
      return node;
    }
    if (tag == "generation") {
      node->kind = Node::kGeneration;
      RETURN_IF_ERROR(ExpectBlockEnd());
      ASSIGN_OR_RETURN(node->body, ParseBody({"endgeneration"}, &end_tag));
      RETURN_IF_ERROR(ExpectBlockEnd());
      return node;
    }
    return SyntaxError(line, absl::StrCat("unsupported tag '", tag, "'"));
  }

  // A tuple without parentheses ("a, b") or a single expression.
  absl::StatusOr<ExprPtr> ParseTuple(bool with_condition) {
    const int line = Peek().line;
    ASSIGN_OR_RETURN(ExprPtr first, with_condition ? ParseExpression(true) : ParseOr());
    if (!IsOp(",")) return first;
    auto tuple = MakeExpr(Expr::kList, line);
    tuple->args.push_back(first);
    while (IsOp(",")) {
      ++i_;
      if (Peek().kind == Token::kVarEnd || Peek().kind == Token::kBlockEnd || IsOp(")")) break;
      ASSIGN_OR_RETURN(ExprPtr item, with_condition ? ParseExpression(true) : ParseOr());
      tuple->args.push_back(item);
    }
    return ExprPtr(tuple);
  }

  absl::StatusOr<ExprPtr> ParseExpression(bool with_condition) {
    if (++depth_ > 200) return SyntaxError(Peek().line, "expression nested too deeply");
    ASSIGN_OR_RETURN(ExprPtr expr, ParseOr());
    while (with_condition && IsName("if")) {
      const int line = Next().line;
      auto cond = MakeExpr(Expr::kCond, line);
      ASSIGN_OR_RETURN(ExprPtr test, ParseOr());
      ExprPtr otherwise;
      if (IsName("else")) {
        ++i_;
        ASSIGN_OR_RETURN(otherwise, ParseExpression(true));
      }
      cond->args = {expr, test, otherwise};
      expr = cond;
    }
    --depth_;
    return expr;
  }

  absl::StatusOr<ExprPtr> ParseOr() {
    ASSIGN_OR_RETURN(ExprPtr left, ParseAnd());
    while (IsName("or")) {
      auto e = MakeExpr(Expr::kOr, Next().line);
      ASSIGN_OR_RETURN(ExprPtr right, ParseAnd());
      e->args = {left, right};
      left = e;
    }
    return left;
  }

  absl::StatusOr<ExprPtr> ParseAnd() {
    ASSIGN_OR_RETURN(ExprPtr left, ParseNot());
    while (IsName("and")) {
      auto e = MakeExpr(Expr::kAnd, Next().line);
      ASSIGN_OR_RETURN(ExprPtr right, ParseNot());
      e->args = {left, right};
      left = e;
    }
    return left;
  }

  absl::StatusOr<ExprPtr> ParseNot() {
    if (IsName("not")) {
      auto e = MakeExpr(Expr::kNot, Next().line);
      ASSIGN_OR_RETURN(ExprPtr operand, ParseNot());
      e->args = {operand};
      return ExprPtr(e);
    }
    return ParseCompare();
  }

  absl::StatusOr<ExprPtr> ParseCompare() {
    ASSIGN_OR_RETURN(ExprPtr left, ParseMath1());
    while (true) {
      std::string op;
      if (Peek().kind == Token::kOp &&
          (Peek().text == "==" || Peek().text == "!=" || Peek().text == "<" ||
           Peek().text == "<=" || Peek().text == ">" || Peek().text == ">=")) {
        op = Peek().text;
        ++i_;
      } else if (IsName("in")) {
        op = "in";
        ++i_;
      } else if (IsName("not") && IsName("in", 1)) {
        op = "not in";
        i_ += 2;
      } else {
        return left;
      }
      auto e = MakeExpr(Expr::kBinary, Peek().line);
      e->name = op;
      ASSIGN_OR_RETURN(ExprPtr right, ParseMath1());
      e->args = {left, right};
      left = e;
    }
  }

  absl::StatusOr<ExprPtr> ParseMath1() {
    ASSIGN_OR_RETURN(ExprPtr left, ParseConcat());
    while (IsOp("+") || IsOp("-")) {
      auto e = MakeExpr(Expr::kBinary, Peek().line);
      e->name = Next().text;
      ASSIGN_OR_RETURN(ExprPtr right, ParseConcat());
      e->args = {left, right};
      left = e;
    }
    return left;
  }

  absl::StatusOr<ExprPtr> ParseConcat() {
    ASSIGN_OR_RETURN(ExprPtr left, ParseMath2());
    while (IsOp("~")) {
      auto e = MakeExpr(Expr::kBinary, Next().line);
      e->name = "~";
      ASSIGN_OR_RETURN(ExprPtr right, ParseMath2());
      e->args = {left, right};
      left = e;
    }
    return left;
  }

  absl::StatusOr<ExprPtr> ParseMath2() {
    ASSIGN_OR_RETURN(ExprPtr left, ParsePow());
    while (IsOp("*") || IsOp("/") || IsOp("//") || IsOp("%")) {
      auto e = MakeExpr(Expr::kBinary, Peek().line);
      e->name = Next().text;
      ASSIGN_OR_RETURN(ExprPtr right, ParsePow());
      e->args = {left, right};
      left = e;
    }
    return left;
  }

  absl::StatusOr<ExprPtr> ParsePow() {
    ASSIGN_OR_RETURN(ExprPtr left, ParseUnary(true));
    while (IsOp("**")) {
      auto e = MakeExpr(Expr::kBinary, Next().line);
      e->name = "**";
      ASSIGN_OR_RETURN(ExprPtr right, ParseUnary(true));
      e->args = {left, right};
      left = e;
    }
    return left;
  }

  absl::StatusOr<ExprPtr> ParseUnary(bool with_filter) {
    if (++depth_ > 200) return SyntaxError(Peek().line, "expression nested too deeply");
    ExprPtr node;
    if (IsOp("-") || IsOp("+")) {
      const bool negative = Next().text == "-";
      ASSIGN_OR_RETURN(ExprPtr operand, ParseUnary(false));
      if (negative) {
        auto e = MakeExpr(Expr::kNeg, operand->line);
        e->args = {operand};
        node = e;
      } else {
        node = operand;
      }
    } else {
      ASSIGN_OR_RETURN(node, ParsePrimary());
    }
    ASSIGN_OR_RETURN(node, ParsePostfix(node));
    if (with_filter) {
      while (true) {
        if (IsOp("|")) {
          ++i_;
          ASSIGN_OR_RETURN(node, ParseFilter(node));
        } else if (IsName("is")) {
          ++i_;
          ASSIGN_OR_RETURN(node, ParseTest(node));
        } else if (IsOp("(")) {
          ASSIGN_OR_RETURN(node, ParseCall(node));
        } else {
          break;
        }
      }
    }
    --depth_;
    return node;
  }

  absl::StatusOr<ExprPtr> ParsePrimary() {
    const Token token = Next();
    switch (token.kind) {
      case Token::kName: {
        if (token.text == "true" || token.text == "True")
          return Literal(Value::Bool(true), token.line);
        if (token.text == "false" || token.text == "False")
          return Literal(Value::Bool(false), token.line);
        if (token.text == "none" || token.text == "None") return Literal(Value::None(), token.line);
        auto e = MakeExpr(Expr::kName, token.line);
        e->name = token.text;
        return ExprPtr(e);
      }
      case Token::kString: {
        std::string text = token.text;
        while (Peek().kind == Token::kString) text += Next().text;  // adjacent literals join
        return Literal(Value::Str(text), token.line);
      }
      case Token::kInt: {
        int64_t value = 0;
        if (!absl::SimpleAtoi(token.text, &value))
          return SyntaxError(token.line, "integer out of range");
        return Literal(Value::Int(value), token.line);
      }
      case Token::kFloat:
        return Literal(Value::Float(std::strtod(token.text.c_str(), nullptr)), token.line);
      case Token::kOp:
        if (token.text == "(") {
          if (IsOp(")")) {
            ++i_;
            return ExprPtr(MakeExpr(Expr::kList, token.line));
          }
          ASSIGN_OR_RETURN(ExprPtr inner, ParseExpression(true));
          if (IsOp(",")) {
            auto tuple = MakeExpr(Expr::kList, token.line);
            tuple->args.push_back(inner);
            while (IsOp(",")) {
              ++i_;
              if (IsOp(")")) break;
              ASSIGN_OR_RETURN(ExprPtr item, ParseExpression(true));
              tuple->args.push_back(item);
            }
            inner = tuple;
          }
          RETURN_IF_ERROR(Expect(")"));
          return inner;
        }
        if (token.text == "[") {
          auto list = MakeExpr(Expr::kList, token.line);
          while (!IsOp("]")) {
            ASSIGN_OR_RETURN(ExprPtr item, ParseExpression(true));
            list->args.push_back(item);
            if (!IsOp(",")) break;
            ++i_;
          }
          RETURN_IF_ERROR(Expect("]"));
          return ExprPtr(list);
        }
        if (token.text == "{") {
          auto dict = MakeExpr(Expr::kDict, token.line);
          while (!IsOp("}")) {
            ASSIGN_OR_RETURN(ExprPtr key, ParseExpression(true));
            RETURN_IF_ERROR(Expect(":"));
            ASSIGN_OR_RETURN(ExprPtr value, ParseExpression(true));
            dict->args.push_back(key);
            dict->args.push_back(value);
            if (!IsOp(",")) break;
            ++i_;
          }
          RETURN_IF_ERROR(Expect("}"));
          return ExprPtr(dict);
        }
        break;
      default:
        break;
    }
    return SyntaxError(token.line, absl::StrCat("unexpected ", Describe(token)));
  }

  static ExprPtr Literal(Value value, int line) {
    auto e = MakeExpr(Expr::kLiteral, line);
    e->literal = std::move(value);
    return e;
  }

  absl::StatusOr<ExprPtr> ParsePostfix(ExprPtr node) {
    while (true) {
      if (IsOp(".")) {
        ++i_;
        auto e = MakeExpr(Expr::kAttr, Peek().line);
        if (Peek().kind == Token::kInt) {
          // x.0 is item access in Jinja.
          int64_t index = 0;
          (void)absl::SimpleAtoi(Next().text, &index);
          e->kind = Expr::kItem;
          e->args = {node, Literal(Value::Int(index), e->line)};
        } else {
          ASSIGN_OR_RETURN(e->name, ExpectName());
          e->args = {node};
        }
        node = e;
      } else if (IsOp("[")) {
        const int line = Next().line;
        ExprPtr parts[3];
        int colons = 0;
        while (!IsOp("]")) {
          if (IsOp(":")) {
            if (++colons > 2) return SyntaxError(line, "too many ':' in a subscript");
            ++i_;
            continue;
          }
          ASSIGN_OR_RETURN(parts[colons], ParseExpression(true));
          if (!IsOp(":") && !IsOp("]")) {
            return SyntaxError(Peek().line, absl::StrCat("expected ']', got ", Describe(Peek())));
          }
        }
        ++i_;
        if (colons == 0) {
          if (parts[0] == nullptr) return SyntaxError(line, "empty subscript");
          auto e = MakeExpr(Expr::kItem, line);
          e->args = {node, parts[0]};
          node = e;
        } else {
          auto e = MakeExpr(Expr::kSlice, line);
          e->args = {node, parts[0], parts[1], parts[2]};
          node = e;
        }
      } else if (IsOp("(")) {
        ASSIGN_OR_RETURN(node, ParseCall(node));
      } else {
        return node;
      }
    }
  }

  // Parses "(args, name=value)" into `call` (its args after any already there).
  absl::Status ParseArguments(Expr* call) {
    RETURN_IF_ERROR(Expect("("));
    while (!IsOp(")")) {
      if (Peek().kind == Token::kName && IsOp("=", 1)) {
        const std::string name = Next().text;
        ++i_;
        ASSIGN_OR_RETURN(ExprPtr value, ParseExpression(true));
        call->kwargs.emplace_back(name, value);
      } else {
        if (!call->kwargs.empty())
          return SyntaxError(Peek().line, "positional argument after a keyword argument");
        ASSIGN_OR_RETURN(ExprPtr value, ParseExpression(true));
        call->args.push_back(value);
      }
      if (!IsOp(",")) break;
      ++i_;
    }
    return Expect(")");
  }

  absl::StatusOr<ExprPtr> ParseCall(ExprPtr callee) {
    auto e = MakeExpr(Expr::kCall, Peek().line);
    e->args.push_back(callee);
    RETURN_IF_ERROR(ParseArguments(e.get()));
    return ExprPtr(e);
  }

  absl::StatusOr<ExprPtr> ParseFilter(ExprPtr value) {
    auto e = MakeExpr(Expr::kFilter, Peek().line);
    ASSIGN_OR_RETURN(e->name, ExpectName());
    while (IsOp(".")) {  // dotted filter names
      ++i_;
      ASSIGN_OR_RETURN(std::string part, ExpectName());
      e->name += "." + part;
    }
    e->args.push_back(value);
    if (IsOp("(")) RETURN_IF_ERROR(ParseArguments(e.get()));
    return ExprPtr(e);
  }

  absl::StatusOr<ExprPtr> ParseTest(ExprPtr value) {
    auto e = MakeExpr(Expr::kTest, Peek().line);
    if (IsName("not")) {
      ++i_;
      e->negated = true;
    }
    ASSIGN_OR_RETURN(e->name, ExpectName());
    e->args.push_back(value);
    if (IsOp("(")) {
      RETURN_IF_ERROR(ParseArguments(e.get()));
    } else if (Peek().kind == Token::kString || Peek().kind == Token::kInt ||
               Peek().kind == Token::kFloat || IsOp("[") || IsOp("{") ||
               (Peek().kind == Token::kName && !IsName("and") && !IsName("or") && !IsName("else") &&
                !IsName("if") && !IsName("in") && !IsName("is") && !IsName("not"))) {
      ASSIGN_OR_RETURN(ExprPtr argument, ParsePrimary());
      ASSIGN_OR_RETURN(argument, ParsePostfix(argument));
      e->args.push_back(argument);
    }
    return ExprPtr(e);
  }

  std::vector<Token> t_;
  size_t i_ = 0;
  int depth_ = 0;
};

}  // namespace

absl::StatusOr<NodePtr> ParseTemplate(absl::string_view source) {
  ASSIGN_OR_RETURN(std::vector<Token> tokens, Lexer(source).Run());
  return Parser(std::move(tokens)).Run();
}

}  // namespace infmem::tokenizer::jinja
