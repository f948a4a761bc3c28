// Python's str methods on UTF-8 text, as templates call them: indexes,
// lengths and slices count code points; strip() with no argument strips
// ASCII whitespace (Python also strips Unicode spaces such as U+00A0; the
// templates this serves strip newlines and spaces). upper/lower/title/
// capitalize change ASCII letters only.
#ifndef HEADROOM_RUNTIME_CHAT_TEMPLATE_PY_STRING_H_
#define HEADROOM_RUNTIME_CHAT_TEMPLATE_PY_STRING_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace headroom::runtime::chat_template {

// The code points of `s` as byte ranges: one string_view per character (an
// invalid byte is a character of its own).
std::vector<std::string_view> SplitChars(std::string_view s);
int64_t CharCount(std::string_view s);

enum class StripSide { kLeft, kRight, kBoth };
// str.strip / lstrip / rstrip; `chars` absent strips whitespace.
std::string PyStrip(std::string_view s, const std::optional<std::string>& chars,
                    StripSide side);
// str.split(sep, maxsplit); sep absent splits on runs of whitespace. `sep`
// must not be empty (the caller reports Python's ValueError).
std::vector<std::string> PySplit(std::string_view s,
                                 const std::optional<std::string>& sep,
                                 int64_t maxsplit);
// str.replace(old, new, count); count < 0 replaces all. An empty `old`
// inserts `repl` between characters, as Python does.
std::string PyReplace(std::string_view s, std::string_view old,
                      std::string_view repl, int64_t count);
// Size of PyReplace's result, without building it.
size_t PyReplaceSize(std::string_view s, std::string_view old,
                     std::string_view repl, int64_t count);
std::string PyUpper(std::string_view s);
std::string PyLower(std::string_view s);
std::string PyCapitalize(std::string_view s);
std::string PyTitle(std::string_view s);
bool IsPyWhitespace(char c);

// Python's slice indices for a sequence of `length`: start, stop, step
// (step != 0, checked by the caller), as slice.indices() computes them;
// the selected indices are start, start+step, ... while before stop.
void PySliceIndices(int64_t length, std::optional<int64_t> start,
                    std::optional<int64_t> stop, int64_t step, int64_t* first,
                    int64_t* last, int64_t* count);

}  // namespace headroom::runtime::chat_template

#endif  // HEADROOM_RUNTIME_CHAT_TEMPLATE_PY_STRING_H_
