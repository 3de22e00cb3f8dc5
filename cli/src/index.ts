export { stackCommand } from './commands/stack.js';
