import { BvError, errorMessage } from '@bitvelocity/core';
import { CommanderError } from 'commander';
import { buildProgram } from './program.js';

const program = buildProgram();

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) process.exit(error.exitCode);
  const code = error instanceof BvError ? error.code : 'UNEXPECTED';
  process.stderr.write(`bv: error [${code}]: ${errorMessage(error)}\n`);
  process.exit(1);
}
