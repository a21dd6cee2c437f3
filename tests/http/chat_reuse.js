// Sends a greedy conversation through /v1/chat/completions with the official `openai` client,
// the whole history each call as chat clients do, and prints one JSON line per turn:
//   {"turn", "prompt_tokens", "cached_tokens", "reply"}
//   node chat_reuse.js BASE_URL FIRST_TURN COUNT [HISTORY_FILE]
// Turn t sends "Turn t: the jury said". HISTORY_FILE (JSON messages) starts the conversation
// and receives it at the end, so a run can continue another (across a server restart).
'use strict';
const fs = require('node:fs');
const { OpenAI } = require('openai');

async function main() {
  const [baseURL, first, count, historyFile] = process.argv.slice(2);
  const client = new OpenAI({ baseURL, apiKey: 'unused', maxRetries: 0, timeout: 60_000 });
  const model = (await client.models.list()).data[0].id;
  const messages = historyFile && fs.existsSync(historyFile)
    ? JSON.parse(fs.readFileSync(historyFile, 'utf8')) : [];
  for (let t = Number(first); t < Number(first) + Number(count); ++t) {
    messages.push({ role: 'user', content: `Turn ${t}: the jury said` });
    const r = await client.chat.completions.create({ model, messages, max_tokens: 6, temperature: 0 });
    const reply = r.choices[0].message.content;
    console.log(JSON.stringify({ turn: t, prompt_tokens: r.usage.prompt_tokens,
                                 cached_tokens: r.usage.prompt_tokens_details.cached_tokens, reply }));
    messages.push({ role: 'assistant', content: reply });
  }
  if (historyFile) fs.writeFileSync(historyFile, JSON.stringify(messages));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
