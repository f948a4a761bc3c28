#include "runtime/chat_template/parser.h"

#include <initializer_list>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "runtime/chat_template/status_macros.h"

namespace headroom::runtime::chat_template {
namespace {

ExprPtr MakeExpr(Expr::Kind kind, size_t offset) {
  auto e = std::make_unique<Expr>();
  e->kind = kind;
  e->offset = offset;
  return e;
}

class Parser {
 public:
  Parser(const std::vector<Token>& tokens, std::string_view source)
      : tokens_(tokens), source_(source) {}

  absl::StatusOr<Body> Run() {
    std::string end;
    CT_ASSIGN_OR_RETURN(Body body, ParseBody({}, &end));
    return body;
  }

 private:
  // Counts nesting; Enter fails past kMaxParseDepth.
  struct DepthGuard {
    explicit DepthGuard(int* d) : depth(d) { ++*depth; }
    ~DepthGuard() { --*depth; }
    int* depth;
  };
  absl::Status CheckDepth() const {
    if (depth_ > kMaxParseDepth) {
      return Error(Peek().offset, absl::StrCat("nested deeper than ",
                                               kMaxParseDepth, " levels"));
    }
    return absl::OkStatus();
  }

  absl::Status Error(size_t offset, std::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("chat template ", DescribePosition(source_, offset), ": ",
                     std::string(what)));
  }

  const Token& Peek(size_t ahead = 0) const {
    const size_t i = pos_ + ahead;
    return i < tokens_.size() ? tokens_[i] : tokens_.back();
  }
  const Token& Next() {
    const Token& t = Peek();
    if (pos_ < tokens_.size() - 1) ++pos_;
    return t;
  }
  bool IsOp(std::string_view op, size_t ahead = 0) const {
    return Peek(ahead).kind == TokenKind::kOp && Peek(ahead).text == op;
  }
  bool IsName(std::string_view name, size_t ahead = 0) const {
    return Peek(ahead).kind == TokenKind::kName && Peek(ahead).text == name;
  }
  bool SkipOp(std::string_view op) {
    if (!IsOp(op)) return false;
    Next();
    return true;
  }
  bool SkipName(std::string_view name) {
    if (!IsName(name)) return false;
    Next();
    return true;
  }

  static std::string Describe(const Token& t) {
    switch (t.kind) {
      case TokenKind::kText:
        return "text";
      case TokenKind::kVarBegin:
        return "'{{'";
      case TokenKind::kVarEnd:
        return "'}}'";
      case TokenKind::kBlockBegin:
        return "'{%'";
      case TokenKind::kBlockEnd:
        return "'%}'";
      case TokenKind::kName:
        return absl::StrCat("'", t.text, "'");
      case TokenKind::kString:
        return "a string";
      case TokenKind::kInt:
      case TokenKind::kFloat:
        return "a number";
      case TokenKind::kOp:
        return absl::StrCat("'", t.text, "'");
      case TokenKind::kEof:
        return "the end of the template";
    }
    return "?";
  }

  absl::Status Expect(std::string_view op) {
    if (SkipOp(op)) return absl::OkStatus();
    return Error(Peek().offset, absl::StrCat("expected '", std::string(op),
                                             "', found ", Describe(Peek())));
  }
  absl::Status ExpectBlockEnd() {
    if (Peek().kind == TokenKind::kBlockEnd) {
      Next();
      return absl::OkStatus();
    }
    return Error(Peek().offset,
                 absl::StrCat("expected '%}', found ", Describe(Peek())));
  }
  absl::StatusOr<std::string> ExpectName(std::string_view what) {
    if (Peek().kind != TokenKind::kName) {
      return Error(Peek().offset, absl::StrCat("expected ", std::string(what),
                                               ", found ", Describe(Peek())));
    }
    return Next().text;
  }

