// The syntax tree of a template: expressions and statements. Each node keeps
// the source offset it came from, for error messages.
#ifndef HEADROOM_RUNTIME_CHAT_TEMPLATE_AST_H_
#define HEADROOM_RUNTIME_CHAT_TEMPLATE_AST_H_

#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "runtime/chat_template/value.h"

namespace headroom::runtime::chat_template {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum class Kind {
    kLiteral,  // literal
    kName,     // name
    kList,     // args: the items (tuples are lists too)
    kDict,     // args alternate key, value
    kGetAttr,  // args[0].name
    kGetItem,  // args[0][args[1]]
    kSlice,    // args[0][args[1]:args[2]:args[3]] (null parts absent)
    kCall,     // args[0](args[1..], kwargs)
    kFilter,   // args[0] | name(args[1..], kwargs)
    kTest,     // args[0] is [not: negated] name(args[1..])
    kUnary,    // name ("-", "+", "not") args[0]
    kBinary,   // args[0] name args[1]: + - * / // % ** ~ == != < <= > >=
               // in, "not in"
    kAnd,      // args[0] and args[1]
    kOr,       // args[0] or args[1]
    kCond,     // args[1] if args[0] else args[2] (args[2] may be null)
  };
  Kind kind;
  size_t offset = 0;
  Value literal;
  std::string name;
  bool negated = false;
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct Stmt {
  enum class Kind {
    kText,      // text
    kOutput,    // {{ expr }}
    kIf,        // branches (cond, body)..., else_body
    kFor,       // for targets in expr [if cond]: body [else: else_body]
    kSet,       // set targets = expr, or set target.attr = expr
    kSetBlock,  // {% set target %}body{% endset %}
    kMacro,     // macro name(params) body
    kBreak,
    kContinue,
    kScope,  // a body that only groups: {% generation %}
  };
  Kind kind;
  size_t offset = 0;
  std::string text;
  ExprPtr expr;
  ExprPtr cond;                      // for: the filter
  std::vector<std::string> targets;  // for / set names; macro params
  std::string attr;                  // set ns.attr: targets[0] is ns
  std::vector<ExprPtr> defaults;     // macro: one per param (null: none)
  std::vector<std::pair<ExprPtr, Body>> branches;  // if / elif
  Body body;
  Body else_body;
};

}  // namespace headroom::runtime::chat_template

#endif  // HEADROOM_RUNTIME_CHAT_TEMPLATE_AST_H_
