// HTTP figures of infmem-server with the official `openai` client (a benchmark: it prints
// figures and asserts nothing). Run by scripts/bench-http.sh, which starts the servers.
//   node http_bench.js turns BASE_REUSE BASE_NO_REUSE TURNS
//       time to first token per turn of one conversation resent whole each turn
//       (/v1/chat/completions, streamed, greedy), on a server that reuses earlier calls'
//       state and on one that does not
//   node http_bench.js streams BASE COUNTS TOKENS
//       aggregate tokens/s of COUNTS (e.g. 1,32) concurrent streamed greedy completions of
//       TOKENS tokens, prompts "Session i begins: the jury said" (as infmem-bench's gRPC rows)
'use strict';
const { OpenAI } = require('openai');

function client(baseURL) {
  return new OpenAI({ baseURL, apiKey: 'unused', maxRetries: 0, timeout: 600_000 });
}

// A user message of about 100 words, different each turn.
function message(t) {
  const words = [];
  for (let i = 0; i < 100; ++i) words.push(['the', 'jury', 'said', 'county', 'grand', 'court'][(t * 7 + i) % 6]);
  return `Turn ${t}: ${words.join(' ')}.`;
}

async function conversation(api, turns) {
  const model = (await api.models.list()).data[0].id;
  // One call first, so that turn 1 does not pay for the server's first request.
  await api.chat.completions.create({ model, messages: [{ role: 'user', content: 'warm up' }], max_tokens: 2 });
  const messages = [];
  const rows = [];
  for (let t = 0; t < turns; ++t) {
    messages.push({ role: 'user', content: message(t) });
    const start = performance.now();
    let first = 0;
    let reply = '';
    let usage;
    const stream = await api.chat.completions.create({
      model, messages, max_tokens: 24, temperature: 0, stream: true,
      stream_options: { include_usage: true },
    });
    for await (const chunk of stream) {
      const delta = chunk.choices[0]?.delta?.content;
      if (delta && first === 0) first = performance.now();
      if (delta) reply += delta;
      if (chunk.usage) usage = chunk.usage;
    }
    rows.push({ ttft: (first || performance.now()) - start, prompt: usage.prompt_tokens,
                cached: usage.prompt_tokens_details.cached_tokens });
    messages.push({ role: 'assistant', content: reply });
  }
  return rows;
}

async function turns(reuseURL, plainURL, count) {
  const withReuse = await conversation(client(reuseURL), count);
  const without = await conversation(client(plainURL), count);
  console.log('| turn | prompt tokens | computed (reuse) | TTFT with reuse | TTFT without reuse |');
  console.log('|---:|---:|---:|---:|---:|');
  for (let t = 0; t < count; ++t) {
    const a = withReuse[t];
    const b = without[t];
    console.log(`| ${t + 1} | ${a.prompt} | ${a.prompt - a.cached} | ${a.ttft.toFixed(1)} ms | ${b.ttft.toFixed(1)} ms |`);
  }
  const last = withReuse[count - 1].ttft / withReuse[0].ttft;
  console.log(`\nturn ${count} / turn 1 time to first token: ${last.toFixed(2)}x with reuse, ` +
              `${(without[count - 1].ttft / without[0].ttft).toFixed(2)}x without`);
}

async function streams(baseURL, counts, tokens) {
  const api = client(baseURL);
  const model = (await api.models.list()).data[0].id;
  for (const n of counts.split(',').map(Number)) {
    const start = performance.now();
    const results = await Promise.all(Array.from({ length: n }, async (_, i) => {
      const begin = performance.now();
      let first = 0;
      const r = await api.completions.create({
        model, prompt: `Session ${i} begins: the jury said`, max_tokens: tokens, temperature: 0,
        stream: true, stream_options: { include_usage: true },
      });
      let generated = 0;
      for await (const chunk of r) {
        if (first === 0 && chunk.choices[0]?.text) first = performance.now();
        if (chunk.usage) generated = chunk.usage.completion_tokens;
      }
      return { generated, ttft: first - begin };
    }));
    const seconds = (performance.now() - start) / 1000;
    const total = results.reduce((a, b) => a + b.generated, 0);
    const ttfts = results.map((r) => r.ttft).sort((a, b) => a - b);
    console.log(`http ${n} concurrent: ${total} tokens in ${seconds.toFixed(2)} s = ` +
                `${(total / seconds).toFixed(1)} tokens/s, TTFT p50 ${ttfts[Math.floor(n / 2)].toFixed(1)} ms ` +
                `(each call creates a session and prefills its prompt)`);
  }
}

const [mode, ...args] = process.argv.slice(2);
(mode === 'turns' ? turns(args[0], args[1], Number(args[2]))
                  : streams(args[0], args[1], Number(args[2]))).catch((error) => {
  console.error(error);
  process.exit(1);
});
