#!/usr/bin/env bash
# The README's test command: setup (idempotent), then lint, typecheck,
# import rules, and every test (unit, kernel, end-to-end). Under CI=true a
# kernel test that cannot run fails instead of skipping.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/setup.sh

# The hub's suite runs against SQLite and a real PostgreSQL (Debian's, on loopback).
if [ -z "${PALISADE_TEST_POSTGRES_URL:-}" ]; then
  PALISADE_TEST_POSTGRES_URL=$(bash scripts/postgres.sh)
  export PALISADE_TEST_POSTGRES_URL
fi

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
step "lint";        npx eslint --max-warnings=0 .
step "typecheck";   npx tsc -p tsconfig.json --noEmit
step "import rules"; npx tsx scripts/check-imports.ts
step "tests";       npx vitest run --reporter=default --reporter=json --outputFile=build/test-results.json "$@"
# One plain closing line that any CI reader understands.
node -e '
  const r = require("./build/test-results.json");
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
  process.exit(r.numFailedTests === 0 && r.success ? 0 : 1);
'
