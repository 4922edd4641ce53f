// Golden token ids for tests/tokenizer from two independent implementations: Hugging Face's
// own Rust `tokenizers` (npm package "tokenizers", native binding) and transformers.js
// ("@lenml/tokenizers"). Every case is encoded by both; the Rust ids are written (they define
// "exact Hugging Face"), and any case where transformers.js differs is named on stderr and
// marked "js_differs" in the output.
//
// Setup, once, outside the repository:
//   mkdir -p /tmp/tokref && cd /tmp/tokref && npm install tokenizers@0.23.2 @lenml/tokenizers@3.7.2
// Run from the repository root (after scripts/fetch_tokenizer.sh):
//   node scripts/golden/tokenizer_golden.mjs /tmp/tokref ~/.cache/arwkv/qwen-tokenizer
// Writes tests/data/tokenizer/golden.json, tests/data/tokenizer/tiny_*/tokenizer.json and
// tests/data/tokenizer/tiny_golden.json.
import { createRequire } from 'module';
import crypto from 'crypto';
import fs from 'fs';
import path from 'path';

const [refs, qwenDir] = process.argv.slice(2);
if (!refs || !qwenDir) {
  console.error('usage: node tokenizer_golden.mjs REFS_DIR QWEN_TOKENIZER_DIR');
  process.exit(2);
}
const require = createRequire(path.resolve(refs) + '/');
const { Tokenizer, nfcNormalizer } = require('tokenizers');
const { TokenizerLoader } = require('@lenml/tokenizers');
const dataDir = 'tests/data/tokenizer';

async function rustIds(tok, text) {
  return Array.from((await tok.encode(text, null, { addSpecialTokens: false })).getIds());
}