  // Statements up to a `{% name` with name in `ends` (consumed, its name in
  // *end), or the end of the template when `ends` is empty.
  absl::StatusOr<Body> ParseBody(std::initializer_list<std::string_view> ends,
                                 std::string* end, size_t opened_at = 0) {
    DepthGuard guard(&depth_);
    CT_RETURN_IF_ERROR(CheckDepth());
    Body body;
    while (true) {
      const Token& t = Peek();
      switch (t.kind) {
        case TokenKind::kEof:
          if (ends.size() == 0) return body;
          return Error(
              opened_at,
              absl::StrCat("missing '{% ", std::string(*(ends.end() - 1)),
                           " %}' for the block opened here"));
        case TokenKind::kText: {
          auto s = std::make_unique<Stmt>();
          s->kind = Stmt::Kind::kText;
          s->offset = t.offset;
          s->text = t.text;
          body.push_back(std::move(s));
          Next();
          break;
        }
        case TokenKind::kVarBegin: {
          Next();
          auto s = std::make_unique<Stmt>();
          s->kind = Stmt::Kind::kOutput;
          s->offset = t.offset;
          CT_ASSIGN_OR_RETURN(s->expr, ParseTuple(true));
          if (Peek().kind != TokenKind::kVarEnd) {
            return Error(Peek().offset, absl::StrCat("expected '}}', found ",
                                                     Describe(Peek())));
          }
          Next();
          body.push_back(std::move(s));
          break;
        }
        case TokenKind::kBlockBegin: {
          const Token& name = Peek(1);
          if (name.kind == TokenKind::kName) {
            for (std::string_view e : ends) {
              if (name.text == e) {
                Next();
                Next();
                *end = name.text;
                return body;
              }
            }
          }
          Next();
          CT_ASSIGN_OR_RETURN(StmtPtr s, ParseStatement());
          if (s != nullptr) body.push_back(std::move(s));
          break;
        }
        default:
          return Error(t.offset, absl::StrCat("unexpected ", Describe(t)));
      }
    }
  }

