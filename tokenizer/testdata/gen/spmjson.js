const {Tokenizer} = require('tokenizers');
const fs = require('fs');
const texts = ["Hello world", " Hello world", "Hello  World!!  ", "It's 2024: the year's 12345 events.",
  "tabs\tand\nnewlines\r\n\r\nend", "   leading and trailing   ", "Once upon a time, there was a little girl named Lily.",
  "unicode: café naïve 你好世界 привет 🦙🚀", "<s>inside</s> text <unk>", "x", "", " ", "\n", "ﬁ½ Äpfel ied 4 ½ months",
  "The quick brown fox jumps over the lazy dog", "mixed123abc456 $100 + 20% = <fun>"];
(async () => {
  const out = {generator: 'huggingface tokenizers (node bindings 0.23.2), tokenizer.json built as transformers LlamaConverter (legacy) does', texts, models: {}};
  for (const name of ['tok512', 'llama2']) {
    const tok = Tokenizer.fromFile('/tmp/tk/gen/' + name + '.json');
    out.models[name] = [];
    for (const t of texts) { const e = await tok.encode(t, null, {addSpecialTokens: false}); out.models[name].push(e.getIds()); }
  }
  fs.writeFileSync(process.argv[2], JSON.stringify(out));
})();
