// Drives infmem's OpenAI-compatible HTTP API with the official `openai` npm client (6.x) and
// with raw fetch() for the exact wire shapes. Exits non-zero on the first failed check.
//   node openai_client_test.js BASE_URL [API_KEY] [WRONG_KEY] [OTHER_TENANT_KEY]
// BASE_URL is http://127.0.0.1:PORT/v1. With API_KEY the server requires bearer tokens;
// OTHER_TENANT_KEY is a valid key of another tenant (who must not see API_KEY's responses).
// CommonJS, so that NODE_PATH finds the client installed by scripts/fetch-oracles.sh.
'use strict';
const assert = require('node:assert/strict');
const { OpenAI } = require('openai');

async function main() {

  const [baseURL, apiKey = 'unused', wrongKey, otherKey] = process.argv.slice(2);
  const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 60_000 });
  let checks = 0;
  async function check(name, body) {
    await body();
    ++checks;
    console.log(`ok ${checks} ${name}`);
  }
  async function expectError(promise, status, param) {
    try {
      await promise;
    } catch (error) {
      assert.ok(error instanceof OpenAI.APIError, `not an APIError: ${error}`);
      assert.equal(error.status, status, `status of ${error.message}`);
      assert.equal(typeof error.error?.message, 'string');
      assert.ok(['invalid_request_error', 'authentication_error', 'not_found_error'].includes(error.error.type),
                `type ${error.error.type}`);
      if (param !== undefined) assert.equal(error.error.param, param);
      return error;
    }
    assert.fail(`expected HTTP ${status}`);
  }
  const raw = (path, init) =>
    fetch(baseURL + path, { ...init, headers: { 'content-type': 'application/json',
                                                 authorization: `Bearer ${apiKey}`, ...(init?.headers ?? {}) } });

  const models = await client.models.list();
  const model = models.data[0].id;
  await check('models.list names the served model', async () => {
    assert.equal(models.data.length, 1);
    assert.equal(models.data[0].object, 'model');
    const one = await client.models.retrieve(model);
    assert.equal(one.id, model);
    await expectError(client.models.retrieve('no-such-model'), 404, 'model');
  });

  await check('chat.completions.create', async () => {
    const reply = await client.chat.completions.create({
      model, messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'The jury said' }],
      max_tokens: 6, temperature: 0,
    });
    assert.equal(reply.object, 'chat.completion');
    assert.equal(reply.choices.length, 1);
    assert.equal(reply.choices[0].message.role, 'assistant');
    assert.equal(typeof reply.choices[0].message.content, 'string');
    assert.ok(['stop', 'length'].includes(reply.choices[0].finish_reason));
    assert.ok(reply.usage.prompt_tokens > 0);
    assert.equal(reply.usage.completion_tokens <= 6, true);
    assert.equal(reply.usage.total_tokens, reply.usage.prompt_tokens + reply.usage.completion_tokens);
    // Greedy is deterministic; content parts equal the same text as a string.
    const again = await client.chat.completions.create({
      model, messages: [{ role: 'system', content: 'Be brief.' },
                        { role: 'user', content: [{ type: 'text', text: 'The jury ' }, { type: 'text', text: 'said' }] }],
      max_tokens: 6, temperature: 0,
    });
    assert.equal(again.choices[0].message.content, reply.choices[0].message.content);
  });

  await check('chat.completions streamed: the stream helper and include_usage', async () => {
    const stream = client.chat.completions.stream({
      model, messages: [{ role: 'user', content: 'The jury said' }], max_tokens: 6, temperature: 0,
      stream_options: { include_usage: true },
    });
    let text = '';
    for await (const chunk of stream) {
      if (chunk.choices.length > 0) text += chunk.choices[0].delta.content ?? '';
    }
    const final = await stream.finalChatCompletion();
    assert.equal(final.choices[0].message.content, text);
    assert.ok(final.usage.completion_tokens >= 1);
    const plain = await client.chat.completions.create({
      model, messages: [{ role: 'user', content: 'The jury said' }], max_tokens: 6, temperature: 0 });
    assert.equal(plain.choices[0].message.content, text, 'streamed and unstreamed greedy replies differ');
  });

  await check('raw SSE shapes: usage null on chunks, a last usage chunk with no choices, [DONE]', async () => {
    const response = await raw('/chat/completions', { method: 'POST', body: JSON.stringify({
      model, messages: [{ role: 'user', content: 'Hello' }], max_tokens: 3, stream: true,
      stream_options: { include_usage: true } }) });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type'), /^text\/event-stream/);
    const events = (await response.text()).split('\n\n').filter((e) => e.length > 0);
    assert.equal(events.at(-1), 'data: [DONE]');
    const chunks = events.slice(0, -1).map((e) => { assert.ok(e.startsWith('data: ')); return JSON.parse(e.slice(6)); });
    const last = chunks.at(-1);
    assert.deepEqual(last.choices, []);
    assert.ok(last.usage.total_tokens > 0);
    for (const chunk of chunks.slice(0, -1)) {
      assert.equal(chunk.object, 'chat.completion.chunk');
      assert.equal(chunk.usage, null);
    }
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
    assert.ok(chunks.slice(0, -1).some((c) => c.choices[0].finish_reason !== null));
    const noUsage = await raw('/chat/completions', { method: 'POST', body: JSON.stringify({
      model, messages: [{ role: 'user', content: 'Hello' }], max_tokens: 2, stream: true }) });
    const text = await noUsage.text();
    assert.ok(!text.includes('"usage"'), 'usage sent without include_usage');
  });

  await check('n = 2 gives two choices from one prompt', async () => {
    const reply = await client.chat.completions.create({
      model, messages: [{ role: 'user', content: 'The jury said' }], max_tokens: 4, n: 2, temperature: 1, seed: 7 });
    assert.deepEqual(reply.choices.map((c) => c.index), [0, 1]);
    const same = await client.chat.completions.create({
      model, messages: [{ role: 'user', content: 'The jury said' }], max_tokens: 4, n: 2, temperature: 1, seed: 7 });
    assert.deepEqual(same.choices.map((c) => c.message.content), reply.choices.map((c) => c.message.content));
  });

  await check('completions.create, streamed and not, with stop', async () => {
    const reply = await client.completions.create({ model, prompt: 'The jury said that', max_tokens: 8, temperature: 0 });
    assert.equal(reply.object, 'text_completion');
    assert.equal(typeof reply.choices[0].text, 'string');
    const stream = await client.completions.create({ model, prompt: 'The jury said that', max_tokens: 8, temperature: 0, stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
    assert.equal(text, reply.choices[0].text);
    if (reply.choices[0].text.length > 2) {
      const stop = reply.choices[0].text.slice(1, 3);
      const cut = await client.completions.create({ model, prompt: 'The jury said that', max_tokens: 8, temperature: 0, stop: [stop] });
      assert.equal(cut.choices[0].finish_reason, 'stop');
      assert.ok(!cut.choices[0].text.includes(stop));
    }
  });

  await check('bad input is a 4xx naming the field, never a 5xx', async () => {
    await expectError(client.chat.completions.create({ model, messages: [] }), 400, 'messages');
    await expectError(client.chat.completions.create({ model, messages: [{ role: 'wizard', content: 'x' }] }), 400, 'messages[0].role');
    await expectError(client.chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }], temperature: 3 }), 400, 'temperature');
    await expectError(client.chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }], frequency_penalty: 1 }), 400, 'frequency_penalty');
    await expectError(client.chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }], mystery_field: 1 }), 400, 'mystery_field');
    await expectError(client.chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }],
      tools: [{ type: 'function', function: { name: 'f', parameters: {} } }] }), 400, 'tools');
    await expectError(client.chat.completions.create({ model, messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] }), 400, 'messages[0].content[0].type');
    await expectError(client.chat.completions.create({ messages: [{ role: 'user', content: 'x' }] }), 400, 'model');
    await expectError(client.completions.create({ model, prompt: 'x', stream_options: { include_usage: true } }), 400, 'stream_options');
    await expectError(client.completions.create({ model, prompt: '' }), 400, 'prompt');
    for (const [body, status] of [['{"model": 1', 400], ['[]', 400], ['{"model":"m","model":"n"}', 400]]) {
      const response = await raw('/completions', { method: 'POST', body });
      assert.equal(response.status, status, body);
      const error = await response.json();
      assert.equal(typeof error.error.message, 'string');
      assert.ok('param' in error.error && 'code' in error.error && 'type' in error.error);
    }
    const huge = await raw('/completions', { method: 'POST', body: JSON.stringify({ model, prompt: 'x'.repeat(5 << 20) }) });
    assert.equal(huge.status, 413);
    assert.equal((await raw('/chat/completions', { method: 'GET' })).status, 405);
    assert.equal((await raw('/nowhere', { method: 'GET' })).status, 404);
    const health = await fetch(baseURL.replace(/\/v1$/, '') + '/health');
    assert.equal(health.status, 200);
  });

  await check('responses: a 10-turn chain computes only each turn\'s new tokens', async () => {
    let previous;
    let expectedCached = 0;
    for (let turn = 0; turn < 10; ++turn) {
      const response = await client.responses.create({
        model, input: `Turn ${turn}: the jury said`, max_output_tokens: 5, temperature: 0,
        ...(previous ? { previous_response_id: previous.id } : {}),
      });
      assert.equal(response.object, 'response');
      assert.ok(['completed', 'incomplete'].includes(response.status));
      assert.equal(typeof response.output_text, 'string');  // the SDK's own convenience field
      assert.equal(response.previous_response_id, previous ? previous.id : null);
      const usage = response.usage;
      assert.equal(usage.total_tokens, usage.input_tokens + usage.output_tokens);
      // Everything before this turn was computed by earlier turns (but the one token a session
      // keeps pending): only the new input is computed now.
      assert.equal(usage.input_tokens_details.cached_tokens, expectedCached, `turn ${turn}`);
      expectedCached = usage.input_tokens + usage.output_tokens - 1;
      previous = response;
    }
    const again = await client.responses.retrieve(previous.id);
    assert.equal(again.id, previous.id);
    assert.equal(again.output_text, previous.output_text);
    const items = await client.responses.inputItems.list(previous.id);
    assert.equal(items.data.length, 1);
    assert.equal(items.data[0].content[0].text, 'Turn 9: the jury said');
  });

  await check('responses: two turns from one response branch, and each continues', async () => {
    const root = await client.responses.create({ model, input: 'The jury said', max_output_tokens: 4, temperature: 0 });
    const left = await client.responses.create({ model, input: 'Left?', previous_response_id: root.id, max_output_tokens: 4, temperature: 0 });
    const right = await client.responses.create({ model, input: 'Right?', previous_response_id: root.id, max_output_tokens: 4, temperature: 0 });
    assert.notEqual(left.id, right.id);
    assert.equal(left.usage.input_tokens_details.cached_tokens, right.usage.input_tokens_details.cached_tokens);
    const leftAgain = await client.responses.create({ model, input: 'Left?', previous_response_id: root.id, max_output_tokens: 4, temperature: 0 });
    assert.equal(leftAgain.output_text, left.output_text);  // a branch does not see its sibling
    for (const branch of [left, right]) {
      const next = await client.responses.create({ model, input: 'More.', previous_response_id: branch.id, max_output_tokens: 3, temperature: 0 });
      assert.equal(next.previous_response_id, branch.id);
    }
    // store: false keeps nothing, but may continue a stored response.
    const unstored = await client.responses.create({ model, input: 'Left?', previous_response_id: root.id, store: false, max_output_tokens: 4, temperature: 0 });
    assert.equal(unstored.output_text, left.output_text);
    await expectError(client.responses.retrieve(unstored.id), 404, 'response_id');
    const deleted = await client.responses.delete(left.id);
    await expectError(client.responses.retrieve(left.id), 404, 'response_id');
    await expectError(client.responses.create({ model, input: 'x', previous_response_id: left.id }), 404, 'previous_response_id');
    void deleted;
  });

  await check('responses streamed: events in order, the stream helper\'s final response', async () => {
    const stream = client.responses.stream({ model, input: 'The jury said', max_output_tokens: 6, temperature: 0, store: false });
    const types = [];
    let sequence = 0;
    for await (const event of stream) {
      types.push(event.type);
      assert.equal(event.sequence_number, sequence++);
    }
    const final = await stream.finalResponse();
    const plain = await client.responses.create({ model, input: 'The jury said', max_output_tokens: 6, temperature: 0, store: false });
    // (The stream helper's final response has no output_text convenience field: read the parts.)
    const text = final.output.flatMap((o) => o.content ?? []).map((c) => c.text).join('');
    assert.equal(text, plain.output_text);
    assert.deepEqual(types.slice(0, 4), ['response.created', 'response.in_progress',
                                         'response.output_item.added', 'response.content_part.added']);
    assert.ok(types.includes('response.output_text.delta'));
    assert.deepEqual(types.slice(-4), ['response.output_text.done', 'response.content_part.done',
                                       'response.output_item.done',
                                       final.status === 'completed' ? 'response.completed' : 'response.incomplete']);
  });

  await check('conversations: items in order, responses join them, metadata, delete', async () => {
    const conv = await client.conversations.create({
      items: [{ type: 'message', role: 'user', content: 'The jury said' }], metadata: { topic: 'jury' } });
    assert.equal(conv.object, 'conversation');
    assert.deepEqual(conv.metadata, { topic: 'jury' });
    const first = await client.responses.create({ model, conversation: conv.id, input: 'And then?', max_output_tokens: 4, temperature: 0 });
    const second = await client.responses.create({ model, conversation: { id: conv.id }, input: 'Again?', max_output_tokens: 4, temperature: 0 });
    // The conversation's session grows: each turn computes only its own input.
    assert.equal(second.usage.input_tokens_details.cached_tokens,
                 first.usage.input_tokens + first.usage.output_tokens - 1);
    const added = await client.conversations.items.create(conv.id, { items: [{ type: 'message', role: 'user', content: 'More.' }] });
    assert.equal(added.data.length, 1);
    const items = await client.conversations.items.list(conv.id);
    const texts = items.data.map((item) => item.content.map((c) => c.text).join(''));
    assert.deepEqual(texts, ['The jury said', 'And then?', first.output_text, 'Again?', second.output_text, 'More.']);
    assert.deepEqual(items.data.map((item) => item.role), ['user', 'user', 'assistant', 'user', 'assistant', 'user']);
    const third = await client.responses.create({ model, conversation: conv.id, input: 'Last.', max_output_tokens: 2, temperature: 0 });
    assert.ok(third.usage.input_tokens_details.cached_tokens > second.usage.input_tokens + second.usage.output_tokens);
    const updated = await client.conversations.update(conv.id, { metadata: { topic: 'court' } });
    assert.deepEqual(updated.metadata, { topic: 'court' });
    assert.deepEqual((await client.conversations.retrieve(conv.id)).metadata, { topic: 'court' });
    await expectError(client.responses.create({ model, conversation: 'conv_none', input: 'x' }), 404, 'conversation');
    await expectError(client.responses.create({ model, conversation: conv.id, previous_response_id: first.id, input: 'x' }), 400, 'conversation');
    await expectError(client.conversations.items.create(conv.id, { items: [] }), 400, 'items');
    await expectError(client.conversations.create({ items: [{ role: 'wizard', content: 'x' }] }), 400, 'items[0].role');
    const deleted = await client.conversations.delete(conv.id);
    assert.equal(deleted.deleted, true);
    await expectError(client.conversations.retrieve(conv.id), 404, 'conversation_id');
    await expectError(client.conversations.items.list(conv.id), 404, 'conversation_id');
  });

  await check('responses: bad input is a 4xx naming the field', async () => {
    await expectError(client.responses.create({ model, input: 'x', previous_response_id: 'resp_none' }), 404, 'previous_response_id');
    await expectError(client.responses.create({ model }), 400, 'input');
    await expectError(client.responses.create({ model, input: 'x', mystery: 1 }), 400, 'mystery');
    await expectError(client.responses.create({ model, input: 'x', tools: [{ type: 'function', name: 'f', parameters: {} }] }), 400, 'tools');
    await expectError(client.responses.create({ model, input: [{ role: 'wizard', content: 'x' }] }), 400, 'input[0].role');
    await expectError(client.responses.create({ model, input: 'x', temperature: -1 }), 400, 'temperature');
    await expectError(client.responses.retrieve('resp_none'), 404, 'response_id');
    await expectError(client.responses.delete('resp_none'), 404, 'response_id');
    assert.equal((await raw('/responses', { method: 'GET' })).status, 405);
  });

  if (otherKey !== undefined) {
    await check('another tenant can neither read, continue nor delete a response (404)', async () => {
      const mine = await client.responses.create({ model, input: 'Mine.', max_output_tokens: 2, temperature: 0 });
      const other = new OpenAI({ baseURL, apiKey: otherKey, maxRetries: 0 });
      await expectError(other.responses.retrieve(mine.id), 404, 'response_id');
      await expectError(other.responses.inputItems.list(mine.id), 404, 'response_id');
      await expectError(other.responses.create({ model, input: 'x', previous_response_id: mine.id }), 404, 'previous_response_id');
      await expectError(other.responses.delete(mine.id), 404, 'response_id');
      const conv = await client.conversations.create({ items: [{ role: 'user', content: 'Mine.' }] });
      await expectError(other.conversations.retrieve(conv.id), 404, 'conversation_id');
      await expectError(other.conversations.items.list(conv.id), 404, 'conversation_id');
      await expectError(other.responses.create({ model, conversation: conv.id, input: 'x' }), 404, 'conversation');
      await expectError(other.conversations.delete(conv.id), 404, 'conversation_id');
      assert.equal((await client.responses.retrieve(mine.id)).id, mine.id);
    });
  }

  if (wrongKey !== undefined) {
    await check('a wrong or missing bearer token is 401', async () => {
      const intruder = new OpenAI({ baseURL, apiKey: wrongKey, maxRetries: 0 });
      await expectError(intruder.models.list(), 401);
      const none = await fetch(baseURL + '/models');
      assert.equal(none.status, 401);
    });
  }
  console.log(`all ${checks} checks passed`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
