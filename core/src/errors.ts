/**
 * The platform's error classes. Every error carries a stable machine-readable `code`, a message a user can act on,
 * whether retrying may help (`retriable`), and the underlying `cause`.
 */
export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'CONFIG_MISSING'
  | 'STACK_COMPONENT_UNKNOWN'
  | 'STACK_INSTALL_FAILED'
  | 'STACK_START_FAILED'
  | 'STACK_UNHEALTHY'
  | 'STACK_PORT_IN_USE'
  | 'COMMAND_FAILED'
  | 'CLI_BAD_OPTION'
  | 'WAIT_TIMED_OUT'
  | 'QUALITY_RUNNER_FAILED'
  | 'QUALITY_SUITE_INVALID'
  | 'QUALITY_BATCH_NOT_FOUND'
  | 'QUALITY_BAD_OPTION'
  | 'MIGRATION_CHANGED'
  | 'MIGRATION_FAILED'
  | 'EVENT_SCHEMA_VIOLATION'
  | 'MONEY_INVALID'
  | 'CONNECT_REQUEST_FAILED'
  | 'CONNECTOR_FAILED'
  | 'JOB_MODULE_NOT_FOUND'
  | 'JOB_MODULE_INVALID'
  | 'JOB_NOT_FOUND'
  | 'JOB_RUNNING'
  | 'JOB_BAD_OPTION'
  | 'LAKE_BAD_OPTION'
  | 'LAKE_NOT_ATTACHED'
  | 'LAKE_TABLE_NOT_FOUND'
  | 'LAKE_OPERATION_FAILED'
  | 'JOB_INVALID'
  | 'JOB_STATE_INCOMPATIBLE'
  | 'LAKE_FENCED'
  | 'LAKE_COMMIT_FAILED'
  | 'LAKE_SCHEMA_INCOMPATIBLE'
  | 'SQL_READ_ONLY'
  | 'SQL_ACCESS_DENIED'
  | 'SQL_CONFIG_LOCKED'
  | 'SQL_TIMEOUT'
  | 'SQL_CANCELLED'
  | 'SQL_FAILED'
  | 'SQL_BAD_OPTION'
  | 'WIRE_BAD_OPTION'
  | 'LINEAGE_DELIVERY_FAILED'
  | 'LINEAGE_EVENT_INVALID'
  | 'LINEAGE_NOT_FOUND'
  | 'LINEAGE_UNAVAILABLE'
  | 'WAREHOUSE_PUBLISH_FAILED'
  | 'ANOMALY_BAD_OPTION'
  | 'ANOMALY_VALUE_INVALID'
  | 'LAKE_COMMIT_CONFLICT'
  | 'UNDECODABLE'
  | 'SCHEMA_VIOLATION'
  | 'NO_EVENT_TIME'
  | 'SERVING_LAKE_UNAVAILABLE'
  | 'SERVING_QUERY_TIMEOUT'
  | 'PLATFORM_BAD_OPTION'
  | 'PLATFORM_START_FAILED'
  | 'PLATFORM_BUSY'
  | 'EVENT_TIME_OUT_OF_RANGE'
  | 'WINDOW_FIRE_FAILED'
  | 'AGGREGATE_INPUT_INVALID'
  | 'SERVING_READ_ABANDONED'
  | 'NOTIFY_BAD_OPTION'
  | 'NOTIFY_TOKEN_MISSING'
  | 'NOTIFY_TOKEN_INVALID'
  | 'NOTIFY_TOKEN_EXPIRED'
  | 'NOTIFY_FORBIDDEN'
  | 'NOTIFY_MESSAGE_INVALID'
  | 'NOTIFY_RESUME_INVALID'
  | 'NOTIFY_RESUME_EXPIRED'
  | 'NOTIFY_SLOW_CONSUMER'
  | 'NOTIFY_UNAVAILABLE'
  | 'TELEMETRY_TOPIC_INVALID'
  | 'TELEMETRY_RATE_LIMITED'
  | 'TELEMETRY_UNAUTHORIZED'
  | 'TELEMETRY_FORBIDDEN'
  | 'TELEMETRY_BATCH_INVALID'
  | 'TELEMETRY_DEVICE_INVALID'
  | 'TELEMETRY_BATCH_TOO_LARGE'
  | 'TELEMETRY_UNAVAILABLE'
  | 'TELEMETRY_USER_INVALID'
  | 'TELEMETRY_PASSWORD_INVALID'
  | 'TELEMETRY_USER_UNKNOWN';

export interface BvErrorOptions {
  cause?: unknown;
  retriable?: boolean;
  details?: Record<string, unknown>;
}

/**
 * The root of every platform error. `Code` is the closed list the error draws from: the platform's ErrorCode (listed
 * in docs/errors.md), or a package's own list answered over its own protocol (the services' HTTP codes).
 */
export class BvError<Code extends string = ErrorCode> extends Error {
  readonly code: Code;
  readonly retriable: boolean;
  readonly details: Record<string, unknown>;

  constructor(code: Code, message: string, options: BvErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = options.retriable ?? false;
    this.details = options.details ?? {};
  }

  toJSON(): Record<string, unknown> {
    return { name: this.name, code: this.code, message: this.message, retriable: this.retriable, ...this.details };
  }
}

export class ConfigError extends BvError {}

/** A failure of one component of the local stack; names the component and the log file to read. */
export class StackError extends BvError {
  readonly component: string;
  readonly logFile: string | undefined;

  constructor(
    code: ErrorCode,
    component: string,
    message: string,
    options: BvErrorOptions & { logFile?: string | undefined } = {},
  ) {
    const where = options.logFile ? ` (log: ${options.logFile})` : '';
    super(code, `${component}: ${message}${where}`, {
      ...options,
      details: { ...options.details, component, logFile: options.logFile },
    });
    this.component = component;
    this.logFile = options.logFile;
  }
}

/** A child process that exited unsuccessfully; keeps the tail of its output for the message. */
export class CommandError extends BvError {
  constructor(command: string, exitCode: number | null, outputTail: string, options: BvErrorOptions = {}) {
    const status = exitCode === null ? 'was killed' : `exited with ${exitCode}`;
    const tail = outputTail.trim() ? `\n${outputTail.trim()}` : '';
    super('COMMAND_FAILED', `${command} ${status}${tail}`, { ...options, details: { command, exitCode } });
  }
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) {
    const cause =
      error.cause instanceof Error && !error.message.includes(error.cause.message) ? `: ${error.cause.message}` : '';
    return `${error.message}${cause}`;
  }
  return String(error);
}
