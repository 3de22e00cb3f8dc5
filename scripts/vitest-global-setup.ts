import { stackUp } from '@bitvelocity/infra';

/** Tests run against the real servers: make sure the local stack is up before any test file starts. */
export default async function setup(): Promise<void> {
  if (process.env.BV_SKIP_STACK === '1') return;
  await stackUp({ onEvent: ({ component, message }) => process.stderr.write(`[stack] ${component}: ${message}\n`) });
}
