#include "runtime/chat_template/evaluator.h"

#include <cmath>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "runtime/chat_template/builtins.h"
#include "runtime/chat_template/lexer.h"
#include "runtime/chat_template/py_string.h"
#include "runtime/chat_template/status_macros.h"
#include "runtime/chat_template/untrusted.h"

namespace headroom::runtime::chat_template {
namespace {

enum class Flow { kNormal, kBreak, kContinue };

// Rough bytes a value holds (strings and list items), for the step budget
// and the size bounds.
size_t ApproxBytes(const Value& v) {
  if (v.is_string()) return v.as_string().size();
  if (v.is_list()) return v.as_list().size() * sizeof(Value);
  if (v.is_dict()) return v.as_dict().size() * sizeof(Value) * 2;
  return 0;
}

// Whether `v` is or holds a namespace (depth-bounded: values nest at most
// kMaxNesting + 1 levels). Namespaces may not hold them: no cycles.
bool HoldsNamespace(const Value& v) {
  if (v.is_namespace()) return true;
  if (v.is_list()) {
    for (const Value& item : v.as_list()) {
      if (item.depth() > 0 || item.is_namespace()) {
        if (HoldsNamespace(item)) return true;
      }
    }
  }
  if (v.is_dict()) {
    for (const auto& [k, item] : v.as_dict().items()) {
      if (HoldsNamespace(item)) return true;
    }
  }
  return false;
}

class Evaluator {
 public:
  Evaluator(std::string_view source, const EvalLimits& limits)
      : source_(source), limits_(limits) {}

  absl::StatusOr<MarkedText> Run(const Body& body, const ValueDict& globals) {
    ValueDict top;
    const std::pair<const char*, Callable::Kind> builtins[] = {
        {"raise_exception", Callable::Kind::kRaiseException},
        {"namespace", Callable::Kind::kNamespace},
        {"range", Callable::Kind::kRange},
        {"dict", Callable::Kind::kDict}};
    for (const auto& [name, kind] : builtins) {
      top.Set(name, Value::Function(Callable{kind, name}));
    }
    for (const auto& [k, v] : globals.items()) top.Set(k, v);
    frames_.push_back(std::move(top));
    MarkedText out;
    CT_ASSIGN_OR_RETURN(Flow flow, Exec(body, &out));
    (void)flow;
    return out;
  }

 private:
  absl::Status Error(size_t offset, std::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("chat template ", DescribePosition(source_, offset), ": ",
                     std::string(what)));
  }
  // `s` from a builtin, with the template position in front.
  absl::Status At(size_t offset, const absl::Status& s) const {
    return absl::Status(
        s.code(),
        absl::StrCat("chat template ", DescribePosition(source_, offset), ": ",
                     std::string(s.message())));
  }

