#!/bin/sh
# Copy the web app's front-end packages from the npm registry into ../static/vendor, with
# their licences. The copies are committed, so installing driftsync needs no npm and the app
# works offline; run this (make web-assets) after changing a version in package.json.
set -eu
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --silent
out=../static/vendor
rm -rf "$out"
mkdir -p "$out"
cp node_modules/htmx.org/dist/htmx.min.js "$out/htmx.min.js"
cp node_modules/htmx.org/LICENSE "$out/htmx.LICENSE"
cp node_modules/@picocss/pico/css/pico.min.css "$out/pico.min.css"
cp node_modules/@picocss/pico/LICENSE.md "$out/pico.LICENSE.md"
node -e '
const lock = require("./package-lock.json").packages;
const v = (p) => lock["node_modules/" + p].version;
console.log(JSON.stringify({"htmx.org": v("htmx.org"), "@picocss/pico": v("@picocss/pico")}, null, 2));
' > "$out/versions.json"
rm -rf node_modules
echo "vendored into $(cd "$out" && pwd):"
ls "$out"
