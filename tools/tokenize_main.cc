// headroom-tokenize: text to token ids and back, with any tokenizer the
// runtime reads.
//
//   headroom-tokenize --tokenizer PATH (--text TEXT | --lines FILE)
//       [--add-special-tokens] [--no-parse-special] [--stats]
//   headroom-tokenize --tokenizer PATH --decode [--lines FILE]
//   headroom-tokenize --tokenizer PATH --chat FILE.json
//       [--add-generation-prompt] [--ids]
//
// PATH is a tokenizer.json, tokenizer.model or llama2.c tokenizer file, or a
// model directory (its tokenizer is found as the server finds it). Encoding
// prints one JSON array of ids per input: one for --text, one per line of
// FILE (lines end at '\n'; a '\r' before it is part of the line).
// --no-parse-special encodes added/special tokens spelled in the text as
// plain text. --decode reads one JSON array of ids per line (from FILE, else
// stdin) and prints the decoded text of each on its own line. --chat
// renders a JSON list of messages ([{"role": ..., "content": ...}, ...])
// with the chat template of the tokenizer_config.json beside the tokenizer
// (in PATH when it is a model directory) and prints the text as it is;
// with --ids it prints {"text": ..., "ids": [...]} instead, the ids encoded
// as the server encodes a conversation (the messages' bytes as plain text,
// no BOS added: runtime::ChatEncodeOptions). --stats
// prints the load time and the encoding throughput (wall and CPU time) to
// stderr. Exit code 0,
// or 1 with the error on stderr.
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"
#include "runtime/chat_template/chat_template.h"
#include "runtime/tokenizers/tokenizer.h"
#include "tools/cli_args.h"

namespace headroom::tools {
namespace {

constexpr char kUsage[] =
    "usage: headroom-tokenize --tokenizer PATH (--text TEXT | --lines FILE) "
    "[--add-special-tokens] [--no-parse-special] [--stats]\n"
    "       headroom-tokenize --tokenizer PATH --decode [--lines FILE]\n"
    "       headroom-tokenize --tokenizer PATH --chat FILE.json "
    "[--add-generation-prompt] [--ids]";

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// CPU time of this process (all threads), in seconds: unlike wall time it
// does not grow when other processes share the cores.
double CpuSeconds() {
  return static_cast<double>(std::clock()) / CLOCKS_PER_SEC;
}

// The lines of `in`, each without its '\n'.
std::vector<std::string> ReadLines(std::istream& in) {
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

absl::StatusOr<std::vector<std::string>> ReadLinesOf(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  return ReadLines(in);
}

std::string IdsJson(const std::vector<int>& ids) {
  std::string out = "[";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) out += ',';
    absl::StrAppend(&out, ids[i]);
  }
  out += ']';
  return out;
}

absl::StatusOr<std::vector<int>> ParseIds(const std::string& line,
                                          size_t line_number) {
  const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_array()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "line ", line_number, ": not a JSON array of ids: ", line));
  }
  std::vector<int> ids;
  for (const nlohmann::json& v : j) {
    if (!v.is_number_integer() || v.get<int64_t>() < INT32_MIN ||
        v.get<int64_t>() > INT32_MAX) {
      return absl::InvalidArgumentError(absl::StrCat(
          "line ", line_number, ": ", v.dump(), " is not an int id"));
    }
    ids.push_back(static_cast<int>(v.get<int64_t>()));
  }
  return ids;
}

// The messages of a --chat file: a JSON list of {"role": string,
// "content": string}. InvalidArgument naming the file and the entry.
absl::StatusOr<std::vector<runtime::ChatMessage>> ReadMessages(
    const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::stringstream text;
  text << in.rdbuf();
  const nlohmann::json j = nlohmann::json::parse(text.str(), nullptr, false);
  if (j.is_discarded() || !j.is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a JSON list of messages"));
  }
  std::vector<runtime::ChatMessage> messages;
  for (size_t i = 0; i < j.size(); ++i) {
    runtime::ChatMessage m;
    for (auto [key, out] :
         {std::pair{"role", &m.role}, std::pair{"content", &m.content}}) {
      if (!j[i].is_object() || !j[i].contains(key) || !j[i][key].is_string()) {
        return absl::InvalidArgumentError(absl::StrCat(
            path, ": [", i, "].", key, " is missing or not a string"));
      }
      *out = j[i][key].get<std::string>();
    }
    messages.push_back(std::move(m));
  }
  return messages;
}

