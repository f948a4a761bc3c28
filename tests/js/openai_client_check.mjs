// Calls headroom-server's OpenAI-compatible API with the official `openai`
// npm client and prints one JSON line of what it saw, for
// tests/integration/openai_api_test.cc to check (against gRPC's answers).
//
//   node tests/js/openai_client_check.mjs BASE_URL MODEL KEY QUOTA_KEY
//
// BASE_URL is http://127.0.0.1:PORT/v1. QUOTA_KEY belongs to a tenant whose
// tokens_per_minute is too small for one request.
import OpenAI from 'openai';

const [baseURL, model, key, quotaKey] = process.argv.slice(2);
const client = new OpenAI({baseURL, apiKey: key, maxRetries: 0, timeout: 60000});
const out = {};

const prompt = 'Once upon a time';
const sampled = {model, prompt, max_tokens: 12, temperature: 0.8, seed: 7};

async function errorOf(promise) {
  try {
    await promise;
    return {thrown: false};
  } catch (e) {
    return {
      thrown: true,
      class: e.constructor.name,
      status: e.status ?? null,
      param: e.param ?? null,
      type: e.type ?? null,
      code: e.code ?? null,
      message: e.message,
      isAuth: e instanceof OpenAI.AuthenticationError,
      isBadRequest: e instanceof OpenAI.BadRequestError,
      isRateLimit: e instanceof OpenAI.RateLimitError,
      isNotFound: e instanceof OpenAI.NotFoundError,
    };
  }
}

// models.list
const models = [];
for await (const m of client.models.list()) models.push(m.id);
out.models = models;

// Non-streaming, twice with the same seed.
const a = await client.completions.create(sampled);
const b = await client.completions.create(sampled);
out.completion = {
  object: a.object,
  text: a.choices[0].text,
  finish_reason: a.choices[0].finish_reason,
  usage: a.usage,
  repeat_text: b.choices[0].text,
};

// Streaming, with usage.
{
  const stream = await client.completions.create(
      {...sampled, stream: true, stream_options: {include_usage: true}});
  let text = '', chunks = 0, finish = null, usage = null;
  for await (const chunk of stream) {
    ++chunks;
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      text += c.text;
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  out.stream = {text, chunks, finish_reason: finish, usage};
}

// n > 1: choice 0 has the request's seed.
{
  const r = await client.completions.create({...sampled, n: 3});
  out.n = {
    texts: r.choices.map((c) => c.text),
    indexes: r.choices.map((c) => c.index),
    usage: r.usage,
  };
}

// Logprobs.
{
  const r = await client.completions.create(
      {model, prompt, max_tokens: 6, temperature: 0, logprobs: 3});
  const lp = r.choices[0].logprobs;
  out.logprobs = {
    tokens: lp.tokens,
    token_logprobs: lp.token_logprobs,
    top_counts: lp.top_logprobs.map((t) => Object.keys(t).length),
    text: r.choices[0].text,
    completion_tokens: r.usage.completion_tokens,
  };
}

// Stop strings: greedy text up to the stop.
{
  const greedy = await client.completions.create(
      {model, prompt, max_tokens: 12, temperature: 0});
  const stopped = await client.completions.create(
      {model, prompt, max_tokens: 12, temperature: 0, stop: [' was', 'zzz']});
  out.stop = {
    greedy: greedy.choices[0].text,
    text: stopped.choices[0].text,
    finish_reason: stopped.choices[0].finish_reason,
  };
}

// Errors as the SDK's classes.
out.errors = {
  wrong_key: await errorOf(
      new OpenAI({baseURL, apiKey: 'not-a-key', maxRetries: 0})
          .completions.create(sampled)),
  bad_param: await errorOf(
      client.completions.create({...sampled, temperature: -1})),
  unsupported: await errorOf(client.completions.create(
      {...sampled, response_format: {type: 'json_object'}})),
  quota: await errorOf(
      new OpenAI({baseURL, apiKey: quotaKey, maxRetries: 0})
          .completions.create({...sampled, max_tokens: 64})),
  wrong_model: await errorOf(
      client.completions.create({...sampled, model: 'gpt-4'})),
  chat: await errorOf(client.chat.completions.create(
      {model, messages: [{role: 'user', content: 'Hello'}]})),
};

console.log(JSON.stringify(out));