  // After `{%`.
  absl::StatusOr<StmtPtr> ParseStatement() {
    const Token& t = Peek();
    if (t.kind != TokenKind::kName) {
      return Error(t.offset, absl::StrCat("expected a statement name, found ",
                                          Describe(t)));
    }
    const std::string name = t.text;
    const size_t offset = t.offset;
    Next();
    auto s = std::make_unique<Stmt>();
    s->offset = offset;
    std::string end;
    if (name == "if") {
      s->kind = Stmt::Kind::kIf;
      CT_ASSIGN_OR_RETURN(ExprPtr cond, ParseExpression(true));
      CT_RETURN_IF_ERROR(ExpectBlockEnd());
      while (true) {
        CT_ASSIGN_OR_RETURN(Body body,
                            ParseBody({"elif", "else", "endif"}, &end, offset));
        s->branches.emplace_back(std::move(cond), std::move(body));
        if (end == "elif") {
          CT_ASSIGN_OR_RETURN(cond, ParseExpression(true));
          CT_RETURN_IF_ERROR(ExpectBlockEnd());
          continue;
        }
        break;
      }
      if (end == "else") {
        CT_RETURN_IF_ERROR(ExpectBlockEnd());
        CT_ASSIGN_OR_RETURN(s->else_body, ParseBody({"endif"}, &end, offset));
      }
      CT_RETURN_IF_ERROR(ExpectBlockEnd());
      return s;
    }
    if (name == "for") {
      s->kind = Stmt::Kind::kFor;
      do {
        CT_ASSIGN_OR_RETURN(std::string target, ExpectName("a loop variable"));
        s->targets.push_back(std::move(target));
      } while (SkipOp(","));
      if (!SkipName("in")) {
        return Error(Peek().offset,
                     absl::StrCat("expected 'in', found ", Describe(Peek())));
      }
      CT_ASSIGN_OR_RETURN(s->expr, ParseTuple(false));
      if (SkipName("if")) {
        CT_ASSIGN_OR_RETURN(s->cond, ParseExpression(true));
      }
      if (SkipName("recursive")) {
        return Error(offset, "recursive loops are not supported");
      }
      CT_RETURN_IF_ERROR(ExpectBlockEnd());
      ++loop_depth_;
      CT_ASSIGN_OR_RETURN(s->body, ParseBody({"else", "endfor"}, &end, offset));
      --loop_depth_;
      if (end == "else") {
        CT_RETURN_IF_ERROR(ExpectBlockEnd());
        CT_ASSIGN_OR_RETURN(s->else_body, ParseBody({"endfor"}, &end, offset));
      }
      CT_RETURN_IF_ERROR(ExpectBlockEnd());
      return s;
    }
    if (name == "set") {
      CT_ASSIGN_OR_RETURN(std::string target, ExpectName("a variable name"));
      s->targets.push_back(std::move(target));
      if (SkipOp(".")) {
        CT_ASSIGN_OR_RETURN(s->attr, ExpectName("an attribute name"));
      } else {
        while (SkipOp(",")) {
          CT_ASSIGN_OR_RETURN(std::string more, ExpectName("a variable name"));
          s->targets.push_back(std::move(more));
        }
      }
      if (Peek().kind == TokenKind::kBlockEnd && s->targets.size() == 1) {
        Next();
        s->kind = Stmt::Kind::kSetBlock;
        CT_ASSIGN_OR_RETURN(s->body, ParseBody({"endset"}, &end, offset));
        CT_RETURN_IF_ERROR(ExpectBlockEnd());
        return s;
      }
      s->kind = Stmt::Kind::kSet;
      CT_RETURN_IF_ERROR(Expect("="));
      CT_ASSIGN_OR_RETURN(s->expr, ParseTuple(true));
      CT_RETURN_IF_ERROR(ExpectBlockEnd());
      return s;
    }
    if (name == "macro") {
      s->kind = Stmt::Kind::kMacro;
      CT_ASSIGN_OR_RETURN(s->text, ExpectName("a macro name"));
      CT_RETURN_IF_ERROR(Expect("("));
      while (!IsOp(")")) {
        CT_ASSIGN_OR_RETURN(std::string param, ExpectName("a parameter name"));
        s->targets.push_back(std::move(param));
        ExprPtr def;
        if (SkipOp("=")) {
          CT_ASSIGN_OR_RETURN(def, ParseExpression(true));
        }
        s->defaults.push_back(std::move(def));
        if (!SkipOp(",")) break;
      }
      CT_RETURN_IF_ERROR(Expect(")"));
      CT_RETURN_IF_ERROR(ExpectBlockEnd());
      const int saved_loops = loop_depth_;
      loop_depth_ = 0;
      CT_ASSIGN_OR_RETURN(s->body, ParseBody({"endmacro"}, &end, offset));
      loop_depth_ = saved_loops;
      SkipName(s->text);  // {% endmacro name %}
      CT_RETURN_IF_ERROR(ExpectBlockEnd());
      return s;
    }
    if (name == "break" || name == "continue") {
      if (loop_depth_ == 0) {
        return Error(offset, absl::StrCat("'", name, "' outside a loop"));
      }
      s->kind = name == "break" ? Stmt::Kind::kBreak : Stmt::Kind::kContinue;
      CT_RETURN_IF_ERROR(ExpectBlockEnd());
      return s;
    }
    if (name == "generation") {
      s->kind = Stmt::Kind::kScope;
      CT_RETURN_IF_ERROR(ExpectBlockEnd());
      CT_ASSIGN_OR_RETURN(s->body, ParseBody({"endgeneration"}, &end, offset));
      CT_RETURN_IF_ERROR(ExpectBlockEnd());
      return s;
    }
    static constexpr std::string_view kEnds[] = {
        "elif",   "else",     "endif",        "endfor",
        "endset", "endmacro", "endgeneration"};
    for (std::string_view e : kEnds) {
      if (name == e) {
        return Error(offset, absl::StrCat("unexpected '", name, "'"));
      }
    }
    return Error(offset,
                 absl::StrCat("unknown or unsupported statement '", name, "'"));
  }

  // expression, or a tuple when commas follow (a list value).
  absl::StatusOr<ExprPtr> ParseTuple(bool with_cond) {
    const size_t offset = Peek().offset;
    CT_ASSIGN_OR_RETURN(ExprPtr first, ParseExpression(with_cond));
    if (!IsOp(",")) return first;
    ExprPtr list = MakeExpr(Expr::Kind::kList, offset);
    list->args.push_back(std::move(first));
    while (SkipOp(",")) {
      if (AtExpressionEnd()) break;
      CT_ASSIGN_OR_RETURN(ExprPtr item, ParseExpression(with_cond));
      list->args.push_back(std::move(item));
    }
    return list;
  }

