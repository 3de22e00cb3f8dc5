import { loadPlatformConfig } from '@bitvelocity/core';
import { Command, InvalidArgumentError } from 'commander';

function orderCount(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 100_000)
    throw new InvalidArgumentError('must be a whole number from 1 to 100000');
  return n;
}

function seedOf(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 2 ** 32 - 1)
    throw new InvalidArgumentError('must be a whole number from 0 to 4294967295');
  return n;
}

/**
 * One line on stderr that says which step runs, for how long, and how far it got; redrawn every second on a terminal,
 * absent otherwise (a log or a pipe gets the step lines only).
 */
function progressLine(stream: NodeJS.WriteStream) {
  if (!stream.isTTY) return { update: (_step: string, _detail: string) => {}, clear: () => {}, stop: () => {} };
  let step = '';
  let detail = '';
  let since = Date.now();
  const frames = ['|', '/', '-', '\\'];
  let frame = 0;
  const draw = () => {
    const seconds = Math.round((Date.now() - since) / 1000);
    const text = `${frames[frame++ % frames.length]} ${step} ${seconds}s${detail ? `  ${detail}` : ''}`;
    // A pseudo-terminal may report 0 columns: then assume a usual width.
    const width = stream.columns && stream.columns > 20 ? stream.columns : 100;
    stream.write(`\r\x1b[K${text.slice(0, width - 1)}`);
  };
  const timer = setInterval(draw, 1000);
  timer.unref();
  return {
    update(nextStep: string, nextDetail: string) {
      if (nextStep !== step) since = Date.now();
      step = nextStep.split(':')[0] ?? nextStep;
      detail = nextDetail;
      draw();
    },
    clear() {
      stream.write('\r\x1b[K');
    },
    stop() {
      clearInterval(timer);
      stream.write('\r\x1b[K');
    },
  };
}

export function demoCommand(): Command {
  return new Command('demo')
    .description(
      'run the platform end to end on the local stack (start it first with `bv stack up`): a seeded load with planted defects through the API, CDC, the stream jobs and the lake, checked layer by layer and summed up',
    )
    .option('--orders <n>', 'how many orders to push through the API', orderCount, 200)
    .option('--seed <n>', "the load generator's seed (the same seed, the same load and defects)", seedOf, 16)
    .option('--keep', 'leave the services and jobs the demo started running (in this process) until Ctrl-C')
    .option('--json', 'print the report as JSON')
    .action(async (options: { orders: number; seed: number; keep?: boolean; json?: boolean }) => {
      // Loaded on use: `bv stack ...` must not pay for (or depend on) the demo's Kafka, DuckDB and GX imports.
      const { runPipelineDemo, formatSummary } = await import('../demo/pipeline.js');
      const progress = progressLine(process.stderr);
      const report = await runPipelineDemo(loadPlatformConfig(), {
        orders: options.orders,
        seed: options.seed,
        onProgress: (step, detail) => progress.update(step, detail),
        ...(options.json
          ? {}
          : {
              onStep: (s) => {
                progress.clear();
                process.stdout.write(`${s.seconds.toFixed(2).padStart(6)}s  ${s.name}\n         ${s.outcome}\n`);
              },
            }),
        ...(options.keep
          ? {
              keepUntil: (summary) => {
                progress.stop();
                if (!options.json) process.stdout.write(`\n${formatSummary(summary)}\n`);
                process.stderr.write('the services and jobs keep running here; Ctrl-C stops them\n');
                return new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
              },
            }
          : {}),
      });
      progress.stop();
      if (options.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      else {
        if (report.summary && !options.keep) process.stdout.write(`\n${formatSummary(report.summary)}\n`);
        process.stdout.write(
          `demo ${report.ok ? 'passed' : 'FAILED'}: run ${report.runId}, tenant ${report.tenant}, ${report.orders} orders, seed ${report.seed}\n`,
        );
      }
      if (!report.ok) process.exitCode = 1;
    });
}
