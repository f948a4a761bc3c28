#include "runtime/chat_template/untrusted.h"

#include <optional>
#include <string>
#include <utility>

namespace headroom::runtime::chat_template {
namespace {

// MarkDerived's work; nullopt when `v` needs no change.
std::optional<Value> Marked(const Value& v) {
  if (v.is_string()) {
    if (!v.untrusted_ranges().empty() || v.as_string().empty()) {
      return std::nullopt;
    }
    return Value::Untrusted(v.as_string());
  }
  if (v.is_list()) {
    std::optional<ValueList> items;
    const ValueList& in = v.as_list();
    for (size_t i = 0; i < in.size(); ++i) {
      std::optional<Value> m = Marked(in[i]);
      if (!m.has_value()) continue;
      if (!items.has_value()) items = in;
      (*items)[i] = *std::move(m);
    }
    if (!items.has_value()) return std::nullopt;
    return Value::List(*std::move(items));
  }
  if (v.is_dict()) {
    // Keys made from untrusted strings were flagged when the dict was
    // built (evaluator.cc), so only its values can change here.
    ValueDict dict;
    bool changed = false;
    for (const auto& [k, item] : v.as_dict().items()) {
      std::optional<Value> m = Marked(item);
      changed = changed || m.has_value();
      dict.Set(k, m.has_value() ? *std::move(m) : item);
    }
    if (!changed) return std::nullopt;
    return Value::Dict(std::move(dict), /*untrusted_keys=*/true);
  }
  return std::nullopt;
}

}  // namespace

void Append(std::string_view text, const std::vector<ByteRange>& ranges,
            MarkedText* out) {
  const size_t shift = out->text.size();
  out->text.append(text);
  for (const ByteRange& r : ranges) {
    if (r.begin >= r.end) continue;
    if (!out->untrusted.empty() &&
        out->untrusted.back().end == r.begin + shift) {
      out->untrusted.back().end = r.end + shift;
    } else {
      out->untrusted.push_back({r.begin + shift, r.end + shift});
    }
  }
}

absl::StatusOr<MarkedText> PrintMarked(const Value& v, size_t max_bytes) {
  if (v.is_string()) return v.marked_string();
  absl::StatusOr<std::string> text = ToPythonStr(v, max_bytes);
  if (!text.ok()) return text.status();
  MarkedText out;
  out.text = *std::move(text);
  if (v.has_untrusted() && !out.text.empty()) {
    out.untrusted.push_back({0, out.text.size()});
  }
  return out;
}

Value MarkDerived(const Value& result) {
  std::optional<Value> m = Marked(result);
  return m.has_value() ? *std::move(m) : result;
}

Value DerivedFrom(const Value& result, const Value& input,
                  const CallArgs& args) {
  bool untrusted = input.has_untrusted();
  for (const Value& a : args.positional) untrusted |= a.has_untrusted();
  for (const auto& [k, a] : args.keyword) untrusted |= a.has_untrusted();
  return untrusted ? MarkDerived(result) : result;
}

}  // namespace headroom::runtime::chat_template
