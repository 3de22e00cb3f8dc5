// The shared test kit; kept here so the streams specs' imports stay as they are.
export { BV, bv, killRandomWorker, restartsOf, stopJob } from '@bitvelocity/infra/testing';
