const {Tokenizer} = require('tokenizers');
const fs = require('fs');
// deterministic PRNG
let seed = 12345; const rnd = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x7fffffff; };
const pools = [
  " ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\u2028", "\u0085", "\u200b",
  "a", "Z", "é", "ß", "ǅ", "ﬁ", "İ", "ı", "Ω", "я", "Ж", "ע", "ش", "न", "ि", "ก", "ั", "中", "ひ", "カ", "한", "😀", "👍🏽", "🦙", "‍",
  "0", "7", "½", "٣", "Ⅻ", "²", "१",
  "'", "'s", "'S", "'ll", "'LL", "'re", "'ve", "'d", "'m", "'t", "’",
  ".", ",", "!", "?", "-", "_", "/", "\\", "(", ")", "[", "]", "{", "}", "<", ">", "$", "%", "^", "~", "`", "|", "+", "=", "@", "#", "&", "*", ":", ";", "\"",
  "hello", "World", "the", "GPT", "ID", "x1", "3.14", "1,000", "don't", "I'M", "...", "->", "==", "//", "<|eot_id|>", "<|begin_of_text|>",
];
function randText() {
  const n = 1 + Math.floor(rnd() * 25);
  let s = "";
  for (let i = 0; i < n; i++) s += pools[Math.floor(rnd() * pools.length)];
  return s;
}
(async () => {
  const tok = Tokenizer.fromFile(process.argv[2]);
  const texts = [], ids = [];
  for (let i = 0; i < Number(process.argv[4]); i++) {
    const t = randText();
    const e = await tok.encode(t, null, {addSpecialTokens: false});
    texts.push(t); ids.push(e.getIds());
  }
  fs.writeFileSync(process.argv[3], JSON.stringify({generator: 'huggingface tokenizers (node bindings 0.23.2), random strings from a fixed pool, seed 12345', tokenizer: process.argv[5], texts, ids}));
})();
