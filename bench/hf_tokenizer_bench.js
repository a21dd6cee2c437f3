// Encoding throughput of Hugging Face's tokenizers (Rust, through @anush008/tokenizers), one
// encode call per chunk awaited in turn (one thread at a time), cut as tokenizer-bench cuts.
//   node hf_tokenizer_bench.js TOKENIZER_JSON TEXT_FILE [CHUNK_BYTES] [REPEATS]
'use strict';
const fs = require('fs');
const { Tokenizer } = require('@anush008/tokenizers');

(async () => {
  const [file, textFile, chunkArg, repeatArg] = process.argv.slice(2);
  const chunkBytes = Number(chunkArg || 4096), repeats = Number(repeatArg || 5);
  const bytes = fs.readFileSync(textFile);
  const chunks = [];
  for (let pos = 0; pos < bytes.length;) {
    let end = Math.min(bytes.length, pos + chunkBytes);
    const newline = bytes.indexOf(10, end);
    end = newline < 0 ? bytes.length : newline + 1;
    chunks.push(bytes.subarray(pos, end).toString('utf8'));
    pos = end;
  }
  const tokenizer = Tokenizer.fromFile(file);
  const rates = [];
  let tokens = 0;
  for (let r = 0; r < repeats; ++r) {
    tokens = 0;
    const start = process.hrtime.bigint();
    for (const chunk of chunks) {
      const encoding = await tokenizer.encode(chunk, null, { addSpecialTokens: false });
      tokens += encoding.getIds().length;
    }
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    rates.push(bytes.length / 1e6 / seconds);
  }
  rates.sort((a, b) => a - b);
  console.log(`hf      ${bytes.length} bytes  ${chunks.length} chunks  ${tokens} tokens  ` +
              `${rates[Math.floor(rates.length / 2)].toFixed(2)} MB/s (median of ${rates.length}; ` +
              `min ${rates[0].toFixed(2)}, max ${rates[rates.length - 1].toFixed(2)})`);
})().catch((error) => { console.error(error); process.exit(1); });
