// GPT-2's byte-to-unicode mapping, used by byte-level BPE (the ByteLevel
// pre-tokenizer and decoder of tokenizer.json): every byte stands for one
// printable code point, so that a vocabulary of strings covers all bytes.
// Bytes 0x21-0x7E, 0xA1-0xAC and 0xAE-0xFF stand for the code point of the
// same value; the other 68 bytes (0x00-0x20, 0x7F-0xA0, 0xAD), in increasing
// order, stand for U+0100, U+0101, ... U+0143.
#ifndef HEADROOM_RUNTIME_TOKENIZERS_BYTE_LEVEL_H_
#define HEADROOM_RUNTIME_TOKENIZERS_BYTE_LEVEL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace headroom::runtime {

// The code point byte `b` stands for.
uint32_t ByteToUnicode(unsigned char b);
// The byte that code point `cp` stands for; nullopt when it stands for none.
std::optional<unsigned char> UnicodeToByte(uint32_t cp);

// Each byte of `bytes` as its code point, in UTF-8 (any bytes accepted).
std::string ByteLevelEncode(std::string_view bytes);
// The inverse: each character of `text` that stands for a byte becomes that
// byte; other characters (and ill-formed UTF-8) are kept as they are.
std::string ByteLevelDecode(std::string_view text);

}  // namespace headroom::runtime

#endif  // HEADROOM_RUNTIME_TOKENIZERS_BYTE_LEVEL_H_
