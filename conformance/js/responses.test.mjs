// Conformance of Engram with the official openai npm client (v7). Run by
// cmd/engram's TestConformanceOpenAIJS, which starts a server and sets
// ENGRAM_BASE_URL and ENGRAM_API_KEY. The models are Engram's scripted
// (deterministic, offline) test models, or fake upstreams that answer as
// they do: ENGRAM_MODEL_PROVIDER names the provider behind every model
// (scripted, openai, ollama or anthropic; default scripted), so the same
// behaviour is checked whatever serves the model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const client = new OpenAI({ baseURL: process.env.ENGRAM_BASE_URL + '/v1', apiKey: process.env.ENGRAM_API_KEY, maxRetries: 0 });
const provider = process.env.ENGRAM_MODEL_PROVIDER || 'scripted';
const m = (name) => `${provider}/${name}`;

test('responses.create with a string input', async () => {
  const r = await client.responses.create({ model: m('echo'), input: 'Hello, remember my name is Ada.' });
  assert.equal(r.object, 'response');
  assert.equal(r.status, 'completed');
  assert.match(r.id, /^resp_/);
  assert.equal(r.output_text, 'echo: Hello, remember my name is Ada.');
  assert.ok(r.usage.input_tokens > 0 && r.usage.output_tokens > 0);
});

test('responses chained with previous_response_id keep state server-side', async () => {
  const first = await client.responses.create({ model: m('recall'), input: 'My name is Ada.' });
  const second = await client.responses.create({ model: m('recall'), input: 'What is my name?', previous_response_id: first.id, store: true, instructions: 'Be brief.' });
  assert.equal(second.output_text, 'My name is Ada. | What is my name?');
  assert.equal(second.previous_response_id, first.id);
  assert.equal(second.instructions, 'Be brief.');
  const third = await client.responses.create({ model: m('echo'), input: 'and again', previous_response_id: second.id });
  assert.equal(third.output_text, 'echo: and again');
  assert.equal(third.previous_response_id, second.id);
});

test('responses in a conversation', async () => {
  const conv = await client.conversations.create({ metadata: { topic: 'bees' }, items: [{ type: 'message', role: 'user', content: 'Hive 2 is queenless.' }] });
  const r = await client.responses.create({ model: m('recall'), input: 'Which hive?', conversation: conv.id });
  assert.equal(r.output_text, 'Hive 2 is queenless. | Which hive?');
  assert.equal(r.conversation.id, conv.id);
  const items = [];
  for await (const it of client.conversations.items.list(conv.id, { order: 'asc' })) items.push(it);
  assert.deepEqual(items.map((i) => i.type), ['message', 'message', 'message']);
  assert.equal(items[2].content[0].text, 'Hive 2 is queenless. | Which hive?');
});

test('stream: true yields the exact event sequence', async () => {
  const stream = await client.responses.create({ model: m('echo'), input: 'Stream please', stream: true });
  const types = [];
  let seq = -1;
  let text = '';
  for await (const ev of stream) {
    assert.equal(ev.sequence_number, seq + 1, `sequence_number after ${seq}`);
    seq = ev.sequence_number;
    types.push(ev.type);
    if (ev.type === 'response.output_text.delta') text += ev.delta;
  }
  const deltas = types.filter((t) => t === 'response.output_text.delta').length;
  assert.ok(deltas >= 1);
  const collapsed = types.filter((t, i) => t !== 'response.output_text.delta' || types[i - 1] !== t);
  assert.deepEqual(collapsed, [
    'response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added',
    'response.output_text.delta', 'response.output_text.done', 'response.content_part.done',
    'response.output_item.done', 'response.completed',
  ]);
  assert.equal(text, 'echo: Stream please');
});

test('responses.stream(...).finalResponse()', async () => {
  const first = await client.responses.create({ model: m('recall'), input: 'one' });
  const final = await client.responses.stream({ model: m('recall'), input: 'two', previous_response_id: first.id }).finalResponse();
  assert.equal(final.status, 'completed');
  assert.equal(final.output_text, 'one | two');
});

test('retrieve, input items, delete', async () => {
  const r = await client.responses.create({ model: m('echo'), input: [{ role: 'user', content: 'hi' }, { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'there' }] }] });
  const got = await client.responses.retrieve(r.id);
  assert.equal(got.id, r.id);
  assert.equal(got.output_text, 'echo: there');
  const input = [];
  for await (const it of client.responses.inputItems.list(r.id, { order: 'asc', limit: 1 })) input.push(it);
  assert.deepEqual(input.map((i) => i.content[0].text), ['hi', 'there']);
  await client.responses.delete(r.id);
  await assert.rejects(client.responses.retrieve(r.id), (e) => e instanceof OpenAI.NotFoundError && e.status === 404);
});

