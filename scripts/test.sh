#!/usr/bin/env bash
# `npm test`: every check and every test, against the real local stack (installed and started when needed).
# With arguments (`npm test -- streams/test/worker.test.ts`), vitest runs just those, in one process.
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
status=0
if [ "$#" -gt 0 ]; then
  echo "== tests" >&2
  npx vitest run --reporter=default --reporter=json --outputFile=.vitest-report.json "$@" || status=$?
  node scripts/test-summary.mjs .vitest-report.json || true
  exit "$status"
fi

# The crash and whole-platform specs (vitest.config.ts, SERIAL_SPECS) run one at a time in their own vitest, beside
# the other specs two at a time; the serial run's output is printed when both are done, so the two do not interleave.
echo "== tests (the parallel project, two at a time, beside the serial project, one at a time)" >&2
serial_log=.vitest-serial.log
npx vitest run --project serial --maxWorkers=1 --minWorkers=1 --reporter=default --reporter=json \
  --outputFile=.vitest-serial.json >"$serial_log" 2>&1 &
serial=$!
npx vitest run --project parallel --maxWorkers=2 --minWorkers=1 --reporter=default --reporter=json \
  --outputFile=.vitest-report.json || status=$?
wait "$serial" || status=$?
echo "== tests: the serial project" >&2
cat "$serial_log"
node scripts/test-summary.mjs .vitest-report.json .vitest-serial.json || true
exit "$status"
