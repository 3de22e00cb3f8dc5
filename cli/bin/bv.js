#!/usr/bin/env node
// The platform runs its TypeScript sources directly (no build step to go stale): tsx compiles on load.
import { register } from 'tsx/esm/api';

// The platform targets Node 20; the AWS SDK's notice about its 2027 releases is tracked in docs, not printed per run.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
register();
await import('../src/main.ts');
