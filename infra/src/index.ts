export { launchChromium } from './browser.js';
export {
  listMosquittoUsers,
  MQTT_BRIDGE_USER,
  MQTT_USER_NAME,
  removeMosquittoUser,
  setMosquittoUser,
} from './local/components/mosquitto.js';
export { stackPaths } from './local/paths.js';
export { livePid, startDaemon, stopProcess, waitUntil } from './local/process.js';
export {
  COMPONENTS,
  type ComponentStatus,
  componentByName,
  settingsFor,
  stackDown,
  stackKill,
  stackLogs,
  stackRestart,
  stackStatus,
  stackUp,
} from './local/stack.js';
export { versions } from './versions.js';