// --chat: the rendered template, or {"text", "ids"} with --ids (only then
// is the tokenizer loaded).
absl::Status RunChat(const CliArgs& args, const std::string& tokenizer_arg,
                     const std::string& tokenizer_path) {
  std::error_code ec;
  const std::string dir =
      std::filesystem::is_directory(tokenizer_arg, ec)
          ? tokenizer_arg
          : std::filesystem::path(tokenizer_path).parent_path().string();
  auto chat = runtime::LoadChatTemplate(dir);
  if (!chat.ok()) return chat.status();
  auto messages = ReadMessages(args.Get("chat"));
  if (!messages.ok()) return messages.status();
  runtime::ChatRenderOptions options = chat->options;
  options.add_generation_prompt = args.Has("add-generation-prompt");
  auto rendered = chat->chat_template.RenderMarked(*messages, options);
  if (!rendered.ok()) {
    return absl::Status(
        rendered.status().code(),
        absl::StrCat(args.Get("chat"), ": ", rendered.status().message()));
  }
  std::string out = rendered->text;
  if (args.Has("ids")) {
    auto tok = runtime::LoadTokenizer(tokenizer_path, 0);
    if (!tok.ok()) return tok.status();
    const std::vector<int> ids = (*tok)->EncodeWithOptions(
        rendered->text, runtime::ChatEncodeOptions(*rendered));
    // (Invalid UTF-8 cannot come from JSON messages; replace, never throw.)
    out = nlohmann::json{{"text", rendered->text}, {"ids", ids}}.dump(
              -1, ' ', false, nlohmann::json::error_handler_t::replace) +
          "\n";
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return absl::OkStatus();
}

absl::Status Run(int argc, char** argv) {
  auto args = CliArgs::Parse(argc, argv, 1,
                             {{"tokenizer"},
                              {"text"},
                              {"lines"},
                              {"add-special-tokens", false},
                              {"no-parse-special", false},
                              {"decode", false},
                              {"chat"},
                              {"add-generation-prompt", false},
                              {"ids", false},
                              {"stats", false}});
  if (!args.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(args.status().message(), "\n", kUsage));
  }
  auto path = args->Require("tokenizer");
  if (!path.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path.status().message(), "\n", kUsage));
  }
  std::string tokenizer_path = *path;
  std::error_code ec;
  if (std::filesystem::is_directory(tokenizer_path, ec)) {
    auto found = runtime::FindTokenizerFor(tokenizer_path);
    if (!found.ok()) return found.status();
    tokenizer_path = *found;
  }
  if (args->Has("chat")) {
    if (args->Has("text") || args->Has("lines") || args->Has("decode")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--chat takes no --text, --lines or --decode\n", kUsage));
    }
    return RunChat(*args, *path, tokenizer_path);
  }
  if (args->Has("add-generation-prompt") || args->Has("ids")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--add-generation-prompt and --ids go with --chat\n", kUsage));
  }
  const Clock::time_point load_start = Clock::now();
  const double load_cpu_start = CpuSeconds();
  auto tok = runtime::LoadTokenizer(tokenizer_path, 0);
  if (!tok.ok()) return tok.status();
  const double load_s = SecondsSince(load_start);
  const double load_cpu = CpuSeconds() - load_cpu_start;

  if (args->Has("decode")) {
    if (args->Has("text")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--decode reads ids from --lines or stdin, not --text\n", kUsage));
    }
    std::vector<std::string> lines;
    if (args->Has("lines")) {
      auto read = ReadLinesOf(args->Get("lines"));
      if (!read.ok()) return read.status();
      lines = std::move(*read);
    } else {
      lines = ReadLines(std::cin);
    }
    std::string out;
    for (size_t i = 0; i < lines.size(); ++i) {
      auto ids = ParseIds(lines[i], i + 1);
      if (!ids.ok()) return ids.status();
      out += (*tok)->Decode(*ids);
      out += '\n';
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
    return absl::OkStatus();
  }

  if (args->Has("text") == args->Has("lines")) {
    return absl::InvalidArgumentError(
        absl::StrCat("give exactly one of --text and --lines\n", kUsage));
  }
  std::vector<std::string> inputs;
  if (args->Has("text")) {
    inputs.push_back(args->Get("text"));
  } else {
    auto read = ReadLinesOf(args->Get("lines"));
    if (!read.ok()) return read.status();
    inputs = std::move(*read);
  }
  runtime::EncodeOptions options;
  options.add_special_tokens = args->Has("add-special-tokens");
  options.parse_special = !args->Has("no-parse-special");
  std::string out;
  int64_t bytes = 0;
  int64_t tokens = 0;
  const Clock::time_point encode_start = Clock::now();
  const double encode_cpu_start = CpuSeconds();
  for (const std::string& input : inputs) {
    const std::vector<int> ids = (*tok)->EncodeWithOptions(input, options);
    bytes += static_cast<int64_t>(input.size());
    tokens += static_cast<int64_t>(ids.size());
    out += IdsJson(ids);
    out += '\n';
  }
  const double encode_s = SecondsSince(encode_start);
  const double encode_cpu = CpuSeconds() - encode_cpu_start;
  std::fwrite(out.data(), 1, out.size(), stdout);
  if (args->Has("stats")) {
    std::cerr << absl::StrFormat(
        "load %.3f s (cpu %.3f s) (%s); encoded %d bytes into %d tokens in "
        "%.3f s (cpu %.3f s): %.2f MB/s (%.2f MB/s per cpu second)\n",
        load_s, load_cpu, tokenizer_path, bytes, tokens, encode_s, encode_cpu,
        encode_s > 0 ? bytes / encode_s / 1e6 : 0.0,
        encode_cpu > 0 ? bytes / encode_cpu / 1e6 : 0.0);
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace headroom::tools

int main(int argc, char** argv) {
  return headroom::tools::RunToolMain("headroom-tokenize", argc, argv,
                                      headroom::tools::Run);
}
