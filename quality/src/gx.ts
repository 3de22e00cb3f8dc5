import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { BvError } from '@bitvelocity/core';

const RUNNER = fileURLToPath(new URL('../gx/runner.py', import.meta.url));

/** One expectation as Great Expectations names it, e.g. {type: 'expect_column_values_to_not_be_null', kwargs: {column}}. */
export interface Expectation {
  type: string;
  kwargs?: Record<string, unknown>;
  meta?: Record<string, unknown>;
}

export interface ExpectationSuite {
  name: string;
  expectations: Expectation[];
}

export interface GxExpectationResult {
  type: string;
  kwargs: Record<string, unknown>;
  success: boolean;
  observedValue: unknown;
  unexpectedCount: number | null;
  unexpectedPercent: number | null;
  partialUnexpectedList: unknown[] | null;
  exception: string | null;
}

export interface GxValidationResult {
  /** False when any expectation failed or any type was unknown to GX. */
  success: boolean;
  statistics: {
    evaluated_expectations: number;
    successful_expectations: number;
    unsuccessful_expectations: number;
    success_percent: number | null;
  };
  results: GxExpectationResult[];
  /** Types GX does not know (GX itself would ignore them silently). */
  unknownExpectations: string[];
  rowCount: number;
  gxVersion: string;
}

export interface GxRequest {
  /** The venv interpreter with great_expectations (PlatformConfig.gx.python). */
  python: string;
  dataPath: string;
  suite: ExpectationSuite;
  timeoutMs?: number;
}

/** Validates a Parquet file with Great Expectations in its Python runner (JSON in, JSON out). */
export function runGreatExpectations(request: GxRequest): Promise<GxValidationResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(request.python, [RUNNER], {
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: request.timeoutMs ?? 120_000,
      killSignal: 'SIGKILL',
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', (cause) =>
      reject(
        new BvError('QUALITY_RUNNER_FAILED', `could not start the GX runner with ${request.python}: ${cause.message}`, {
          cause,
        }),
      ),
    );
    child.on('close', (code, signal) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(stdout);
      } catch {
        const why = signal ? `was killed (${signal}; timeout?)` : `exited with ${code} without a JSON result`;
        reject(
          new BvError(
            'QUALITY_RUNNER_FAILED',
            `the GX runner ${why}: ${stderr.trim().split('\n').slice(-5).join(' | ')}`,
          ),
        );
        return;
      }
      const error = (parsed as { error?: { code: string; message: string } }).error;
      if (error) {
        reject(
          new BvError('QUALITY_RUNNER_FAILED', `GX runner: ${error.code}: ${error.message}`, {
            details: { runnerCode: error.code, dataPath: request.dataPath },
          }),
        );
        return;
      }
      resolve(parsed as GxValidationResult);
    });
    child.stdin.end(JSON.stringify({ dataPath: request.dataPath, suite: request.suite }));
  });
}
