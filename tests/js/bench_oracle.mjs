// Load time and encoding throughput of @huggingface/tokenizers, to compare
// with `headroom-tokenize --stats` on the same files:
//
//   node tests/js/bench_oracle.mjs TOKENIZER_JSON LINES_FILE
//
// Wall and CPU time (process.cpuUsage, user + system) for the load (JSON.parse
// and the Tokenizer constructor) and for encoding every line (split at "\n",
// no special tokens added).
import fs from "node:fs";
import path from "node:path";

import { Tokenizer } from "@huggingface/tokenizers";

const [tokenizerPath, linesPath] = process.argv.slice(2);
if (!tokenizerPath || !linesPath) {
  console.error("usage: node bench_oracle.mjs TOKENIZER_JSON LINES_FILE");
  process.exit(2);
}
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const configPath = path.join(path.dirname(tokenizerPath),
                             "tokenizer_config.json");
let wall = performance.now();
let c = cpu();
const tokenizer = new Tokenizer(
    JSON.parse(fs.readFileSync(tokenizerPath, "utf8")),
    fs.existsSync(configPath)
        ? JSON.parse(fs.readFileSync(configPath, "utf8"))
        : {});
const loadWall = (performance.now() - wall) / 1000;
const loadCpu = cpu() - c;
const lines = fs.readFileSync(linesPath, "utf8").split("\n");
if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
let bytes = 0;
let tokens = 0;
wall = performance.now();
c = cpu();
for (const line of lines) {
  bytes += Buffer.byteLength(line);
  tokens += tokenizer.encode(line, { add_special_tokens: false }).ids.length;
}
const encWall = (performance.now() - wall) / 1000;
const encCpu = cpu() - c;
console.log(`load ${loadWall.toFixed(3)} s (cpu ${loadCpu.toFixed(3)} s); ` +
            `encoded ${bytes} bytes into ${tokens} tokens in ` +
            `${encWall.toFixed(3)} s (cpu ${encCpu.toFixed(3)} s): ` +
            `${(bytes / encWall / 1e6).toFixed(2)} MB/s ` +
            `(${(bytes / encCpu / 1e6).toFixed(2)} MB/s per cpu second)`);
