#include "runtime/chat_template/py_string.h"

#include <algorithm>

namespace headroom::runtime::chat_template {

bool IsPyWhitespace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
         c == '\v' || (c >= '\x1c' && c <= '\x1f');
}

std::vector<std::string_view> SplitChars(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char b = static_cast<unsigned char>(s[i]);
    size_t n = 1;
    if (b >= 0xF0 && b < 0xF8) {
      n = 4;
    } else if (b >= 0xE0) {
      n = b < 0xF0 ? 3 : 1;
    } else if (b >= 0xC0) {
      n = 2;
    }
    if (i + n > s.size()) n = 1;
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) {
        n = 1;
        break;
      }
    }
    out.push_back(s.substr(i, n));
    i += n;
  }
  return out;
}

int64_t CharCount(std::string_view s) {
  int64_t n = 0;
  for (const std::string_view c : SplitChars(s)) {
    (void)c;
    ++n;
  }
  return n;
}

std::string PyStrip(std::string_view s, const std::optional<std::string>& chars,
                    StripSide side) {
  if (!chars.has_value()) {
    size_t b = 0;
    size_t e = s.size();
    if (side != StripSide::kRight) {
      while (b < e && IsPyWhitespace(s[b])) ++b;
    }
    if (side != StripSide::kLeft) {
      while (e > b && IsPyWhitespace(s[e - 1])) --e;
    }
    return std::string(s.substr(b, e - b));
  }
  const std::vector<std::string_view> set = SplitChars(*chars);
  const std::vector<std::string_view> cs = SplitChars(s);
  auto in_set = [&](std::string_view c) {
    return std::find(set.begin(), set.end(), c) != set.end();
  };
  size_t b = 0;
  size_t e = cs.size();
  if (side != StripSide::kRight) {
    while (b < e && in_set(cs[b])) ++b;
  }
  if (side != StripSide::kLeft) {
    while (e > b && in_set(cs[e - 1])) --e;
  }
  std::string out;
  for (size_t i = b; i < e; ++i) out.append(cs[i]);
  return out;
}

std::vector<std::string> PySplit(std::string_view s,
                                 const std::optional<std::string>& sep,
                                 int64_t maxsplit) {
  std::vector<std::string> out;
  if (!sep.has_value()) {
    size_t i = 0;
    while (true) {
      while (i < s.size() && IsPyWhitespace(s[i])) ++i;
      if (i >= s.size()) break;
      if (maxsplit >= 0 && static_cast<int64_t>(out.size()) >= maxsplit) {
        // The rest, trailing whitespace stripped.
        size_t e = s.size();
        while (e > i && IsPyWhitespace(s[e - 1])) --e;
        out.emplace_back(s.substr(i, e - i));
        break;
      }
      size_t j = i;
      while (j < s.size() && !IsPyWhitespace(s[j])) ++j;
      out.emplace_back(s.substr(i, j - i));
      i = j;
    }
    return out;
  }
  size_t start = 0;
  while (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) {
    const size_t found = s.find(*sep, start);
    if (found == std::string_view::npos) break;
    out.emplace_back(s.substr(start, found - start));
    start = found + sep->size();
  }
  out.emplace_back(s.substr(start));
  return out;
}

size_t PyReplaceSize(std::string_view s, std::string_view old,
                     std::string_view repl, int64_t count) {
  if (old.empty()) {
    const int64_t slots = CharCount(s) + 1;
    const int64_t n = count < 0 ? slots : std::min(count, slots);
    return s.size() + static_cast<size_t>(n) * repl.size();
  }
  size_t size = s.size();
  size_t pos = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    const size_t found = s.find(old, pos);
    if (found == std::string_view::npos) break;
    size = size - old.size() + repl.size();
    pos = found + old.size();
    ++done;
  }
  return size;
}

std::string PyReplace(std::string_view s, std::string_view old,
                      std::string_view repl, int64_t count) {
  std::string out;
  if (old.empty()) {
    int64_t done = 0;
    for (const std::string_view c : SplitChars(s)) {
      if (count < 0 || done < count) {
        out.append(repl);
        ++done;
      }
      out.append(c);
    }
    if (count < 0 || done < count) out.append(repl);
    return out;
  }
  size_t pos = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    const size_t found = s.find(old, pos);
    if (found == std::string_view::npos) break;
    out.append(s.substr(pos, found - pos));
    out.append(repl);
    pos = found + old.size();
    ++done;
  }
  out.append(s.substr(pos));
  return out;
}

std::string PyUpper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

std::string PyLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string PyCapitalize(std::string_view s) {
  std::string out = PyLower(s);
  if (!out.empty() && out[0] >= 'a' && out[0] <= 'z') {
    out[0] = static_cast<char>(out[0] - 'a' + 'A');
  }
  return out;
}

std::string PyTitle(std::string_view s) {
  std::string out(s);
  bool previous_cased = false;
  for (char& c : out) {
    const bool lower = c >= 'a' && c <= 'z';
    const bool upper = c >= 'A' && c <= 'Z';
    if (lower && !previous_cased) c = static_cast<char>(c - 'a' + 'A');
    if (upper && previous_cased) c = static_cast<char>(c - 'A' + 'a');
    previous_cased = lower || upper;
  }
  return out;
}

void PySliceIndices(int64_t length, std::optional<int64_t> start,
                    std::optional<int64_t> stop, int64_t step, int64_t* first,
                    int64_t* last, int64_t* count) {
  auto adjust = [&](std::optional<int64_t> v, int64_t def, int64_t lo,
                    int64_t hi) {
    if (!v.has_value()) return def;
    int64_t x = *v;
    if (x < 0) x += length;
    return std::clamp(x, lo, hi);
  };
  int64_t b;
  int64_t e;
  if (step > 0) {
    b = adjust(start, 0, 0, length);
    e = adjust(stop, length, 0, length);
    *count = e > b ? (e - b - 1) / step + 1 : 0;
  } else {
    b = adjust(start, length - 1, -1, length - 1);
    e = adjust(stop, -1, -1, length - 1);
    *count = b > e ? (b - e - 1) / -step + 1 : 0;
  }
  *first = b;
  *last = e;
}

}  // namespace headroom::runtime::chat_template
