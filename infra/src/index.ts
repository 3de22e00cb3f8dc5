export { launchChromium } from './browser.js';
export { stackPaths } from './local/paths.js';
export {
  COMPONENTS,
  type ComponentStatus,
  stackDown,
  stackKill,
  stackLogs,
  stackRestart,
  stackStatus,
  stackUp,
} from './local/stack.js';
export { versions } from './versions.js';
