#!/usr/bin/env node
// The platform runs its TypeScript sources directly (no build step to go stale): tsx compiles on load.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
