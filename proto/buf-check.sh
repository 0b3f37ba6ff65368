#!/usr/bin/env bash
# Checks the mpx.v1 contract with the tool its users use: `buf lint` (STANDARD rules, exceptions
# in proto/proto/buf.yaml) and `buf breaking` against the contract of the previous commit (FILE
# rules: counties upgrade at different times, so a node must keep talking to the last version).
# buf comes from the npm registry (@bufbuild/buf, a prebuilt binary inside the package), installed
# once under target/tools.
set -euo pipefail
cd "$(dirname "$0")/.."
version=1.75.0
tools=target/tools/buf-$version
buf="$tools/node_modules/.bin/buf"
if [ ! -x "$buf" ]; then
  echo "==> installing buf $version from the npm registry"
  mkdir -p "$tools"
  npm install --prefix "$tools" --silent --no-audit --no-fund "@bufbuild/buf@$version" >/dev/null
fi
echo "==> buf lint"
(cd proto/proto && "../../$buf" lint)
against="${MPX_BUF_AGAINST:-HEAD~1}"
if git rev-parse --verify --quiet "$against^{commit}" >/dev/null; then
  echo "==> buf breaking against $against"
  "$buf" breaking proto/proto --against ".git#ref=$(git rev-parse "$against"),subdir=proto/proto"
else
  echo "note: no commit $against in this clone; buf breaking skipped"
fi
echo "contract checks passed"
