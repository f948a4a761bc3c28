// Small UTF-8 helpers shared by the tokenizer.json components.
#ifndef HEADROOM_RUNTIME_TOKENIZERS_UTF8_UTIL_H_
#define HEADROOM_RUNTIME_TOKENIZERS_UTF8_UTIL_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace headroom::runtime {

// Length in bytes (1..4) of the well-formed UTF-8 character that starts at
// s[pos], or 0 when the bytes there are not one (a stray continuation byte,
// an overlong form, a surrogate, a value above U+10FFFF, a cut-short
// sequence). pos < s.size().
size_t Utf8CharLength(std::string_view s, size_t pos);

// The code point of the well-formed character of length `len` at s[pos].
uint32_t Utf8Decode(std::string_view s, size_t pos, size_t len);

// Appends code point `cp` (<= 0x10FFFF, not a surrogate) as UTF-8.
void AppendUtf8(uint32_t cp, std::string* out);

// Whether all of `s` is well-formed UTF-8.
bool IsValidUtf8(std::string_view s);

}  // namespace headroom::runtime

#endif  // HEADROOM_RUNTIME_TOKENIZERS_UTF8_UTIL_H_