  bool AtExpressionEnd() const {
    const Token& t = Peek();
    return t.kind == TokenKind::kBlockEnd || t.kind == TokenKind::kVarEnd ||
           t.kind == TokenKind::kEof || IsOp(")") || IsOp("]") || IsOp("}") ||
           (t.kind == TokenKind::kName && t.text == "if");
  }

  absl::StatusOr<ExprPtr> ParseExpression(bool with_cond) {
    DepthGuard guard(&depth_);
    CT_RETURN_IF_ERROR(CheckDepth());
    CT_ASSIGN_OR_RETURN(ExprPtr e, ParseOr());
    if (!with_cond) return e;
    while (IsName("if")) {
      const size_t offset = Next().offset;
      ExprPtr cond = MakeExpr(Expr::Kind::kCond, offset);
      CT_ASSIGN_OR_RETURN(ExprPtr test, ParseOr());
      ExprPtr otherwise;
      if (SkipName("else")) {
        CT_ASSIGN_OR_RETURN(otherwise, ParseExpression(true));
      }
      cond->args.push_back(std::move(test));
      cond->args.push_back(std::move(e));
      cond->args.push_back(std::move(otherwise));
      e = std::move(cond);
    }
    return e;
  }

  absl::StatusOr<ExprPtr> ParseOr() {
    CT_ASSIGN_OR_RETURN(ExprPtr left, ParseAnd());
    while (IsName("or")) {
      ExprPtr e = MakeExpr(Expr::Kind::kOr, Next().offset);
      CT_ASSIGN_OR_RETURN(ExprPtr right, ParseAnd());
      e->args.push_back(std::move(left));
      e->args.push_back(std::move(right));
      left = std::move(e);
    }
    return left;
  }

  absl::StatusOr<ExprPtr> ParseAnd() {
    CT_ASSIGN_OR_RETURN(ExprPtr left, ParseNot());
    while (IsName("and")) {
      ExprPtr e = MakeExpr(Expr::Kind::kAnd, Next().offset);
      CT_ASSIGN_OR_RETURN(ExprPtr right, ParseNot());
      e->args.push_back(std::move(left));
      e->args.push_back(std::move(right));
      left = std::move(e);
    }
    return left;
  }

  absl::StatusOr<ExprPtr> ParseNot() {
    if (IsName("not")) {
      DepthGuard guard(&depth_);
      CT_RETURN_IF_ERROR(CheckDepth());
      ExprPtr e = MakeExpr(Expr::Kind::kUnary, Next().offset);
      e->name = "not";
      CT_ASSIGN_OR_RETURN(ExprPtr operand, ParseNot());
      e->args.push_back(std::move(operand));
      return e;
    }
    return ParseCompare();
  }

  // a < b < c is (a < b) and (b < c), b computed twice (no side effects).
  absl::StatusOr<ExprPtr> ParseCompare() {
    CT_ASSIGN_OR_RETURN(ExprPtr left, ParseMath1());
    ExprPtr result;
    const Expr* previous = nullptr;
    while (true) {
      std::string op;
      const size_t offset = Peek().offset;
      static constexpr std::string_view kOps[] = {"==", "!=", "<",
                                                  "<=", ">",  ">="};
      for (std::string_view o : kOps) {
        if (IsOp(o)) op = std::string(o);
      }
      if (!op.empty()) {
        Next();
      } else if (IsName("in")) {
        Next();
        op = "in";
      } else if (IsName("not") && IsName("in", 1)) {
        Next();
        Next();
        op = "not in";
      } else {
        break;
      }
      CT_ASSIGN_OR_RETURN(ExprPtr right, ParseMath1());
      ExprPtr cmp = MakeExpr(Expr::Kind::kBinary, offset);
      cmp->name = op;
      if (previous == nullptr) {
        cmp->args.push_back(std::move(left));
      } else {
        CT_ASSIGN_OR_RETURN(ExprPtr again, Reparse(previous));
        cmp->args.push_back(std::move(again));
      }
      previous = right.get();
      cmp->args.push_back(std::move(right));
      if (result == nullptr) {
        result = std::move(cmp);
      } else {
        ExprPtr both = MakeExpr(Expr::Kind::kAnd, offset);
        both->args.push_back(std::move(result));
        both->args.push_back(std::move(cmp));
        result = std::move(both);
      }
    }
    return result != nullptr ? std::move(result) : std::move(left);
  }

