import { Command } from 'commander';
import { connectorsCommand } from './commands/connectors.js';
import { demoCommand } from './commands/demo.js';
import { dlqCommand } from './commands/dlq.js';
import { jobsCommand } from './commands/jobs.js';
import { lakeCommand } from './commands/lake.js';
import { lineageCommand } from './commands/lineage.js';
import { notifyCommand } from './commands/notify.js';
import { pgServeCommand } from './commands/pg-serve.js';
import { qualityCommand } from './commands/quality.js';
import { serveCommand } from './commands/serve.js';
import { servicesCommand } from './commands/services.js';
import { sqlCommand } from './commands/sql.js';
import { stackCommand } from './commands/stack.js';
import { telemetryCommand } from './commands/telemetry.js';
import { platformCommands } from './commands/up.js';
import { warehouseCommand } from './commands/warehouse.js';

/** The `bv` command tree (every command's implementation loads only when that command runs). */
export function buildProgram(): Command {
  const program = new Command('bv')
    .description('BitVelocity: stream-processing data platform')
    .showHelpAfterError()
    .exitOverride();

  program.addCommand(stackCommand());
  program.addCommand(demoCommand());
  program.addCommand(servicesCommand());
  program.addCommand(connectorsCommand());
  program.addCommand(jobsCommand());
  program.addCommand(lakeCommand());
  program.addCommand(sqlCommand());
  program.addCommand(pgServeCommand());
  program.addCommand(lineageCommand());
  program.addCommand(warehouseCommand());
  program.addCommand(qualityCommand());
  program.addCommand(dlqCommand());
  program.addCommand(serveCommand());
  program.addCommand(notifyCommand());
  program.addCommand(telemetryCommand());
  for (const command of platformCommands()) program.addCommand(command);
  return program;
}
