#include "runtime/tokenizers/byte_level.h"

#include <array>

#include "runtime/tokenizers/utf8_util.h"

namespace headroom::runtime {
namespace {

bool StandsForItself(unsigned b) {
  return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
}

struct Tables {
  std::array<uint32_t, 256> to_unicode{};
  std::array<std::string, 256> utf8;           // to_unicode as UTF-8
  std::array<int, 0x100 + 68> from_unicode{};  // -1: stands for no byte
  Tables() {
    from_unicode.fill(-1);
    uint32_t next = 0x100;
    for (unsigned b = 0; b < 256; ++b) {
      to_unicode[b] = StandsForItself(b) ? b : next++;
      AppendUtf8(to_unicode[b], &utf8[b]);
      from_unicode[to_unicode[b]] = static_cast<int>(b);
    }
  }
};

const Tables& GetTables() {
  static const Tables* tables = new Tables();
  return *tables;
}

}  // namespace

uint32_t ByteToUnicode(unsigned char b) { return GetTables().to_unicode[b]; }

std::optional<unsigned char> UnicodeToByte(uint32_t cp) {
  const Tables& t = GetTables();
  if (cp >= t.from_unicode.size() || t.from_unicode[cp] < 0) {
    return std::nullopt;
  }
  return static_cast<unsigned char>(t.from_unicode[cp]);
}

std::string ByteLevelEncode(std::string_view bytes) {
  const Tables& t = GetTables();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) out += t.utf8[static_cast<unsigned char>(c)];
  return out;
}

std::string ByteLevelDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    const size_t len = Utf8CharLength(text, pos);
    if (len == 0) {
      out += text[pos++];
      continue;
    }
    const std::optional<unsigned char> b =
        UnicodeToByte(Utf8Decode(text, pos, len));
    if (b.has_value()) {
      out += static_cast<char>(*b);
    } else {
      out.append(text.substr(pos, len));
    }
    pos += len;
  }
  return out;
}

}  // namespace headroom::runtime
