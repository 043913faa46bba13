#!/usr/bin/env bash
# arm64 kernels under user-mode QEMU: the NEON code paths (and the portable
# reference they are checked against) run on every CI machine, not only on
# arm64 hardware. Tests only, no benchmarks.
set -euo pipefail
cd "$(dirname "$0")/../.."

QEMU=$(command -v qemu-aarch64-static || command -v qemu-aarch64 || true)
if [ -z "$QEMU" ]; then
  echo "installing qemu-user-static"
  if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq qemu-user-static >/dev/null
  QEMU=$(command -v qemu-aarch64-static || command -v qemu-aarch64)
fi
echo "using $QEMU"
CGO_ENABLED=0 GOARCH=arm64 go test -count=1 -exec "$QEMU" ./kernels/ ./quant/
# The portable fallback must also pass on arm64 (the NEON paths replace it
# at run time when the CPU has them).
CGO_ENABLED=0 GOARCH=arm64 go test -count=1 -tags purego -exec "$QEMU" ./kernels/
