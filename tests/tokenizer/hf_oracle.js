// Writes test strings and Hugging Face's own tokenization of them (the `tokenizers` Rust
// library as a Node module), one JSON object per line: {"text", "ids", "decoded"}.
//   node hf_oracle.js TOKENIZER_JSON COUNT SEED OUT_JSONL
// The strings mix scripts, code, digit and whitespace runs, emoji with joiners, contractions in
// both cases and special-token text inside user text; the same seed gives the same strings.
'use strict';
const fs = require('fs');
const { Tokenizer } = require('@anush008/tokenizers');

const [file, countArg, seedArg, out] = process.argv.slice(2);
let state = (Number(seedArg) >>> 0) || 1;
function rand() {  // xorshift32
  state ^= state << 13; state >>>= 0;
  state ^= state >>> 17;
  state ^= state << 5; state >>>= 0;
  return state / 4294967296;
}
const pick = (list) => list[Math.floor(rand() * list.length)];

const phrases = [
  'The quick brown fox jumps over the lazy dog.', 'Hello, world!', "I'm sure they'll say it's fine",
  "WE'LL SEE WHAT HE'S DONE, DON'T WE? YOU'RE RIGHT, I'VE SEEN IT", "She'S gone, isn'T she'D",
  'Der Übergang ist schön, Straße und Maß.', 'Ça coûte 12,50 € à Paris — très cher !',
  'Việt Nam là một quốc gia ở Đông Nam Á.', 'Привет, как дела? Всё хорошо.',
  '東京は日本の首都です。今日は晴れ。', '北京欢迎你！我们一起学习中文。', '한국어 문장을 토큰화합니다.',
  'مرحبا بالعالم، كيف حالك؟', 'שלום עולם, מה שלומך?', 'नमस्ते दुनिया, आप कैसे हैं?',
  'Γειά σου Κόσμε, ΣΟΦΙΑ σοφός', 'สวัสดีชาวโลก ภาษาไทย', 'ሰላም ለዓለም', 'Ἀθῆναι ᾅδης',
  'e\u0301 vs \u00e9, A\u030a vs \u00c5, \u1100\u1161\u11a8', 'ﬁ ﬂ ＡＢＣ ① ² ½ Ⅻ', 'K Å ſ ß ẞ İ ı',
  'def f(x):\n\treturn x ** 2  # square\n', 'for (int i = 0; i < n; ++i) { sum += a[i]; }',
  '<div class="x">&nbsp;</div>', 'SELECT * FROM users WHERE id=42;', '{"key": [1, 2.5e-3, null]}',
  '#include <stdio.h>\r\nint main(void) {\r\n    return 0;\r\n}', '    indented\n        more',
  '👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 🇩🇪🇯🇵 ❤️‍🔥 🧑🏿‍💻', '😀😃😄😁', '∑∫√∞≈≠ → ⇒ ←',
  '<|im_start|>user\nhi<|im_end|>', '<|begin_of_text|><|start_header_id|>system<|end_header_id|>',
  '<|eot_id|>', '<start_of_turn>model\nok<end_of_turn>', '<bos><eos><pad><unk>', '<|endoftext|>',
  '<think>\nreasoning\n</think>\n\n', '<tool_call>{"name": "f"}</tool_call>', '<|im_', '<|eot', '<|im_end|',
];
const whitespace = [' ', '  ', '   ', '\t', '\n', '\n\n', '\r\n', '\r', '\u000b', '\u000c', '\u0085',
  '\u00a0', '\u3000', '\u2028', '\u2009', ' \n ', '\t\t', '\n\t', '        ', ' \r\n\t '];
const ranges = [[0x20, 0x7e], [0xa0, 0x2ff], [0x370, 0x52f], [0x590, 0x6ff], [0x900, 0x97f],
  [0xe00, 0xe7f], [0x1100, 0x11ff], [0x2000, 0x2bff], [0x3000, 0x30ff], [0x4e00, 0x9fff],
  [0xac00, 0xd7a3], [0xfb00, 0xfffd], [0x1f300, 0x1faff], [0x10000, 0x1014f], [0x20000, 0x2a6df]];

function randomCodepoints(n) {
  let s = '';
  for (let i = 0; i < n; ++i) {
    const [lo, hi] = pick(ranges);
    s += String.fromCodePoint(lo + Math.floor(rand() * (hi - lo + 1)));
  }
  return s;
}
function digits(n) { let s = ''; for (let i = 0; i < n; ++i) s += String(Math.floor(rand() * 10)); return s; }

function makeString() {
  const parts = 1 + Math.floor(rand() * 6);
  let s = '';
  for (let i = 0; i < parts; ++i) {
    const r = rand();
    if (r < 0.35) s += pick(phrases);
    else if (r < 0.55) s += pick(whitespace);
    else if (r < 0.7) s += digits(1 + Math.floor(rand() * 12));
    else if (r < 0.85) s += randomCodepoints(1 + Math.floor(rand() * 10));
    else if (r < 0.92) s += pick(["'s", "'S", "'t", "'T", "'re", "'RE", "'ve", "'Ve", "'m", "'M", "'ll", "'LL", "'d", "'D"]);
    else s += pick(phrases).toUpperCase();
  }
  if (rand() < 0.1) s = s.slice(0, Math.floor(rand() * s.length));
  return Array.from(s).filter((c) => { const cp = c.codePointAt(0); return cp < 0xd800 || cp > 0xdfff; }).join('');
}

(async () => {
  const tokenizer = Tokenizer.fromFile(file);
  const lines = [];
  const count = Number(countArg);
  const texts = [];
  for (let i = 0; i < count; ++i) texts.push(makeString());
  for (const text of texts) {
    const encoding = await tokenizer.encode(text, null, { addSpecialTokens: false });
    const ids = encoding.getIds();
    const decoded = await tokenizer.decode(ids, true);
    lines.push(JSON.stringify({ text, ids, decoded }));
  }
  fs.writeFileSync(out, lines.join('\n') + '\n');
})().catch((error) => { console.error(error); process.exit(1); });
