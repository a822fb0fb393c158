#!/usr/bin/env bash
# Install the Solana localnet's npm packages (litesvm, @solana/kit, ...) into
# tests/solana/localnet/node_modules, exactly as package-lock.json pins them.
#
#   scripts/setup-solana-localnet.sh
#
# Idempotent: when node_modules was installed from the same package-lock.json by the
# same Node.js, it does nothing. Needs Node.js >= 20.18 and npm on PATH (the machine's
# own; Debian's nodejs package is too old) and the npm registry; installs nothing
# globally.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="$root/tests/solana/localnet"

for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "setup-solana-localnet: $tool is not on PATH (Node.js >= 20.18 is needed)" >&2
    exit 1
  fi
done
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 18) ? 0 : 1)'; then
  echo "setup-solana-localnet: Node.js $(node --version) is too old; @solana/kit needs >= 20.18" >&2
  exit 1
fi

stamp="$dir/node_modules/.exitguard-setup-stamp"
wanted="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1) node-$(node --version)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]]; then
  echo "setup-solana-localnet: node_modules is up to date"
  exit 0
fi

# npm ci removes node_modules first and installs the lock exactly; the EBADENGINE
# warning for commander (a CLI-only dependency of @solana/errors) is harmless on Node 20.
(cd "$dir" && npm ci --no-audit --no-fund)
echo "$wanted" >"$stamp"
echo "setup-solana-localnet: installed $(node -p "require('$dir/node_modules/litesvm/package.json').version" 2>/dev/null | sed 's/^/litesvm /')"
