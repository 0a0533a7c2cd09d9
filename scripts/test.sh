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
  // A file whose setup failed has no failed test, only skipped ones: count it as a failure.
  const brokenFiles = r.testResults.filter((f) => f.status === "failed" && !f.assertionResults.some((t) => t.status === "failed")).length;
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests + brokenFiles} failed` + (skipped ? `, ${skipped} skipped` : ""));
' "$report" || true
exit "$status"