  absl::Status Charge(size_t offset, int64_t units) {
    steps_ += units;
    if (steps_ > limits_.max_steps) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "chat template ", DescribePosition(source_, offset),
          ": rendering exceeds its budget of ", limits_.max_steps, " steps"));
    }
    return absl::OkStatus();
  }

  // Charges for scanning `v` (a string's bytes, a list's items).
  absl::Status ChargeFor(size_t offset, const Value& v) {
    return Charge(offset, static_cast<int64_t>(ApproxBytes(v) / 64));
  }

  // Bounds and charges a value just built.
  absl::Status Account(size_t offset, const Value& v) {
    if (v.is_string() && v.as_string().size() > limits_.max_output_bytes) {
      return absl::ResourceExhaustedError(
          absl::StrCat("chat template ", DescribePosition(source_, offset),
                       ": a string over ", limits_.max_output_bytes, " bytes"));
    }
    if (v.depth() > kMaxNesting) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "chat template ", DescribePosition(source_, offset),
          ": lists or dicts nested deeper than ", kMaxNesting, " levels"));
    }
    if (v.is_list() && v.as_list().size() > kMaxListItems) {
      return absl::ResourceExhaustedError(
          absl::StrCat("chat template ", DescribePosition(source_, offset),
                       ": a list over ", kMaxListItems, " items"));
    }
    return Charge(offset, static_cast<int64_t>(ApproxBytes(v) / 64));
  }

  absl::Status Emit(size_t offset, std::string_view s, MarkedText* out,
                    const std::vector<ByteRange>& untrusted = {}) {
    Append(s, untrusted, out);
    if (out->text.size() > limits_.max_output_bytes) {
      return absl::ResourceExhaustedError(
          absl::StrCat("chat template ", DescribePosition(source_, offset),
                       ": output over ", limits_.max_output_bytes, " bytes"));
    }
    return Charge(offset, static_cast<int64_t>(s.size() / 64));
  }

  // --- names ---

  Value Lookup(const std::string& name) const {
    for (size_t i = frames_.size(); i-- > floor_;) {
      if (i == 0) break;
      if (const Value* v = frames_[i].Find(name)) return *v;
    }
    if (const Value* v = frames_[0].Find(name)) return *v;
    return Value::MakeUndefined(name);
  }
  void Assign(const std::string& name, Value v) {
    frames_.back().Set(name, std::move(v));
  }

  // --- statements ---

  absl::StatusOr<Flow> Exec(const Body& body, MarkedText* out) {
    for (const StmtPtr& s : body) {
      CT_ASSIGN_OR_RETURN(Flow flow, ExecOne(*s, out));
      if (flow != Flow::kNormal) return flow;
    }
    return Flow::kNormal;
  }

  absl::StatusOr<Flow> ExecOne(const Stmt& s, MarkedText* out) {
    CT_RETURN_IF_ERROR(Charge(s.offset, 1));
    switch (s.kind) {
      case Stmt::Kind::kText:
        CT_RETURN_IF_ERROR(Emit(s.offset, s.text, out));
        return Flow::kNormal;
      case Stmt::Kind::kOutput: {
        CT_ASSIGN_OR_RETURN(Value v, Eval(*s.expr));
        absl::StatusOr<MarkedText> text =
            PrintMarked(v, limits_.max_output_bytes);
        if (!text.ok()) return At(s.offset, text.status());
        CT_RETURN_IF_ERROR(Emit(s.offset, text->text, out, text->untrusted));
        return Flow::kNormal;
      }
      case Stmt::Kind::kIf:
        for (const auto& [cond, body] : s.branches) {
          CT_ASSIGN_OR_RETURN(Value c, Eval(*cond));
          if (c.Truthy()) return Exec(body, out);
        }
        return Exec(s.else_body, out);
      case Stmt::Kind::kFor:
        return ExecFor(s, out);
      case Stmt::Kind::kSet: {
        CT_ASSIGN_OR_RETURN(Value v, Eval(*s.expr));
        CT_RETURN_IF_ERROR(Store(s, std::move(v)));
        return Flow::kNormal;
      }
      case Stmt::Kind::kSetBlock: {
        MarkedText captured;
        CT_ASSIGN_OR_RETURN(Flow flow, Exec(s.body, &captured));
        (void)flow;
        CT_RETURN_IF_ERROR(Store(s, Value::String(std::move(captured))));
        return Flow::kNormal;
      }
      case Stmt::Kind::kMacro: {
        Callable c{Callable::Kind::kMacro, s.text, &s};
        Assign(s.text, Value::Function(std::move(c)));
        return Flow::kNormal;
      }
      case Stmt::Kind::kBreak:
        return Flow::kBreak;
      case Stmt::Kind::kContinue:
        return Flow::kContinue;
      case Stmt::Kind::kScope:
        return Exec(s.body, out);
    }
    return Flow::kNormal;
  }

  absl::Status Store(const Stmt& s, Value v) {
    if (!s.attr.empty()) {
      const Value ns = Lookup(s.targets[0]);
      if (!ns.is_namespace()) {
        return Error(s.offset,
                     absl::StrCat("cannot set attribute '", s.attr, "' of '",
                                  s.targets[0], "', a value of type ",
                                  TypeName(ns), " (only namespace objects)"));
      }
      if (HoldsNamespace(v)) {
        return Error(s.offset, absl::StrCat("cannot store a namespace in "
                                            "namespace '",
                                            s.targets[0], "'"));
      }
      ns.namespace_attrs().Set(s.attr, std::move(v));
      return absl::OkStatus();
    }
    if (s.targets.size() == 1) {
      Assign(s.targets[0], std::move(v));
      return absl::OkStatus();
    }
    return Unpack(s.offset, s.targets, v);
  }

  absl::Status Unpack(size_t offset, const std::vector<std::string>& targets,
                      const Value& v) {
    if (!v.is_list() || v.as_list().size() != targets.size()) {
      return Error(offset,
                   absl::StrCat("cannot unpack a value of type ", TypeName(v),
                                " into ", targets.size(), " names"));
    }
    for (size_t i = 0; i < targets.size(); ++i) {
      Assign(targets[i], v.as_list()[i]);
    }
    return absl::OkStatus();
  }

  absl::Status BindTargets(const Stmt& s, const Value& item) {
    if (s.targets.size() == 1) {
      Assign(s.targets[0], item);
      return absl::OkStatus();
    }
    return Unpack(s.offset, s.targets, item);
  }

  absl::StatusOr<Flow> ExecFor(const Stmt& s, MarkedText* out) {
    CT_ASSIGN_OR_RETURN(Value iterable, Eval(*s.expr));
    if (iterable.is_string()) {  // one value per character
      CT_RETURN_IF_ERROR(
          Charge(s.offset, static_cast<int64_t>(iterable.as_string().size())));
    }
    absl::StatusOr<ValueList> all = Iterate(iterable);
    if (!all.ok()) return At(s.expr->offset, all.status());
    ValueList items = std::move(*all);
    // A string's characters and a dict's keys are new strings.
    if ((iterable.is_string() || iterable.is_dict()) &&
        iterable.has_untrusted()) {
      for (Value& item : items) item = MarkDerived(item);
    }
    frames_.emplace_back();
    struct Pop {
      std::vector<ValueDict>* f;
      ~Pop() { f->pop_back(); }
    } pop{&frames_};
    if (s.cond != nullptr) {
      ValueList kept;
      for (const Value& item : items) {
        CT_RETURN_IF_ERROR(Charge(s.offset, 1));
        CT_RETURN_IF_ERROR(BindTargets(s, item));
        CT_ASSIGN_OR_RETURN(Value keep, Eval(*s.cond));
        if (keep.Truthy()) kept.push_back(item);
      }
      items = std::move(kept);
    }
    const int64_t n = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < n; ++i) {
      CT_RETURN_IF_ERROR(Charge(s.offset, 1));
      frames_.back() = ValueDict();
      ValueDict loop;
      loop.Set("index", Value::Int(i + 1));
      loop.Set("index0", Value::Int(i));
      loop.Set("revindex", Value::Int(n - i));
      loop.Set("revindex0", Value::Int(n - i - 1));
      loop.Set("first", Value::Bool(i == 0));
      loop.Set("last", Value::Bool(i == n - 1));
      loop.Set("length", Value::Int(n));
      loop.Set("depth", Value::Int(1));
      loop.Set("depth0", Value::Int(0));
      if (i > 0) loop.Set("previtem", items[i - 1]);
      if (i + 1 < n) loop.Set("nextitem", items[i + 1]);
      Callable cycle{Callable::Kind::kLoopCycle, "loop.cycle"};
      cycle.index = i;
      loop.Set("cycle", Value::Function(std::move(cycle)));
      Assign("loop", Value::Dict(std::move(loop)));
      CT_RETURN_IF_ERROR(BindTargets(s, items[i]));
      CT_ASSIGN_OR_RETURN(Flow flow, Exec(s.body, out));
      if (flow == Flow::kBreak) break;
    }
    if (n == 0) {
      frames_.back() = ValueDict();
      CT_ASSIGN_OR_RETURN(Flow flow, Exec(s.else_body, out));
      (void)flow;
    }
    return Flow::kNormal;
  }

  // --- expressions ---

  absl::StatusOr<Value> Eval(const Expr& e) {
    CT_RETURN_IF_ERROR(Charge(e.offset, 1));
    switch (e.kind) {
      case Expr::Kind::kLiteral:
        return e.literal;
      case Expr::Kind::kName:
        return Lookup(e.name);
      case Expr::Kind::kList: {
        ValueList items;
        for (const ExprPtr& a : e.args) {
          CT_ASSIGN_OR_RETURN(Value v, Eval(*a));
          items.push_back(std::move(v));
        }
        Value list = Value::List(std::move(items));
        CT_RETURN_IF_ERROR(Account(e.offset, list));
        return list;
      }
      case Expr::Kind::kDict: {
        ValueDict dict;
        bool untrusted_keys = false;
        for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
          CT_ASSIGN_OR_RETURN(Value k, Eval(*e.args[i]));
          if (!k.is_string()) {
            return Error(
                e.args[i]->offset,
                absl::StrCat("dict keys must be strings, not ", TypeName(k)));
          }
          CT_ASSIGN_OR_RETURN(Value v, Eval(*e.args[i + 1]));
          untrusted_keys = untrusted_keys || k.has_untrusted();
          dict.Set(k.as_string(), std::move(v));
        }
        Value d = Value::Dict(std::move(dict), untrusted_keys);
        CT_RETURN_IF_ERROR(Account(e.offset, d));
        return d;
      }
      case Expr::Kind::kGetAttr: {
        CT_ASSIGN_OR_RETURN(Value obj, Eval(*e.args[0]));
        return GetAttr(e.offset, obj, e.name);
      }
      case Expr::Kind::kGetItem: {
        CT_ASSIGN_OR_RETURN(Value obj, Eval(*e.args[0]));
        CT_ASSIGN_OR_RETURN(Value key, Eval(*e.args[1]));
        return GetItem(e.offset, obj, key);
      }
      case Expr::Kind::kSlice:
        return EvalSlice(e);
      case Expr::Kind::kCall:
        return EvalCall(e);
      case Expr::Kind::kFilter: {
        CT_ASSIGN_OR_RETURN(Value input, Eval(*e.args[0]));
        CT_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(e, 1));
        CT_RETURN_IF_ERROR(ChargeFor(e.offset, input));
        absl::StatusOr<Value> v = ApplyFilter(
            e.name, input, args, BuiltinLimits{limits_.max_output_bytes});
        if (!v.ok()) return At(e.offset, v.status());
        CT_RETURN_IF_ERROR(Account(e.offset, *v));
        return DerivedFrom(*v, input, args);
      }
      case Expr::Kind::kTest: {
        CT_ASSIGN_OR_RETURN(Value input, Eval(*e.args[0]));
        CT_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(e, 1));
        CT_RETURN_IF_ERROR(ChargeFor(e.offset, input));
        absl::StatusOr<bool> v = ApplyTest(e.name, input, args);
        if (!v.ok()) return At(e.offset, v.status());
        return Value::Bool(*v != e.negated);
      }
      case Expr::Kind::kUnary:
        return EvalUnary(e);
      case Expr::Kind::kBinary:
        return EvalBinary(e);
      case Expr::Kind::kAnd: {
        CT_ASSIGN_OR_RETURN(Value a, Eval(*e.args[0]));
        if (!a.Truthy()) return a;
        return Eval(*e.args[1]);
      }
      case Expr::Kind::kOr: {
        CT_ASSIGN_OR_RETURN(Value a, Eval(*e.args[0]));
        if (a.Truthy()) return a;
        return Eval(*e.args[1]);
      }
      case Expr::Kind::kCond: {
        CT_ASSIGN_OR_RETURN(Value c, Eval(*e.args[0]));
        if (c.Truthy()) return Eval(*e.args[1]);
        if (e.args[2] == nullptr) return Value::MakeUndefined("");
        return Eval(*e.args[2]);
      }
    }
    return Error(e.offset, "unknown expression");
  }

  absl::Status UndefinedError(size_t offset, const Value& v) const {
    return Error(offset,
                 absl::StrCat("'", v.undefined_name(), "' is undefined"));
  }

  absl::StatusOr<Value> GetAttr(size_t offset, const Value& obj,
                                const std::string& name) {
    if (obj.is_undefined()) return UndefinedError(offset, obj);
    if (obj.is_dict()) {
      if (const Value* v = obj.as_dict().Find(name)) return *v;
    } else if (obj.is_namespace()) {
      if (const Value* v = obj.namespace_attrs().Find(name)) return *v;
    }
    return Value::MakeUndefined(name);
  }

  absl::StatusOr<Value> GetItem(size_t offset, const Value& obj,
                                const Value& key) {
    if (obj.is_undefined()) return UndefinedError(offset, obj);
    if (obj.is_dict() || obj.is_namespace()) {
      if (!key.is_string()) return Value::MakeUndefined("");
      return GetAttr(offset, obj, key.as_string());
    }
    if (key.is_int() && (obj.is_list() || obj.is_string())) {
      int64_t i = key.as_int();
      if (obj.is_list()) {
        const int64_t n = static_cast<int64_t>(obj.as_list().size());
        if (i < 0) i += n;
        if (i < 0 || i >= n) return Value::MakeUndefined(absl::StrCat(i));
        return obj.as_list()[static_cast<size_t>(i)];
      }
      CT_RETURN_IF_ERROR(ChargeFor(offset, obj));
      const std::vector<std::string_view> chars = SplitChars(obj.as_string());
      const int64_t n = static_cast<int64_t>(chars.size());
      if (i < 0) i += n;
      if (i < 0 || i >= n) return Value::MakeUndefined(absl::StrCat(i));
      return DerivedFrom(
          Value::String(std::string(chars[static_cast<size_t>(i)])), obj, {});
    }
    return Value::MakeUndefined("");
  }

  absl::StatusOr<std::optional<int64_t>> SliceIndex(const ExprPtr& e) {
    if (e == nullptr) return std::optional<int64_t>();
    CT_ASSIGN_OR_RETURN(Value v, Eval(*e));
    if (v.is_none()) return std::optional<int64_t>();
    if (!v.is_int()) {
      return Error(e->offset, absl::StrCat("slice indices must be integers, "
                                           "not ",
                                           TypeName(v)));
    }
    return std::optional<int64_t>(v.as_int());
  }

  absl::StatusOr<Value> EvalSlice(const Expr& e) {
    CT_ASSIGN_OR_RETURN(Value obj, Eval(*e.args[0]));
    CT_ASSIGN_OR_RETURN(std::optional<int64_t> start, SliceIndex(e.args[1]));
    CT_ASSIGN_OR_RETURN(std::optional<int64_t> stop, SliceIndex(e.args[2]));
    CT_ASSIGN_OR_RETURN(std::optional<int64_t> step_opt, SliceIndex(e.args[3]));
    const int64_t step = step_opt.value_or(1);
    if (step == 0) return Error(e.offset, "slice step cannot be zero");
    if (step == INT64_MIN) return Error(e.offset, "slice step out of range");
    if (obj.is_undefined()) return UndefinedError(e.offset, obj);
    std::vector<std::string_view> chars;
    int64_t n;
    if (obj.is_list()) {
      n = static_cast<int64_t>(obj.as_list().size());
    } else if (obj.is_string()) {
      CT_RETURN_IF_ERROR(ChargeFor(e.offset, obj));
      chars = SplitChars(obj.as_string());
      n = static_cast<int64_t>(chars.size());
    } else {
      return Error(e.offset, absl::StrCat("cannot slice a value of type ",
                                          TypeName(obj)));
    }
    int64_t first;
    int64_t last;
    int64_t count;
    PySliceIndices(n, start, stop, step, &first, &last, &count);
    CT_RETURN_IF_ERROR(Charge(e.offset, count / 16));
    Value result;
    if (obj.is_list()) {
      ValueList out;
      for (int64_t k = 0, i = first; k < count; ++k, i += step) {
        out.push_back(obj.as_list()[static_cast<size_t>(i)]);
      }
      result = Value::List(std::move(out));
    } else {
      std::string out;
      for (int64_t k = 0, i = first; k < count; ++k, i += step) {
        out.append(chars[static_cast<size_t>(i)]);
      }
      result = DerivedFrom(Value::String(std::move(out)), obj, {});
    }
    CT_RETURN_IF_ERROR(Account(e.offset, result));
    return result;
  }

  absl::StatusOr<CallArgs> EvalArgs(const Expr& e, size_t first) {
    CallArgs args;
    for (size_t i = first; i < e.args.size(); ++i) {
      CT_ASSIGN_OR_RETURN(Value v, Eval(*e.args[i]));
      args.positional.push_back(std::move(v));
    }
    for (const auto& [k, x] : e.kwargs) {
      CT_ASSIGN_OR_RETURN(Value v, Eval(*x));
      args.keyword.emplace_back(k, std::move(v));
    }
    return args;
  }

  absl::StatusOr<Value> EvalCall(const Expr& e) {
    const Expr& callee = *e.args[0];
    // obj.method(...) on strings and dicts.
    if (callee.kind == Expr::Kind::kGetAttr) {
      CT_ASSIGN_OR_RETURN(Value obj, Eval(*callee.args[0]));
      if (obj.is_undefined()) return UndefinedError(callee.offset, obj);
      if (obj.is_string() || (obj.is_dict() && HasMethod(obj, callee.name))) {
        CT_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(e, 1));
        CT_RETURN_IF_ERROR(ChargeFor(e.offset, obj));
        absl::StatusOr<Value> v = CallMethod(
            obj, callee.name, args, BuiltinLimits{limits_.max_output_bytes});
        if (!v.ok()) return At(callee.offset, v.status());
        CT_RETURN_IF_ERROR(Account(e.offset, *v));
        return DerivedFrom(*v, obj, args);
      }
      CT_ASSIGN_OR_RETURN(Value f, GetAttr(callee.offset, obj, callee.name));
      return CallValue(e, f);
    }
    CT_ASSIGN_OR_RETURN(Value f, Eval(callee));
    return CallValue(e, f);
  }

  absl::StatusOr<Value> CallValue(const Expr& e, const Value& f) {
    if (f.is_undefined()) {
      return Error(e.offset, absl::StrCat("'", f.undefined_name(),
                                          "' is undefined (called)"));
    }
    if (!f.is_callable()) {
      return Error(e.offset, absl::StrCat("a value of type ", TypeName(f),
                                          " is not callable"));
    }
    CT_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(e, 1));
    const Callable& c = f.as_callable();
    switch (c.kind) {
      case Callable::Kind::kMacro:
        return CallMacro(e, *static_cast<const Stmt*>(c.macro), args);
      case Callable::Kind::kRaiseException: {
        std::string message;
        if (!args.positional.empty()) {
          absl::StatusOr<std::string> m = ToPythonStr(args.positional[0], 4096);
          if (m.ok()) message = *m;
        }
        return Error(e.offset, absl::StrCat("raise_exception: ", message));
      }
      case Callable::Kind::kNamespace:
      case Callable::Kind::kDict: {
        ValueDict attrs;
        bool untrusted_keys = false;
        for (const Value& p : args.positional) {
          if (!p.is_dict()) {
            return Error(e.offset, absl::StrCat(c.name,
                                                "() takes a dict and "
                                                "keyword arguments"));
          }
          for (const auto& [k, v] : p.as_dict().items()) attrs.Set(k, v);
          untrusted_keys = untrusted_keys || p.has_untrusted();
        }
        for (auto& [k, v] : args.keyword) attrs.Set(k, v);
        if (c.kind == Callable::Kind::kDict) {
          return Value::Dict(std::move(attrs), untrusted_keys);
        }
        return Value::Namespace(std::move(attrs));
      }
      case Callable::Kind::kRange:
        return Range(e.offset, args);
      case Callable::Kind::kLoopCycle: {
        if (args.positional.empty()) {
          return Error(e.offset, "loop.cycle() needs at least one value");
        }
        const int64_t n = static_cast<int64_t>(args.positional.size());
        return args.positional[static_cast<size_t>(c.index % n)];
      }
    }
    return Error(e.offset, "unknown callable");
  }

  absl::StatusOr<Value> Range(size_t offset, const CallArgs& args) {
    if (!args.keyword.empty() || args.positional.empty() ||
        args.positional.size() > 3) {
      return Error(offset, "range() takes 1 to 3 integer arguments");
    }
    int64_t p[3];
    for (size_t i = 0; i < args.positional.size(); ++i) {
      if (!args.positional[i].is_int()) {
        return Error(offset, "range() takes integer arguments");
      }
      p[i] = args.positional[i].as_int();
    }
    int64_t start = 0;
    int64_t stop = p[0];
    int64_t step = 1;
    if (args.positional.size() >= 2) {
      start = p[0];
      stop = p[1];
    }
    if (args.positional.size() == 3) step = p[2];
    if (step == 0) return Error(offset, "range() step must not be zero");
    // Count without overflow: work in long double.
    const long double span = static_cast<long double>(stop) - start;
    long double count = std::ceil(span / step);
    if (count < 0) count = 0;
    if (count > kMaxRange) {
      return absl::ResourceExhaustedError(
          absl::StrCat("chat template ", DescribePosition(source_, offset),
                       ": range() of more than ", kMaxRange, " items"));
    }
    ValueList out;
    for (int64_t k = 0; k < static_cast<int64_t>(count); ++k) {
      out.push_back(Value::Int(start + k * step));
    }
    Value list = Value::List(std::move(out));
    CT_RETURN_IF_ERROR(Account(offset, list));
    return list;
  }

  absl::StatusOr<Value> CallMacro(const Expr& e, const Stmt& macro,
                                  const CallArgs& args) {
    if (call_depth_ >= kMaxCallDepth) {
      return absl::ResourceExhaustedError(
          absl::StrCat("chat template ", DescribePosition(source_, e.offset),
                       ": macro calls nested deeper than ", kMaxCallDepth));
    }
    if (args.positional.size() > macro.targets.size()) {
      return Error(e.offset, absl::StrCat("macro '", macro.text, "' takes ",
                                          macro.targets.size(), " arguments"));
    }
    ValueDict frame;
    for (size_t i = 0; i < args.positional.size(); ++i) {
      frame.Set(macro.targets[i], args.positional[i]);
    }
    for (const auto& [k, v] : args.keyword) {
      bool known = false;
      for (const std::string& t : macro.targets) known = known || t == k;
      if (!known) {
        return Error(e.offset, absl::StrCat("macro '", macro.text,
                                            "' has no parameter '", k, "'"));
      }
      frame.Set(k, v);
    }
    const size_t saved_floor = floor_;
    frames_.push_back(ValueDict());
    floor_ = frames_.size() - 1;
    ++call_depth_;
    struct Restore {
      Evaluator* ev;
      size_t floor;
      ~Restore() {
        ev->frames_.pop_back();
        ev->floor_ = floor;
        --ev->call_depth_;
      }
    } restore{this, saved_floor};
    for (size_t i = 0; i < macro.targets.size(); ++i) {
      const Value* given = frame.Find(macro.targets[i]);
      if (given != nullptr) {
        Assign(macro.targets[i], *given);
      } else if (macro.defaults[i] != nullptr) {
        CT_ASSIGN_OR_RETURN(Value d, Eval(*macro.defaults[i]));
        Assign(macro.targets[i], std::move(d));
      } else {
        Assign(macro.targets[i], Value::MakeUndefined(macro.targets[i]));
      }
    }
    MarkedText out;
    CT_ASSIGN_OR_RETURN(Flow flow, Exec(macro.body, &out));
    (void)flow;
    return Value::String(std::move(out));
  }

  absl::StatusOr<Value> EvalUnary(const Expr& e) {
    CT_ASSIGN_OR_RETURN(Value v, Eval(*e.args[0]));
    if (e.name == "not") return Value::Bool(!v.Truthy());
    if (v.is_undefined()) return UndefinedError(e.offset, v);
    if (v.is_bool()) v = Value::Int(v.as_bool() ? 1 : 0);
    if (e.name == "+" && v.is_number()) return v;
    if (v.is_int()) {
      if (v.as_int() == INT64_MIN) return Error(e.offset, "integer overflow");
      return Value::Int(-v.as_int());
    }
    if (v.is_float()) return Value::Float(-v.as_float());
    return Error(e.offset, absl::StrCat("bad operand type for unary ", e.name,
                                        ": ", TypeName(v)));
  }

  absl::StatusOr<Value> EvalBinary(const Expr& e) {
    CT_ASSIGN_OR_RETURN(Value a, Eval(*e.args[0]));
    CT_ASSIGN_OR_RETURN(Value b, Eval(*e.args[1]));
    // Comparisons and `in` scan their operands.
    CT_RETURN_IF_ERROR(ChargeFor(e.offset, a));
    CT_RETURN_IF_ERROR(ChargeFor(e.offset, b));
    const std::string& op = e.name;
    if (op == "==") return Value::Bool(ValuesEqual(a, b));
    if (op == "!=") return Value::Bool(!ValuesEqual(a, b));
    if (op == "in" || op == "not in") {
      absl::StatusOr<bool> in = ValueIn(a, b);
      if (!in.ok()) return At(e.offset, in.status());
      return Value::Bool(*in == (op == "in"));
    }
    if (op == "~") {
      absl::StatusOr<MarkedText> x = PrintMarked(a, limits_.max_output_bytes);
      if (!x.ok()) return At(e.offset, x.status());
      absl::StatusOr<MarkedText> y = PrintMarked(b, limits_.max_output_bytes);
      if (!y.ok()) return At(e.offset, y.status());
      if (x->text.size() + y->text.size() > limits_.max_output_bytes) {
        return TooBig(e.offset);
      }
      Append(y->text, y->untrusted, &*x);
      Value v = Value::String(*std::move(x));
      CT_RETURN_IF_ERROR(Account(e.offset, v));
      return v;
    }
    if (a.is_undefined()) return UndefinedError(e.offset, a);
    if (b.is_undefined()) return UndefinedError(e.offset, b);
    if (op == "<" || op == "<=" || op == ">" || op == ">=") {
      absl::StatusOr<int> c = CompareValues(a, b);
      if (!c.ok()) return At(e.offset, c.status());
      if (op == "<") return Value::Bool(*c < 0);
      if (op == "<=") return Value::Bool(*c <= 0);
      if (op == ">") return Value::Bool(*c > 0);
      return Value::Bool(*c >= 0);
    }
    CT_ASSIGN_OR_RETURN(Value v, Arithmetic(e, a, b));
    CT_RETURN_IF_ERROR(Account(e.offset, v));
    return v;
  }

  absl::Status TooBig(size_t offset) const {
    return absl::ResourceExhaustedError(absl::StrCat(
        "chat template ", DescribePosition(source_, offset), ": a value over ",
        limits_.max_output_bytes, " bytes or ", kMaxListItems, " items"));
  }

  absl::StatusOr<Value> Arithmetic(const Expr& e, Value a, Value b) {
    const std::string& op = e.name;
    auto type_error = [&]() {
      return Error(e.offset,
                   absl::StrCat("unsupported operand types for ", op, ": ",
                                TypeName(a), " and ", TypeName(b)));
    };
    if (op == "+") {
      if (a.is_string() && b.is_string()) {
        if (a.as_string().size() + b.as_string().size() >
            limits_.max_output_bytes) {
          return TooBig(e.offset);
        }
        MarkedText out = a.marked_string();
        Append(b.as_string(), b.untrusted_ranges(), &out);
        return Value::String(std::move(out));
      }
      if (a.is_list() && b.is_list()) {
        if (a.as_list().size() + b.as_list().size() > kMaxListItems) {
          return TooBig(e.offset);
        }
        ValueList out = a.as_list();
        out.insert(out.end(), b.as_list().begin(), b.as_list().end());
        return Value::List(std::move(out));
      }
    }
    if (op == "*") {
      // Repetition: str * int, list * int, either order.
      if (b.is_string() || b.is_list()) std::swap(a, b);
      if ((a.is_string() || a.is_list()) && (b.is_int() || b.is_bool())) {
        const int64_t n =
            std::max<int64_t>(0, b.is_bool() ? b.as_bool() : b.as_int());
        const size_t unit =
            a.is_string() ? a.as_string().size() : a.as_list().size();
        const size_t cap =
            a.is_string() ? limits_.max_output_bytes : kMaxListItems;
        if (unit != 0 && static_cast<uint64_t>(n) > cap / unit) {
          return TooBig(e.offset);
        }
        if (a.is_string()) {
          MarkedText out;
          for (int64_t i = 0; i < n; ++i) {
            Append(a.as_string(), a.untrusted_ranges(), &out);
          }
          return Value::String(std::move(out));
        }
        ValueList out;
        for (int64_t i = 0; i < n; ++i) {
          out.insert(out.end(), a.as_list().begin(), a.as_list().end());
        }
        return Value::List(std::move(out));
      }
    }
    if (a.is_bool()) a = Value::Int(a.as_bool() ? 1 : 0);
    if (b.is_bool()) b = Value::Int(b.as_bool() ? 1 : 0);
    if (!a.is_number() || !b.is_number()) return type_error();
    if (a.is_int() && b.is_int() && op != "/") {
      const int64_t x = a.as_int();
      const int64_t y = b.as_int();
      int64_t r = 0;
      if (op == "+") {
        if (__builtin_add_overflow(x, y, &r))
          return Error(e.offset, "integer overflow");
        return Value::Int(r);
      }
      if (op == "-") {
        if (__builtin_sub_overflow(x, y, &r))
          return Error(e.offset, "integer overflow");
        return Value::Int(r);
      }
      if (op == "*") {
        if (__builtin_mul_overflow(x, y, &r))
          return Error(e.offset, "integer overflow");
        return Value::Int(r);
      }
      if (op == "//" || op == "%") {
        if (y == 0)
          return Error(e.offset, "integer division or modulo by zero");
        if (x == INT64_MIN && y == -1)
          return Error(e.offset, "integer overflow");
        int64_t q = x / y;
        int64_t m = x % y;
        if (m != 0 && ((m < 0) != (y < 0))) {
          --q;
          m += y;
        }
        return Value::Int(op == "//" ? q : m);
      }
      if (op == "**") {
        if (y < 0) return Value::Float(std::pow(static_cast<double>(x), y));
        int64_t result = 1;
        for (int64_t i = 0; i < y; ++i) {
          if (__builtin_mul_overflow(result, x, &result)) {
            return Error(e.offset, "integer overflow");
          }
          if (result == 0 || result == 1) break;
          if (result == -1) {
            result = ((y - i - 1) % 2 == 0) ? -1 : 1;
            break;
          }
        }
        return Value::Int(result);
      }
    }
    const double x = a.as_number();
    const double y = b.as_number();
    if (op == "+") return Value::Float(x + y);
    if (op == "-") return Value::Float(x - y);
    if (op == "*") return Value::Float(x * y);
    if (op == "/") {
      if (y == 0) return Error(e.offset, "division by zero");
      return Value::Float(x / y);
    }
    if (op == "//" || op == "%") {
      if (y == 0) return Error(e.offset, "float division or modulo by zero");
      double m = std::fmod(x, y);
      if (m != 0 && ((m < 0) != (y < 0))) m += y;
      if (op == "%") return Value::Float(m);
      return Value::Float(std::floor(x / y));
    }
    if (op == "**") return Value::Float(std::pow(x, y));
    return type_error();
  }

  std::string_view source_;
  EvalLimits limits_;
  std::vector<ValueDict> frames_;
  size_t floor_ = 0;
  int call_depth_ = 0;
  int64_t steps_ = 0;
};

}  // namespace

absl::StatusOr<MarkedText> Evaluate(const Body& body, std::string_view source,
                                    const ValueDict& globals,
                                    const EvalLimits& limits) {
  return Evaluator(source, limits).Run(body, globals);
}

}  // namespace headroom::runtime::chat_template
