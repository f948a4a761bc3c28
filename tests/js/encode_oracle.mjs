// The reference encoder for Headroom's tokenizer.json tests: the pure-JS
// @huggingface/tokenizers library on the same file and text.
//
//   node encode_oracle.mjs TOKENIZER_JSON LINES_FILE
//
// LINES_FILE holds one input per line (lines end at "\n"; a "\r" before it
// belongs to the line). For each input, prints one JSON object on its own
// line: {"ids": [...], "decoded": "..."}: the ids of encode(line) without
// special tokens added, and decode(ids) skipping special tokens and without
// the clean-up of spaces around punctuation. The tokenizer_config.json
// beside TOKENIZER_JSON is used when there is one. A LINES_FILE ending in
// ".json" is a JSON list of inputs instead (for texts with newlines, such as
// rendered chats).
import fs from "node:fs";
import path from "node:path";

import { Tokenizer } from "@huggingface/tokenizers";

const [tokenizerPath, linesPath] = process.argv.slice(2);
if (!tokenizerPath || !linesPath) {
  console.error("usage: node encode_oracle.mjs TOKENIZER_JSON LINES_FILE");
  process.exit(2);
}
const configPath = path.join(path.dirname(tokenizerPath),
                             "tokenizer_config.json");
const config = fs.existsSync(configPath)
    ? JSON.parse(fs.readFileSync(configPath, "utf8"))
    : {};
const tokenizer =
    new Tokenizer(JSON.parse(fs.readFileSync(tokenizerPath, "utf8")), config);

const text = fs.readFileSync(linesPath, "utf8");
let lines;
if (linesPath.endsWith(".json")) {
  lines = JSON.parse(text);
} else {
  lines = text.split("\n");
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
}
const out = [];
for (const line of lines) {
  const ids = tokenizer.encode(line, { add_special_tokens: false }).ids;
  const decoded = ids.length === 0 ? "" : tokenizer.decode(ids, {
    skip_special_tokens: true,
    clean_up_tokenization_spaces: false,
  });
  out.push(JSON.stringify({ ids, decoded }));
}
process.stdout.write(out.join("\n") + (out.length ? "\n" : ""));
