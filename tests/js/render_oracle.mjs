// Renders chat templates with @huggingface/jinja, the way transformers.js's
// apply_chat_template does (new Template(source), which lexes with
// lstrip_blocks and trim_blocks on, as transformers sets them in Python;
// then render({messages, add_generation_prompt, ...special tokens,
// ...extra})). The oracle for tests/unit/runtime_chat_template_oracle_test.
//
//   node render_oracle.mjs TEMPLATE_FILE CONTEXT_JSON_FILE
//     prints the rendered text (no newline added) to stdout.
//   node render_oracle.mjs --batch CASES_JSON_FILE
//     CASES is [{"template_file": path, "context": {...}}, ...]; prints a
//     JSON list of {"ok": true, "text": ...} or {"ok": false, "error": ...}.
//
// A context is {"messages": [...], "add_generation_prompt": bool,
// "bos_token"?: string, "eos_token"?: string, "extra"?: {name: value}}.
import { readFileSync } from "node:fs";
import { Template } from "@huggingface/jinja";

const cache = new Map();

function render(templateFile, context) {
  let template = cache.get(templateFile);
  if (template === undefined) {
    template = new Template(readFileSync(templateFile, "utf8"));
    cache.set(templateFile, template);
  }
  const items = {
    messages: context.messages,
    add_generation_prompt: Boolean(context.add_generation_prompt),
  };
  for (const key of ["bos_token", "eos_token"]) {
    if (typeof context[key] === "string") items[key] = context[key];
  }
  Object.assign(items, context.extra ?? {});
  return template.render(items);
}

const args = process.argv.slice(2);
if (args[0] === "--batch" && args.length === 2) {
  const cases = JSON.parse(readFileSync(args[1], "utf8"));
  const results = cases.map(({ template_file, context }) => {
    try {
      return { ok: true, text: render(template_file, context) };
    } catch (e) {
      return { ok: false, error: String(e?.message ?? e) };
    }
  });
  process.stdout.write(JSON.stringify(results));
} else if (args.length === 2) {
  process.stdout.write(render(args[0], JSON.parse(readFileSync(args[1], "utf8"))));
} else {
  process.stderr.write(
    "usage: node render_oracle.mjs TEMPLATE_FILE CONTEXT_JSON_FILE\n" +
      "       node render_oracle.mjs --batch CASES_JSON_FILE\n",
  );
  process.exit(2);
}
