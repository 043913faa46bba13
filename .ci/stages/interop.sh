#!/usr/bin/env bash
# llama.cpp interop: installs the prebuilt llama.cpp CPU build that ships in
# node-llama-cpp's npm packages (pinned by interop/package-lock.json, GPU
# binary packages replaced by an empty stand-in: ~115 MB, ~10-30 s), so that
# `go test ./interop/` (run by the main test suite) loads ferry-written GGUFs
# in llama.cpp instead of skipping. Nothing is built or downloaded besides
# the npm packages: install scripts are off and node-llama-cpp is told never
# to fetch or compile llama.cpp.
set -euo pipefail
cd "$(dirname "$0")/../../interop"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "interop: node/npm missing (Node 20+ needed); installing from Debian"
  if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq nodejs npm >/dev/null
fi
export NODE_LLAMA_CPP_SKIP_DOWNLOAD=true
start=$(date +%s)
for attempt in 1 2 3; do
  if npm ci --ignore-scripts --no-audit --no-fund --loglevel=error; then break; fi
  if [ "$attempt" = 3 ]; then echo "interop: npm ci failed 3 times"; exit 1; fi
  echo "interop: npm ci failed (attempt $attempt), retrying in 10s"; sleep 10
done
echo "interop: npm ci took $(( $(date +%s) - start ))s, node_modules $(du -sh node_modules | cut -f1)"
# Fail here, with a clear message, if the prebuilt binary cannot load.
node -e '
import("node-llama-cpp").then(async ({getLlama}) => {
  const llama = await getLlama({gpu: false, build: "never", skipDownload: true, progressLogs: false});
  console.log("interop: llama.cpp prebuilt CPU binary loads:", llama.buildType, JSON.stringify(llama.llamaCppRelease));
  await llama.dispose();
}).catch((e) => { console.error("interop: llama.cpp binary does not load:", e.message); process.exit(1); });
'
