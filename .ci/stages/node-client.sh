#!/usr/bin/env bash
# The official `openai` npm package against `ferry serve` (stories260K):
# chat (plain and streamed with usage), completions, embeddings, models, errors.
set -euo pipefail
if ! command -v node >/dev/null || ! command -v npm >/dev/null || ! command -v curl >/dev/null; then
  echo "node-client: installing nodejs, npm and curl from Debian"
  if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq nodejs npm curl >/dev/null
fi
root=$(pwd)
data="${FERRY_TESTDATA:-$root/../shared/testdata}"
work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

go build -o "$work/ferry" ./cmd/ferry
export FERRY_MODELS="$work/models" FERRY_NO_DISCOVERY=1
printf 'FROM %s\n' "$data/models/stories260K/stories260K.gguf" > "$work/Modelfile"
"$work/ferry" create stories -f "$work/Modelfile" >/dev/null

port=$((20000 + RANDOM % 20000))
"$work/ferry" serve --host "127.0.0.1:$port" --parallel 4 --threads 1 >"$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done

(cd "$work" && npm init -y >/dev/null && npm install --no-audit --no-fund --silent openai@7.57.0 >/dev/null)
cat > "$work/check.mjs" <<'JS'
import OpenAI from "openai";
const client = new OpenAI({ baseURL: process.env.BASE, apiKey: "unused", maxRetries: 0 });
const fail = (m) => { console.error("FAIL:", m); process.exit(1); };
const msgs = [{ role: "user", content: "Once upon a time" }];

const r = await client.chat.completions.create({ model: "stories", messages: msgs, max_tokens: 12, temperature: 0 });
const text = r.choices[0].message.content;
if (r.object !== "chat.completion" || r.choices[0].finish_reason !== "length" || r.usage.completion_tokens !== 12 || !text) fail(JSON.stringify(r));

let streamed = "", usage = null;
const stream = await client.chat.completions.create({ model: "stories", messages: msgs, max_tokens: 12, temperature: 0, stream: true, stream_options: { include_usage: true } });
for await (const c of stream) {
  if (c.usage) usage = c.usage;
  for (const ch of c.choices) streamed += ch.delta.content ?? "";
}
if (streamed !== text || !usage || usage.completion_tokens !== 12) fail(`stream ${JSON.stringify(streamed)} vs ${JSON.stringify(text)}, usage ${JSON.stringify(usage)}`);

const c = await client.completions.create({ model: "stories", prompt: "Once upon a time", max_tokens: 8, temperature: 0 });
if (!c.choices[0].text || c.usage.completion_tokens !== 8) fail(JSON.stringify(c));

// embeddings.create asks for base64 by default and decodes it.
const e = await client.embeddings.create({ model: "stories", input: ["Once upon a time", "The cat"] });
const f = await client.embeddings.create({ model: "stories", input: "Once upon a time", encoding_format: "float" });
const n = Math.hypot(...e.data[0].embedding);
if (e.object !== "list" || e.data.length !== 2 || e.data[1].index !== 1 || e.data[0].embedding.length !== 64 || Math.abs(n - 1) > 1e-4 || !(e.usage.prompt_tokens > 0)) fail(JSON.stringify(e).slice(0, 300));
if (f.data[0].embedding.some((x, i) => Math.abs(x - e.data[0].embedding[i]) > 1e-6)) fail("base64 and float embeddings differ");

const models = await client.models.list();
if (!models.data.some((m) => m.id === "stories:latest")) fail(JSON.stringify(models.data));

try {
  await client.chat.completions.create({ model: "missing", messages: msgs });
  fail("unknown model accepted");
} catch (e) {
  if (!(e instanceof OpenAI.NotFoundError)) fail(`unknown model: ${e}`);
}
try {
  await client.chat.completions.create({ model: "stories", messages: msgs, temperature: 7 });
  fail("temperature 7 accepted");
} catch (e) {
  if (!(e instanceof OpenAI.BadRequestError)) fail(`bad temperature: ${e}`);
}
console.log("openai npm client: all 7 checks OK");
JS
BASE="http://127.0.0.1:$port/v1" node "$work/check.mjs" || { cat "$work/serve.log"; exit 1; }