  // A copy of an already parsed expression (for chained comparisons).
  absl::StatusOr<ExprPtr> Reparse(const Expr* e) {
    ExprPtr copy = MakeExpr(e->kind, e->offset);
    copy->literal = e->literal;
    copy->name = e->name;
    copy->negated = e->negated;
    for (const ExprPtr& a : e->args) {
      if (a == nullptr) {
        copy->args.push_back(nullptr);
        continue;
      }
      CT_ASSIGN_OR_RETURN(ExprPtr c, Reparse(a.get()));
      copy->args.push_back(std::move(c));
    }
    for (const auto& [k, v] : e->kwargs) {
      CT_ASSIGN_OR_RETURN(ExprPtr c, Reparse(v.get()));
      copy->kwargs.emplace_back(k, std::move(c));
    }
    return copy;
  }

  template <typename Sub>
  absl::StatusOr<ExprPtr> ParseBinary(
      std::initializer_list<std::string_view> ops, Sub sub) {
    CT_ASSIGN_OR_RETURN(ExprPtr left, (this->*sub)());
    while (true) {
      std::string op;
      for (std::string_view o : ops) {
        if (IsOp(o)) op = std::string(o);
      }
      if (op.empty()) return left;
      ExprPtr e = MakeExpr(Expr::Kind::kBinary, Next().offset);
      e->name = op;
      CT_ASSIGN_OR_RETURN(ExprPtr right, (this->*sub)());
      e->args.push_back(std::move(left));
      e->args.push_back(std::move(right));
      left = std::move(e);
    }
  }
  absl::StatusOr<ExprPtr> ParseMath1() {
    return ParseBinary({"+", "-"}, &Parser::ParseConcat);
  }
  absl::StatusOr<ExprPtr> ParseConcat() {
    return ParseBinary({"~"}, &Parser::ParseMath2);
  }
  absl::StatusOr<ExprPtr> ParseMath2() {
    return ParseBinary({"*", "/", "//", "%"}, &Parser::ParsePow);
  }
  absl::StatusOr<ExprPtr> ParsePow() {
    return ParseBinary({"**"}, &Parser::ParseUnaryWithFilters);
  }
  absl::StatusOr<ExprPtr> ParseUnaryWithFilters() { return ParseUnary(true); }

  absl::StatusOr<ExprPtr> ParseUnary(bool with_filters) {
    DepthGuard guard(&depth_);
    CT_RETURN_IF_ERROR(CheckDepth());
    ExprPtr e;
    if (IsOp("-") || IsOp("+")) {
      e = MakeExpr(Expr::Kind::kUnary, Peek().offset);
      e->name = Next().text;
      CT_ASSIGN_OR_RETURN(ExprPtr operand, ParseUnary(false));
      e->args.push_back(std::move(operand));
    } else {
      CT_ASSIGN_OR_RETURN(e, ParsePrimary());
    }
    CT_ASSIGN_OR_RETURN(e, ParsePostfix(std::move(e)));
    if (with_filters) {
      CT_ASSIGN_OR_RETURN(e, ParseFilters(std::move(e)));
    }
    return e;
  }

