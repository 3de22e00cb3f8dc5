import { Command } from 'commander';
export function pgServeCommand(): Command {
  return new Command('pg-serve');
}