test('conversations CRUD and items auto-pagination', async () => {
  const conv = await client.conversations.create({ metadata: { topic: 'demo' } });
  assert.equal(conv.object, 'conversation');
  const batch = (from, n) => Array.from({ length: n }, (_, i) => ({ type: 'message', role: 'user', content: `item ${from + i}` }));
  await client.conversations.items.create(conv.id, { items: batch(0, 20) });
  await client.conversations.items.create(conv.id, { items: batch(20, 5) });
  const seen = [];
  for await (const it of client.conversations.items.list(conv.id, { limit: 10, order: 'asc' })) seen.push(it.content[0].text);
  assert.equal(seen.length, 25);
  assert.deepEqual(seen, Array.from({ length: 25 }, (_, i) => `item ${i}`));
  const page = await client.conversations.items.list(conv.id, { limit: 3 });
  assert.equal(page.data[0].content[0].text, 'item 24', 'default order is newest first');

  const got = await client.conversations.retrieve(conv.id);
  assert.deepEqual(got.metadata, { topic: 'demo' });
  const updated = await client.conversations.update(conv.id, { metadata: { topic: 'x' } });
  assert.deepEqual(updated.metadata, { topic: 'x' });

  const first = page.data[0];
  const one = await client.conversations.items.retrieve(first.id, { conversation_id: conv.id });
  assert.equal(one.id, first.id);
  await client.conversations.items.delete(first.id, { conversation_id: conv.id });
  await assert.rejects(client.conversations.items.retrieve(first.id, { conversation_id: conv.id }), OpenAI.NotFoundError);

  const del = await client.conversations.delete(conv.id);
  assert.equal(del.deleted, true);
  await assert.rejects(client.conversations.retrieve(conv.id), OpenAI.NotFoundError);
});

test('function calling round trip', async () => {
  const tools = [{ type: 'function', name: 'get_weather', description: 'Weather in a city', parameters: { type: 'object', properties: { city: { type: 'string' } } }, strict: false }];
  const r = await client.responses.create({ model: m('tools'), input: 'Weather in Lisbon?', tools });
  const call = r.output.find((o) => o.type === 'function_call');
  assert.ok(call, 'a function_call item');
  assert.equal(call.name, 'get_weather');
  assert.ok(call.call_id, 'a call_id');
  assert.equal(call.arguments, '{}');
  const r2 = await client.responses.create({ model: m('tools'), previous_response_id: r.id, tools,
    input: [{ type: 'function_call_output', call_id: call.call_id, output: 'sunny, 24C' }] });
  assert.equal(r2.output_text, 'tool said: sunny, 24C');
});

