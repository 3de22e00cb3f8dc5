#!/usr/bin/env bash
# `npm run demo`: the platform's main job end to end on the local stack (installed and started when needed).
set -euo pipefail
cd "$(dirname "$0")/.."
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true

bash scripts/bootstrap.sh
node cli/bin/bv.js stack up
node cli/bin/bv.js demo "$@"
