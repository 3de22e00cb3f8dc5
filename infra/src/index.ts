export { versions } from './versions.js';
export type { Component, ComponentName, Health } from './local/component.js';
export { stackPaths, type StackPaths } from './local/paths.js';
export { type StackSettings, platformConfigOf } from './local/settings.js';
export {
  COMPONENTS,
  type ComponentStatus,
  type StackEvent,
  type UpResult,
  settingsFor,
  stackDown,
  stackLogs,
  stackStatus,
  stackUp,
} from './local/stack.js';
