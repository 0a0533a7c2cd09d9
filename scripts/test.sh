#!/usr/bin/env bash
# The test command: installs what is missing, builds, checks the import graph, runs every test,
# and closes with one plain summary line ("N passed, N failed").
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh --bench --package
node scripts/check-imports.mjs
report=$(mktemp -t flotilla-vitest-XXXXXX.json)
trap 'rm -f "$report"' EXIT
status=0
npx --no-install vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=$?
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : ""));
' "$report" || true
exit "$status"
