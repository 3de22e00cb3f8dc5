#!/usr/bin/env bash
# `npm run demo`: the platform's main job end to end on the local stack (installed and started when needed).
# It brings the whole platform up (`bv up`: the stack, services, stream and lake jobs, warehouse, lineage, dashboard),
# runs the demo's load through it, and brings down what it brought up, unless `--keep` (or the platform was up).
set -euo pipefail
cd "$(dirname "$0")/.."
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true

bash scripts/bootstrap.sh
keep=false
for arg in "$@"; do [ "$arg" = "--keep" ] && keep=true; done
was_up=false
node cli/bin/bv.js status >/dev/null 2>&1 && was_up=true
node cli/bin/bv.js up
status=0
node cli/bin/bv.js demo "$@" || status=$?
if [ "$keep" = false ] && [ "$was_up" = false ]; then node cli/bin/bv.js down; fi
exit "$status"
