export { ensureChromium, launchChromium } from './browser.js';
export type { Component, ComponentName, Health } from './local/component.js';
export { type StackPaths, stackPaths } from './local/paths.js';
export { livePid, readPid, startDaemon, stopProcess, waitUntil } from './local/process.js';
export { platformConfigOf, type StackSettings } from './local/settings.js';
export {
  COMPONENTS,
  type ComponentStatus,
  componentByName,
  type StackEvent,
  settingsFor,
  stackDown,
  stackKill,
  stackLogs,
  stackRestart,
  stackStatus,
  stackUp,
  type UpResult,
} from './local/stack.js';
export { versions } from './versions.js';
