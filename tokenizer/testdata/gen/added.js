const {Tokenizer} = require('tokenizers');
const fs = require('fs');
const base = JSON.parse(fs.readFileSync('/work/shared/testdata/oracle/llama3/tokenizer.json'));
const texts = ["hi <|eot_id|>  there", "a  <|start_header_id|>\n\nb", "x<|end_header_id|>\n\ny", "<|begin_of_text|> <|eot_id|>\t<|eot_id|>", "plain text", " <|end_header_id|> "];
(async () => {
  const j = JSON.parse(JSON.stringify(base));
  for (const a of j.added_tokens) {
    if (a.content === '<|eot_id|>') { a.lstrip = true; a.rstrip = true; }
    if (a.content === '<|start_header_id|>') { a.lstrip = true; }
    if (a.content === '<|end_header_id|>') { a.rstrip = true; }
  }
  const tok = Tokenizer.fromString(JSON.stringify(j));
  const out = {added_tokens: j.added_tokens, texts, ids: []};
  for (const t of texts) { const e = await tok.encode(t, null, {addSpecialTokens: false}); out.ids.push(e.getIds()); }
  fs.writeFileSync(process.argv[2], JSON.stringify(out));
})();
