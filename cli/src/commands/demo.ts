import { loadPlatformConfig } from '@bitvelocity/core';
import { Command, InvalidArgumentError } from 'commander';

function orderCount(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 100_000)
    throw new InvalidArgumentError('must be a whole number from 1 to 100000');
  return n;
}

export function demoCommand(): Command {
  return new Command('demo')
    .description('run the platform end to end on the local stack (start it first with `bv stack up`)')
    .option('--orders <n>', 'how many orders to push through the API', orderCount, 200)
    .option('--json', 'print the report as JSON')
    .action(async (options: { orders: number; json?: boolean }) => {
      // Loaded on use: `bv stack ...` must not pay for (or depend on) the demo's Kafka, DuckDB and GX imports.
      const { runPipelineDemo } = await import('../demo/pipeline.js');
      const report = await runPipelineDemo(loadPlatformConfig(), {
        orders: options.orders,
        ...(options.json
          ? {}
          : {
              onStep: (s) =>
                process.stdout.write(`${s.seconds.toFixed(2).padStart(6)}s  ${s.name}\n         ${s.outcome}\n`),
            }),
      });
      if (options.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      else
        process.stdout.write(
          `demo ${report.ok ? 'passed' : 'FAILED'}: run ${report.runId}, tenant ${report.tenant}, ${report.orders} orders\n`,
        );
      if (!report.ok) process.exitCode = 1;
    });
}