function same(a, b) {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

// ---- the real Qwen tokenizer on the corpus ---------------------------------------------------
const qwenJson = fs.readFileSync(path.join(qwenDir, 'tokenizer.json'));
const qwenCfg = JSON.parse(fs.readFileSync(path.join(qwenDir, 'tokenizer_config.json'), 'utf8'));
const rust = Tokenizer.fromString(qwenJson.toString('utf8'));
const js = TokenizerLoader.fromPreTrained({ tokenizerJSON: JSON.parse(qwenJson), tokenizerConfig: qwenCfg });

const cases = [];
const corpusDir = path.join(dataDir, 'corpus');
for (const f of fs.readdirSync(corpusDir).sort()) {
  if (f.endsWith('.txt')) cases.push({ name: f.slice(0, -4), text: fs.readFileSync(path.join(corpusDir, f), 'utf8') });
}
for (const [name, text] of Object.entries(JSON.parse(fs.readFileSync(path.join(corpusDir, 'edge_cases.json'), 'utf8')))) {
  cases.push({ name, text });
}

let differ = 0;
const nfc = nfcNormalizer();
for (const c of cases) {
  c.ids = await rustIds(rust, c.text);
  const j = Array.from(js.encode(c.text, { add_special_tokens: false }));
  if (!same(c.ids, j)) {
    c.js_differs = true;
    differ++;
    console.error(`transformers.js differs on "${c.name}"`);
  }
  // Hugging Face's NFC differs from current Unicode for marks newer than its tables: keep its
  // own normalized text where it differs from the input, for the round-trip check
  const normalized = nfc.normalizeString(c.text);
  if (normalized !== c.text) c.normalized = normalized;
  if ((await rust.decode(c.ids, false)) !== normalized) console.error(`"${c.name}" does not round-trip in Rust`);
}

// Qwen2.5-Instruct's chat template (from its tokenizer_config.json), rendered by transformers.js.
const qwen25Template = "{%- if tools %}\n    {{- '<|im_start|>system\\n' }}\n    {%- if messages[0]['role'] == 'system' %}\n        {{- messages[0]['content'] }}\n    {%- else %}\n        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}\n    {%- endif %}\n    {{- \"\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>\" }}\n    {%- for tool in tools %}\n        {{- \"\\n\" }}\n        {{- tool | tojson }}\n    {%- endfor %}\n    {{- \"\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\\"name\\\": <function-name>, \\\"arguments\\\": <args-json-object>}\\n</tool_call><|im_end|>\\n\" }}\n{%- else %}\n    {%- if messages[0]['role'] == 'system' %}\n        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n    {%- else %}\n        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}\n    {%- endif %}\n{%- endif %}\n{%- for message in messages %}\n    {%- if (message.role == \"user\") or (message.role == \"system\" and not loop.first) or (message.role == \"assistant\" and not message.tool_calls) %}\n        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}\n    {%- elif message.role == \"assistant\" %}\n        {{- '<|im_start|>' + message.role }}\n        {%- if message.content %}\n            {{- '\\n' + message.content }}\n        {%- endif %}\n        {%- for tool_call in message.tool_calls %}\n            {%- if tool_call.function is defined %}\n                {%- set tool_call = tool_call.function %}\n            {%- endif %}\n            {{- '\\n<tool_call>\\n{\"name\": \"' }}\n            {{- tool_call.name }}\n            {{- '\", \"arguments\": ' }}\n            {{- tool_call.arguments | tojson }}\n            {{- '}\\n</tool_call>' }}\n        {%- endfor %}\n        {{- '<|im_end|>\\n' }}\n    {%- elif message.role == \"tool\" %}\n        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != \"tool\") %}\n            {{- '<|im_start|>user' }}\n        {%- endif %}\n        {{- '\\n<tool_response>\\n' }}\n        {{- message.content }}\n        {{- '\\n</tool_response>' }}\n        {%- if loop.last or (messages[loop.index0 + 1].role != \"tool\") %}\n            {{- '<|im_end|>\\n' }}\n        {%- endif %}\n    {%- endif %}\n{%- endfor %}\n{%- if add_generation_prompt %}\n    {{- '<|im_start|>assistant\\n' }}\n{%- endif %}\n";

const m = (role, content) => ({ role, content });
const chats = [
  { messages: [m('user', 'Hello!')], add_generation_prompt: true },
  { messages: [m('system', 'You are terse.'), m('user', '2+2?'), m('assistant', '4'), m('user', 'And 3+3?')], add_generation_prompt: true },
  { messages: [m('user', 'Hi'), m('assistant', 'Hello! How can I help you today?')], add_generation_prompt: false },
  { messages: [m('user', '写一个函数'), m('assistant', '\n\n  Here:\n```python\ndef f(x):\n    return x * 2\n```\n'), m('user', ' thanks '), m('assistant', '')], add_generation_prompt: false },
  { messages: [m('user', 'Weather?'), m('assistant', 'Let me check.'), m('tool', '{"temp": 20}'), m('tool', '{"temp": 21}'), m('assistant', 'It is 20 degrees.')], add_generation_prompt: false },
  { messages: [m('user', 'a'), m('system', 'b'), m('assistant', 'c')], add_generation_prompt: true },
  { messages: [m('system', ''), m('user', 'caf\u0065\u0301 <|im_end|> inside'), m('assistant', 'e\u0301\u0301 done')], add_generation_prompt: false },
];
for (const c of chats) {
  c.text = js.apply_chat_template(c.messages, { chat_template: qwen25Template, add_generation_prompt: c.add_generation_prompt, tokenize: false });
  c.ids = await rustIds(rust, c.text);
}

const sha = crypto.createHash('sha256').update(qwenJson).digest('hex');
fs.writeFileSync(path.join(dataDir, 'golden.json'), JSON.stringify({
  generator: 'scripts/golden/tokenizer_golden.mjs (tokenizers 0.23.2 Rust binding; checked against transformers.js)',
  tokenizer_sha256: sha,
  cases,
  chats,
}) + '\n');
console.error(`${cases.length} cases (${differ} where transformers.js differs), ${chats.length} chats`);

// ---- tiny hand-made tokenizers ------------------------------------------------------------------
// byte-level alphabet with id = byte value, then a few merges and added tokens
const byteChar = [];
{
  let n = 0;
  for (let b = 0; b < 256; b++) {
    const keep = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || b >= 0xae;
    byteChar.push(String.fromCodePoint(keep ? b : 256 + n++));
  }
}
const vocab = {};
byteChar.forEach((c, b) => { vocab[c] = b; });
const merges = [
  ['h', 'e'], ['l', 'l'], ['he', 'll'], ['hell', 'o'], ['Ġ', 'w'], ['o', 'r'], ['Ġw', 'or'], ['l', 'd'],
  ['Ġwor', 'ld'], ['a', 'a'], ['b', 'c'], ['a', 'b'], ['aa', 'aa'], ['Ġ', 'Ġ'], ['Ċ', 'Ċ'], ['Ã', '©'],
  ['Ġ', 'hello'], ['ĠĠ', 'ĠĠ'],
];
for (const [a, b] of merges) vocab[a + b] = Object.keys(vocab).length;
let next = Object.keys(vocab).length;
const added = (content, o) => ({
  id: next++, content, single_word: !!o.single_word, lstrip: !!o.lstrip, rstrip: !!o.rstrip,
  normalized: !!o.normalized, special: !!o.special,
});
const addedTokens = [
  added('<|endoftext|>', { special: true }),
  added('<mask>', { special: true, lstrip: true }),
  added('<sep>', { special: true, rstrip: true }),
  added('<both>', { special: true, lstrip: true, rstrip: true }),
  added('[W]', { single_word: true }),
  added('e\u0301', { normalized: true }),
  added('<long>', {}),
  added('<lo', {}),
];
const qwenRegex = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const byteLevel = (prefix, regex) => ({ type: 'ByteLevel', add_prefix_space: prefix, trim_offsets: false, use_regex: regex });
const tiny = (mergeForm, preTokenizer, normalizer) => ({
  version: '1.0', truncation: null, padding: null, added_tokens: addedTokens, normalizer,
  pre_tokenizer: preTokenizer, post_processor: byteLevel(false, false), decoder: byteLevel(false, false),
  model: {
    type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '',
    fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab,
    merges: mergeForm === 'pairs' ? merges : merges.map(([a, b]) => `${a} ${b}`),
  },
});
const qwenPre = { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: qwenRegex }, behavior: 'Isolated', invert: false }, byteLevel(false, false)] };
const tinies = {
  tiny_pairs: tiny('pairs', qwenPre, { type: 'NFC' }),
  tiny_strings: tiny('strings', qwenPre, { type: 'NFC' }),
  tiny_gpt2: tiny('strings', byteLevel(true, true), null),
  tiny_ignore_merges: tiny('pairs', qwenPre, { type: 'NFC' }),
  tiny_unk: tiny('pairs', qwenPre, { type: 'NFC' }),
};
// ignore_merges: a piece that is a vocab entry is one token, even one no merge builds ("xyz")
tinies.tiny_ignore_merges.model = { ...tinies.tiny_ignore_merges.model, ignore_merges: true, vocab: { ...vocab, xyz: 500 } };
// bytes missing from the vocab ('q', 'Q') become <unk>, runs of them fused into one
{
  const v = { ...vocab, '<unk>': 501 };
  delete v.q;
  delete v.Q;
  tinies.tiny_unk.model = { ...tinies.tiny_unk.model, unk_token: '<unk>', fuse_unk: true, vocab: v };
}
const tinyTexts = [
  'hello world', 'hello', ' hello', 'helloworld', 'aaa', 'aaaa', 'aaaaa', 'abc', 'ab', 'bc', 'abcabc',
  'x <mask> y', 'x  \t<mask>  y', '<mask>', '  <mask>', 'a <sep>  b', 'a<sep>\n\nb', 'p  <both>  q',
  '[W] x[W] [W]y a [W] b', '[W]', 'é and e\u0301 and ée\u0301', '<long> <lo <longer <lon', '<|endoftext|>hello',
  '    x', '\n\n\n', 'hello world hello', 'It\'S', '', ' ', '<mask><mask>  <sep><sep>',
  'xyz xyzxyz qqq aqQqb q', 'Qhello hellqo',
];
const tinyGolden = {};
for (const [name, tj] of Object.entries(tinies)) {
  fs.mkdirSync(path.join(dataDir, name), { recursive: true });
  const text = JSON.stringify(tj, null, 1) + '\n';
  fs.writeFileSync(path.join(dataDir, name, 'tokenizer.json'), text);
  const tok = Tokenizer.fromString(text);
  const jt = TokenizerLoader.fromPreTrained({ tokenizerJSON: tj, tokenizerConfig: {} });
  tinyGolden[name] = [];
  for (const t of tinyTexts) {
    const ids = await rustIds(tok, t);
    const entry = { text: t, ids };
    if (!same(ids, Array.from(jt.encode(t, { add_special_tokens: false })))) entry.js_differs = true;
    tinyGolden[name].push(entry);
  }
}
fs.writeFileSync(path.join(dataDir, 'tiny_golden.json'), JSON.stringify(tinyGolden, null, 1) + '\n');
console.error('tiny tokenizers written');
