// Runs greedy Responses turns with the official `openai` client, each continuing the last
// through previous_response_id, and prints one JSON line per turn:
//   {"id", "text", "input_tokens", "cached_tokens", "output_tokens"}
//   node responses_chain.js BASE_URL FIRST_TURN COUNT [PREVIOUS_ID]
// Turn t sends "Turn t: the jury said". Used by tests/integration/openai_http_test.cc to
// continue a chain across a kill -9 of the server.
'use strict';
const { OpenAI } = require('openai');

async function main() {
  const [baseURL, first, count, previousId] = process.argv.slice(2);
  const client = new OpenAI({ baseURL, apiKey: 'unused', maxRetries: 0, timeout: 60_000 });
  const model = (await client.models.list()).data[0].id;
  let previous = previousId;
  for (let t = Number(first); t < Number(first) + Number(count); ++t) {
    const r = await client.responses.create({
      model, input: `Turn ${t}: the jury said`, max_output_tokens: 6, temperature: 0,
      ...(previous ? { previous_response_id: previous } : {}),
    });
    console.log(JSON.stringify({ id: r.id, text: r.output_text, input_tokens: r.usage.input_tokens,
                                 cached_tokens: r.usage.input_tokens_details.cached_tokens,
                                 output_tokens: r.usage.output_tokens }));
    previous = r.id;
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