  absl::StatusOr<ExprPtr> ParsePrimary() {
    const Token& t = Peek();
    switch (t.kind) {
      case TokenKind::kName: {
        Next();
        ExprPtr e = MakeExpr(Expr::Kind::kLiteral, t.offset);
        if (t.text == "true" || t.text == "True") {
          e->literal = Value::Bool(true);
        } else if (t.text == "false" || t.text == "False") {
          e->literal = Value::Bool(false);
        } else if (t.text == "none" || t.text == "None") {
          e->literal = Value::None();
        } else {
          e->kind = Expr::Kind::kName;
          e->name = t.text;
        }
        return e;
      }
      case TokenKind::kString: {
        ExprPtr e = MakeExpr(Expr::Kind::kLiteral, t.offset);
        std::string s;
        while (Peek().kind == TokenKind::kString) s += Next().text;
        e->literal = Value::String(std::move(s));
        return e;
      }
      case TokenKind::kInt: {
        Next();
        ExprPtr e = MakeExpr(Expr::Kind::kLiteral, t.offset);
        e->literal = Value::Int(t.int_value);
        return e;
      }
      case TokenKind::kFloat: {
        Next();
        ExprPtr e = MakeExpr(Expr::Kind::kLiteral, t.offset);
        e->literal = Value::Float(t.float_value);
        return e;
      }
      case TokenKind::kOp:
        if (t.text == "(") {
          Next();
          if (SkipOp(")")) return MakeExpr(Expr::Kind::kList, t.offset);
          CT_ASSIGN_OR_RETURN(ExprPtr e, ParseTuple(true));
          CT_RETURN_IF_ERROR(Expect(")"));
          return e;
        }
        if (t.text == "[") {
          Next();
          ExprPtr e = MakeExpr(Expr::Kind::kList, t.offset);
          while (!IsOp("]")) {
            CT_ASSIGN_OR_RETURN(ExprPtr item, ParseExpression(true));
            e->args.push_back(std::move(item));
            if (!SkipOp(",")) break;
          }
          CT_RETURN_IF_ERROR(Expect("]"));
          return e;
        }
        if (t.text == "{") {
          Next();
          ExprPtr e = MakeExpr(Expr::Kind::kDict, t.offset);
          while (!IsOp("}")) {
            CT_ASSIGN_OR_RETURN(ExprPtr key, ParseExpression(true));
            CT_RETURN_IF_ERROR(Expect(":"));
            CT_ASSIGN_OR_RETURN(ExprPtr value, ParseExpression(true));
            e->args.push_back(std::move(key));
            e->args.push_back(std::move(value));
            if (!SkipOp(",")) break;
          }
          CT_RETURN_IF_ERROR(Expect("}"));
          return e;
        }
        break;
      default:
        break;
    }
    return Error(t.offset,
                 absl::StrCat("expected an expression, found ", Describe(t)));
  }

  absl::StatusOr<ExprPtr> ParsePostfix(ExprPtr e) {
    while (true) {
      if (IsOp(".")) {
        const size_t offset = Next().offset;
        if (Peek().kind == TokenKind::kInt) {
          ExprPtr item = MakeExpr(Expr::Kind::kGetItem, offset);
          ExprPtr index = MakeExpr(Expr::Kind::kLiteral, Peek().offset);
          index->literal = Value::Int(Next().int_value);
          item->args.push_back(std::move(e));
          item->args.push_back(std::move(index));
          e = std::move(item);
          continue;
        }
        ExprPtr attr = MakeExpr(Expr::Kind::kGetAttr, offset);
        CT_ASSIGN_OR_RETURN(attr->name, ExpectName("an attribute name"));
        attr->args.push_back(std::move(e));
        e = std::move(attr);
      } else if (IsOp("[")) {
        CT_ASSIGN_OR_RETURN(e, ParseSubscript(std::move(e)));
      } else if (IsOp("(")) {
        CT_ASSIGN_OR_RETURN(e, ParseCall(std::move(e)));
      } else {
        return e;
      }
    }
  }

