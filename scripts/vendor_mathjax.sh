#!/usr/bin/env bash
# Copy the parts of MathJax 3 the site needs into DEST, so formulas render with no CDN at all.
# Usage: bash scripts/vendor_mathjax.sh docs/vendor/mathjax
# Idempotent: if DEST already holds this exact version, it does nothing.
set -euo pipefail

# Pinned exactly: MathJax 4 would fetch its fonts from a CDN unless pointed at a local copy.
MATHJAX_VERSION="3.2.2"

dest="${1:?usage: $0 DEST}"
stamp="$dest/.version"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$MATHJAX_VERSION" && -f "$dest/tex-chtml.js" ]]; then
  exit 0
fi

command -v npm >/dev/null || { echo "npm is needed to vendor MathJax (apt-get install -y npm)" >&2; exit 1; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

npm install --silent --no-save --no-audit --no-fund --ignore-scripts \
  --prefix "$tmp" "mathjax@$MATHJAX_VERSION" >/dev/null
src="$tmp/node_modules/mathjax/es5"
[[ -f "$src/tex-chtml.js" ]] || { echo "MathJax $MATHJAX_VERSION has no es5/tex-chtml.js" >&2; exit 1; }

# Build the new copy beside DEST, then swap it in, so an interrupted run never leaves half a copy.
staging="$dest.tmp.$$"
rm -rf "$staging"
mkdir -p "$staging/output/chtml/fonts" "$staging/input/tex"
cp "$src/tex-chtml.js" "$staging/"
cp -R "$src/output/chtml/fonts/woff-v2" "$staging/output/chtml/fonts/"
cp -R "$src/input/tex/extensions" "$staging/input/tex/"
cp -R "$src/ui" "$src/a11y" "$staging/"
[[ -f "$src/sre/mathmaps/en.json" || -d "$src/sre" ]] && cp -R "$src/sre" "$staging/"
cp "$tmp/node_modules/mathjax/LICENSE" "$staging/"
echo "$MATHJAX_VERSION" > "$staging/.version"

rm -rf "$dest"
mkdir -p "$(dirname "$dest")"
mv "$staging" "$dest"
echo "MathJax $MATHJAX_VERSION vendored into $dest ($(du -sh "$dest" | cut -f1))"
