const {Tokenizer} = require('tokenizers');
const fs = require('fs');
const base = JSON.parse(fs.readFileSync('/work/shared/testdata/oracle/llama3/tokenizer.json'));
const BL = (aps, re) => ({type: 'ByteLevel', add_prefix_space: aps, trim_offsets: false, use_regex: re});
const split = (pat, behavior, invert=false) => ({type: 'Split', pattern: pat, behavior, invert});
const seq = (...p) => ({type: 'Sequence', pretokenizers: p});
const variants = {
  'bytelevel-prefix-space': {pre: BL(true, true)},
  'bytelevel-gpt2': {pre: BL(false, true)},
  'digits-contiguous-split': {pre: seq({type: 'Digits', individual_digits: false}, split({Regex: " ?\\p{L}+|\\s+"}, 'Isolated'), BL(false, false))},
  'digits-individual-gpt2': {pre: seq({type: 'Digits', individual_digits: true}, BL(false, true))},
  'split-string-removed': {pre: seq(split({String: " "}, 'Removed'), BL(false, false))},
  'merged-with-previous': {pre: seq(split({Regex: "[,.!?]"}, 'MergedWithPrevious'), BL(false, false))},
  'merged-with-next': {pre: seq(split({Regex: "\\s"}, 'MergedWithNext'), BL(false, false))},
  'contiguous': {pre: seq(split({Regex: "\\p{N}"}, 'Contiguous'), BL(false, false))},
  'invert-isolated': {pre: seq(split({Regex: "\\p{L}+"}, 'Isolated', true), BL(false, false))},
  'invert-removed': {pre: seq(split({Regex: "\\s+"}, 'Removed', true), BL(false, false))},
  'whitespace': {pre: seq({type: 'Whitespace'}, BL(false, false))},
  'whitespace-split': {pre: seq({type: 'WhitespaceSplit'}, BL(false, false))},
  'punctuation': {pre: seq({type: 'Punctuation', behavior: 'Isolated'}, BL(false, false))},
  'qwen2-regex': {pre: seq(split({Regex: "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}, 'Isolated'), BL(false, false))},
  'llama3-no-ignore-merges': {ignore_merges: false},
  'prefix-space-after-split': {pre: seq(split({Regex: "\\p{N}+"}, 'Isolated'), BL(true, false))},
  'tekken-regex': {pre: seq(split({Regex: "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}, 'Isolated'), BL(false, false))},
  'gpt4o-regex': {pre: seq(split({Regex: "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}, 'Isolated'), BL(false, false))},
  'normalizer-nfc': {norm: {type: 'NFC'}},
  'normalizer-nfkc-lowercase': {norm: {type: 'Sequence', normalizers: [{type: 'NFKC'}, {type: 'Lowercase'}]}},
  'normalizer-nfd-strip-accents': {norm: {type: 'Sequence', normalizers: [{type: 'NFD'}, {type: 'StripAccents'}]}},
  'normalizer-replace-prepend-strip': {norm: {type: 'Sequence', normalizers: [{type: 'Strip', strip_left: true, strip_right: true}, {type: 'Replace', pattern: {String: 'o'}, content: '0'}, {type: 'Replace', pattern: {Regex: '\\s+'}, content: ' '}, {type: 'Prepend', prepend: '>'}]}},
};
const texts = [
  "Hello world", " Hello world", "Hello  World!!  ", "It's 2024: the year's 12345 events.",
  "tabs\tand\nnewlines\r\n\r\nend", "   leading and trailing   ", "a,b.c!d?e", "Once upon a time, there was a little girl named Lily.",
  "numbers 3.14159 and 1,000,000 and ½ ٣", "unicode: café naïve Ærøskøbing 你好世界 привет 🦙🚀", "'S 'LL 'd 've I'M",
  "<|begin_of_text|>special<|eot_id|> inside", "x", "cafe\u0301 ﬁve Ⅻ ＡＢＣ ÅNGSTRÖM İstanbul", "  Spaced   OUT  ", "CamelCaseWords HTTPServer iPhone ǅemal DŽungla Ǆ", "path/to/file.go\r\n  // comment", "I'M HE'S they'LL", "", "  ", "\n", "mixed123abc456", "$100 + 20% = <fun> | ~tilde^",
];
(async () => {
  const out = {generator: 'huggingface tokenizers (node bindings 0.23.2) on oracle/llama3/tokenizer.json with the pre_tokenizer replaced', texts, variants: []};
  for (const [name, v] of Object.entries(variants)) {
    const j = JSON.parse(JSON.stringify(base));
    if (v.pre) j.pre_tokenizer = v.pre;
    if ('ignore_merges' in v) j.model.ignore_merges = v.ignore_merges;
    if (v.norm) j.normalizer = v.norm;
    const tok = Tokenizer.fromString(JSON.stringify(j));
    const ids = [];
    for (const t of texts) {
      const e = await tok.encode(t, null, {addSpecialTokens: false});
      ids.push(e.getIds());
    }
    out.variants.push({name, pre_tokenizer: v.pre || null, ignore_merges: ('ignore_merges' in v) ? v.ignore_merges : null, normalizer: v.norm || null, ids});
  }
  fs.writeFileSync(process.argv[2], JSON.stringify(out));
})();