test('errors are OpenAI errors', async () => {
  const bad = new OpenAI({ baseURL: process.env.ENGRAM_BASE_URL + '/v1', apiKey: 'sk-engram-wrong', maxRetries: 0 });
  await assert.rejects(bad.responses.create({ model: m('echo'), input: 'x' }), (e) => e instanceof OpenAI.AuthenticationError && e.status === 401);
  await assert.rejects(client.responses.retrieve('resp_doesnotexist'), (e) => e instanceof OpenAI.NotFoundError);
  await assert.rejects(client.responses.create({ model: m('echo'), input: 'x', nonsense: 1 }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === 'nonsense' && e.code === 'unknown_parameter');
});

test('re-sending output items with their ids as input (a stateless function-call round trip)', async () => {
  const tools = [{ type: 'function', name: 'get_weather', parameters: { type: 'object', properties: {} }, strict: false }];
  const input = [{ role: 'user', content: 'Weather in Porto?' }];
  const r = await client.responses.create({ model: m('tools'), input, tools });
  const call = r.output.find((o) => o.type === 'function_call');
  assert.match(call.id, /^fc_/);
  // As the docs' manual-history pattern does: the output, ids and all, then the result.
  input.push(...r.output, { type: 'function_call_output', call_id: call.call_id, output: 'rainy' });
  const r2 = await client.responses.create({ model: m('tools'), input, tools });
  assert.equal(r2.output_text, 'tool said: rainy');
  // And once more, resending everything again, ids included.
  input.push(...r2.output, { role: 'user', content: 'Thanks.' });
  const r3 = await client.responses.create({ model: m('echo'), input });
  assert.equal(r3.output_text, 'echo: Thanks.');
});

test('background: poll to completion, and cancel', async () => {
  const r = await client.responses.create({ model: m('slow'), input: 'in the background', background: true });
  assert.ok(['queued', 'in_progress'].includes(r.status), r.status);
  assert.equal(r.background, true);
  let got = r;
  for (let i = 0; i < 200 && ['queued', 'in_progress'].includes(got.status); i++) {
    await new Promise((ok) => setTimeout(ok, 50));
    got = await client.responses.retrieve(r.id);
  }
  assert.equal(got.status, 'completed');
  assert.equal(got.output_text, 'echo: in the background');

  // A turn queued behind another in its conversation is cancelled at once.
  const conv = await client.conversations.create({});
  const running = await client.responses.create({ model: m('slow'), input: 'first', background: true, conversation: conv.id });
  const queued = await client.responses.create({ model: m('slow'), input: 'never mind', background: true, conversation: conv.id });
  assert.equal(queued.status, 'queued');
  const cancelled = await client.responses.cancel(queued.id);
  assert.equal(cancelled.id, queued.id);
  assert.equal(cancelled.status, 'cancelled');
  got = running;
  for (let i = 0; i < 200 && ['queued', 'in_progress'].includes(got.status); i++) {
    await new Promise((ok) => setTimeout(ok, 50));
    got = await client.responses.retrieve(running.id);
  }
  assert.equal(got.status, 'completed');
});

test('stream resume: retrieve with stream: true and starting_after', async () => {
  const events = [];
  for await (const ev of await client.responses.create({ model: m('echo'), input: 'resume me', stream: true })) events.push(ev);
  const id = events[0].response.id;
  const after = 3;
  const resumed = [];
  for await (const ev of await client.responses.retrieve(id, { stream: true, starting_after: after })) resumed.push(ev);
  assert.deepEqual(resumed.map((e) => e.sequence_number), events.filter((e) => e.sequence_number > after).map((e) => e.sequence_number));
  assert.deepEqual(resumed.map((e) => e.type), events.slice(after + 1).map((e) => e.type));
  assert.equal(resumed.at(-1).type, 'response.completed');
  assert.equal(resumed.at(-1).response.output_text ?? resumed.at(-1).response.output[0].content[0].text, 'echo: resume me');
});

test('responses.compact, and its output as the next input', async () => {
  const first = await client.responses.create({ model: m('recall'), input: 'Hive 2 is queenless. It needs a new queen.' });
  const second = await client.responses.create({ model: m('recall'), input: 'Hive 3 is strong.', previous_response_id: first.id });
  const compacted = await client.responses.compact({ model: m('recall'), previous_response_id: second.id });
  assert.equal(compacted.object, 'response.compaction');
  assert.match(compacted.id, /^resp_|^cmp_/);
  const summary = compacted.output.find((o) => o.type === 'compaction');
  assert.ok(summary, 'a compaction item');
  assert.ok(summary.encrypted_content.length > 0);
  const next = await client.responses.create({ model: m('echo'), input: [...compacted.output, { role: 'user', content: 'And now?' }] });
  assert.equal(next.status, 'completed');
  assert.equal(next.output_text, 'echo: And now?');
});

test('responses.inputTokens.count', async () => {
  const small = await client.responses.inputTokens.count({ model: m('echo'), input: 'Hi.' });
  assert.equal(small.object, 'response.input_tokens');
  assert.ok(small.input_tokens > 0);
  const big = await client.responses.inputTokens.count({ model: m('echo'), input: 'Hi. '.repeat(200) });
  assert.ok(big.input_tokens > small.input_tokens);
});

test('chat.completions: plain, streamed with include_usage, and a tool call round trip', async () => {
  const c = await client.chat.completions.create({ model: m('echo'), messages: [{ role: 'user', content: 'Hive 2 is queenless.' }] });
  assert.equal(c.object, 'chat.completion');
  assert.match(c.id, /^chatcmpl-/);
  assert.equal(c.choices[0].message.content, 'echo: Hive 2 is queenless.');
  assert.equal(c.choices[0].finish_reason, 'stop');
  assert.ok(c.usage.prompt_tokens > 0 && c.usage.completion_tokens > 0);

  const stream = await client.chat.completions.create({ model: m('echo'), stream: true, stream_options: { include_usage: true },
    messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Streamed, please.' }] });
  let text = '', usage = null, finish = null;
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    if (chunk.usage) usage = chunk.usage;
    for (const choice of chunk.choices) {
      text += choice.delta.content ?? '';
      finish = choice.finish_reason ?? finish;
    }
  }
  assert.equal(text, 'echo: Streamed, please.');
  assert.equal(finish, 'stop');
  assert.ok(usage && usage.total_tokens > 0, 'a usage chunk');

  const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: {} } } }];
  const first = await client.chat.completions.create({ model: m('tools'), tools, messages: [{ role: 'user', content: 'Weather in Lisbon?' }] });
  const call = first.choices[0].message.tool_calls?.[0];
  assert.ok(call, 'a tool call');
  assert.equal(first.choices[0].finish_reason, 'tool_calls');
  assert.equal(call.function.name, 'get_weather');
  const second = await client.chat.completions.create({ model: m('tools'), tools, messages: [
    { role: 'user', content: 'Weather in Lisbon?' }, first.choices[0].message,
    { role: 'tool', tool_call_id: call.id, content: 'sunny, 24C' }] });
  assert.equal(second.choices[0].message.content, 'tool said: sunny, 24C');
});

test('models.list includes the scripted models', async () => {
  const ids = [];
  for await (const model of client.models.list()) ids.push(model.id);
  assert.ok(ids.includes('scripted/echo'), `models: ${ids.join(', ')}`);
});