  absl::StatusOr<ExprPtr> ParseSubscript(ExprPtr e) {
    const size_t offset = Next().offset;  // '['
    ExprPtr parts[3];
    int colons = 0;
    for (int i = 0; i < 3; ++i) {
      if (!IsOp(":") && !IsOp("]")) {
        CT_ASSIGN_OR_RETURN(parts[i], ParseExpression(true));
      }
      if (i < 2 && SkipOp(":")) {
        ++colons;
        continue;
      }
      break;
    }
    CT_RETURN_IF_ERROR(Expect("]"));
    if (colons == 0) {
      if (parts[0] == nullptr) return Error(offset, "empty subscript '[]'");
      ExprPtr item = MakeExpr(Expr::Kind::kGetItem, offset);
      item->args.push_back(std::move(e));
      item->args.push_back(std::move(parts[0]));
      return item;
    }
    ExprPtr slice = MakeExpr(Expr::Kind::kSlice, offset);
    slice->args.push_back(std::move(e));
    for (ExprPtr& p : parts) slice->args.push_back(std::move(p));
    return slice;
  }

  // Arguments after '(' into e->args (after what is there) and e->kwargs.
  absl::Status ParseArgs(Expr* e) {
    CT_RETURN_IF_ERROR(Expect("("));
    while (!IsOp(")")) {
      if (Peek().kind == TokenKind::kName && IsOp("=", 1)) {
        std::string key = Next().text;
        Next();
        CT_ASSIGN_OR_RETURN(ExprPtr value, ParseExpression(true));
        e->kwargs.emplace_back(std::move(key), std::move(value));
      } else {
        if (!e->kwargs.empty()) {
          return Error(Peek().offset,
                       "positional argument after a keyword argument");
        }
        CT_ASSIGN_OR_RETURN(ExprPtr value, ParseExpression(true));
        e->args.push_back(std::move(value));
      }
      if (!SkipOp(",")) break;
    }
    return Expect(")");
  }

  absl::StatusOr<ExprPtr> ParseCall(ExprPtr callee) {
    ExprPtr call = MakeExpr(Expr::Kind::kCall, callee->offset);
    call->args.push_back(std::move(callee));
    CT_RETURN_IF_ERROR(ParseArgs(call.get()));
    return call;
  }

  absl::StatusOr<ExprPtr> ParseFilters(ExprPtr e) {
    while (true) {
      if (IsOp("|")) {
        const size_t offset = Next().offset;
        ExprPtr f = MakeExpr(Expr::Kind::kFilter, offset);
        CT_ASSIGN_OR_RETURN(f->name, ExpectName("a filter name"));
        f->args.push_back(std::move(e));
        if (IsOp("(")) CT_RETURN_IF_ERROR(ParseArgs(f.get()));
        e = std::move(f);
      } else if (IsName("is")) {
        const size_t offset = Next().offset;
        ExprPtr t = MakeExpr(Expr::Kind::kTest, offset);
        t->negated = SkipName("not");
        CT_ASSIGN_OR_RETURN(t->name, ExpectName("a test name"));
        t->args.push_back(std::move(e));
        if (IsOp("(")) {
          CT_RETURN_IF_ERROR(ParseArgs(t.get()));
        } else if (StartsTestArgument()) {
          CT_ASSIGN_OR_RETURN(ExprPtr arg, ParsePrimary());
          CT_ASSIGN_OR_RETURN(arg, ParsePostfix(std::move(arg)));
          t->args.push_back(std::move(arg));
        }
        e = std::move(t);
      } else if (IsOp("(")) {
        CT_ASSIGN_OR_RETURN(e, ParseCall(std::move(e)));
      } else {
        return e;
      }
    }
  }

  // `x is divisibleby 3`: a test's one argument without parentheses.
  bool StartsTestArgument() const {
    const Token& t = Peek();
    if (t.kind == TokenKind::kName) {
      static constexpr std::string_view kStop[] = {"else", "or", "and", "if",
                                                   "in",   "is", "not"};
      for (std::string_view s : kStop) {
        if (t.text == s) return false;
      }
      return true;
    }
    return t.kind == TokenKind::kString || t.kind == TokenKind::kInt ||
           t.kind == TokenKind::kFloat || IsOp("[") || IsOp("{");
  }

  const std::vector<Token>& tokens_;
  std::string_view source_;
  size_t pos_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
};

}  // namespace

absl::StatusOr<Body> Parse(const std::vector<Token>& tokens,
                           std::string_view source) {
  if (tokens.empty()) return Body();
  return Parser(tokens, source).Run();
}

}  // namespace headroom::runtime::chat_template
