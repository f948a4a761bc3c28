// chat.completions through the official `openai` npm client, for
// tests/integration/openai_api_test.cc: greedy non-streaming and streaming
// answers to the same messages, and the error of a template that raises.
//
//   node tests/js/openai_chat_check.mjs BASE_URL MODEL KEY
import OpenAI from 'openai';

const [baseURL, model, key] = process.argv.slice(2);
const client = new OpenAI({baseURL, apiKey: key, maxRetries: 0, timeout: 60000});
const messages = [{role: 'user', content: 'Tell me a story'}];
const request = {model, messages, max_tokens: 10, temperature: 0};
const out = {};

const plain = await client.chat.completions.create(request);
out.plain = {
  object: plain.object,
  role: plain.choices[0].message.role,
  content: plain.choices[0].message.content,
  finish_reason: plain.choices[0].finish_reason,
  usage: plain.usage,
};

const stream = await client.chat.completions.create(
    {...request, stream: true, stream_options: {include_usage: true}});
let content = '', finish = null, usage = null, role = null;
for await (const chunk of stream) {
  if (chunk.usage) usage = chunk.usage;
  for (const c of chunk.choices) {
    if (c.delta?.role) role = c.delta.role;
    if (c.delta?.content) content += c.delta.content;
    if (c.finish_reason) finish = c.finish_reason;
  }
}
out.stream = {role, content, finish_reason: finish, usage};

try {
  await client.chat.completions.create({
    ...request,
    messages: [{role: 'user', content: 'a'}, {role: 'system', content: 'b'}],
  });
  out.raised = {thrown: false};
} catch (e) {
  out.raised = {
    thrown: true,
    isBadRequest: e instanceof OpenAI.BadRequestError,
    message: e.message,
  };
}
console.log(JSON.stringify(out));
