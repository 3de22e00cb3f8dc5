#!/usr/bin/env bash
# `npm test`: every check and every test, against the real local stack (installed and started when needed).
set -euo pipefail
cd "$(dirname "$0")/.."
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true

bash scripts/bootstrap.sh
echo "== typecheck" >&2
npx tsc -p tsconfig.json
echo "== lint" >&2
npx biome check .
echo "== stack up" >&2
node cli/bin/bv.js stack up
echo "== tests" >&2
status=0
npx vitest run --reporter=default --reporter=json --outputFile=.vitest-report.json "$@" || status=$?
node scripts/test-summary.mjs .vitest-report.json || true
exit "$status"
