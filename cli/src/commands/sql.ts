import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { BvError, bvHome, loadPlatformConfig } from '@bitvelocity/core';
import type { AnalystSession, SqlResult } from '@bitvelocity/warehouse';
import { Command, Option } from 'commander';
import { positiveInt } from '../output.js';

type Format = 'table' | 'csv' | 'json' | 'parquet';

interface SqlOptions {
  command?: string;
  file?: string;
  format: Format;
  output?: string;
  timeout?: number;
  rowLimit?: number;
}

const out = (text: string) => process.stdout.write(`${text}\n`);
const err = (text: string) => process.stderr.write(`${text}\n`);

/** Where the REPL keeps its history; BV_SQL_HISTORY overrides. */
function historyFile(): string {
  return process.env.BV_SQL_HISTORY ?? join(bvHome(), 'sql_history');
}

async function printResult(
  results: SqlResult[],
  options: SqlOptions,
  warehouse: typeof import('@bitvelocity/warehouse'),
): Promise<void> {
  for (const result of results) {
    if (!result.columns.length || (result.columns.length === 1 && result.columns[0]?.name === 'Success')) continue;
    if (result.truncated) err(`warning: the result was cut at the row limit (${result.rows.length} rows)`);
    if (options.format === 'parquet') {
      if (!options.output)
        throw new BvError('SQL_BAD_OPTION', '--format parquet writes a file: give it with -o <file>');
      await warehouse.writeParquet(result, options.output);
      err(`wrote ${result.rows.length} rows to ${options.output}`);
    } else if (options.format === 'csv') out(warehouse.renderCsv(result));
    else if (options.format === 'json') out(warehouse.renderJson(result));
    else out(warehouse.renderTable(result));
  }
}

async function describe(session: AnalystSession, name: string | undefined): Promise<void> {
  if (!name) {
    const relations = await session.relations();
    if (!relations.length) {
      out('no tables');
      return;
    }
    const width = Math.max(...relations.map((r) => r.schema.length + r.name.length + 1));
    for (const r of relations)
      out(`${`${r.schema}.${r.name}`.padEnd(width)}  ${r.kind.padEnd(5)}  ${r.comment ?? ''}`.trimEnd());
    return;
  }
  const found = await session.columns(name);
  if (!found) {
    err(`no table or view named "${name}" in ${session.database.schemas.join(', ')}`);
    return;
  }
  out(
    `${found.relation.kind} ${found.relation.schema}.${found.relation.name}${found.relation.comment ? `: ${found.relation.comment}` : ''}`,
  );
  const nameWidth = Math.max(6, ...found.columns.map((c) => c.name.length));
  const typeWidth = Math.max(4, ...found.columns.map((c) => c.type.length));
  out(`${'column'.padEnd(nameWidth)}  ${'type'.padEnd(typeWidth)}  null  description`);
  for (const c of found.columns) {
    out(
      `${c.name.padEnd(nameWidth)}  ${c.type.padEnd(typeWidth)}  ${c.nullable ? 'yes ' : 'no  '}  ${c.comment ?? ''}`.trimEnd(),
    );
  }
}

/** The REPL: statements end with `;` and may span lines; backslash commands act at once. */
async function repl(
  session: AnalystSession,
  options: SqlOptions,
  warehouse: typeof import('@bitvelocity/warehouse'),
): Promise<void> {
  const file = historyFile();
  const history = existsSync(file)
    ? readFileSync(file, 'utf8').split('\n').filter(Boolean).reverse().slice(0, 1000)
    : [];
  mkdirSync(dirname(file), { recursive: true });
  const interactive = Boolean(process.stdin.isTTY);
  const rl = createInterface({
    input: process.stdin,
    output: process.stdout,
    terminal: interactive,
    history,
    historySize: 1000,
  });
  let timing = false;
  let buffer = '';
  const prompt = () => {
    if (!interactive) return;
    rl.setPrompt(buffer ? 'bv-> ' : 'bv=> ');
    rl.prompt();
  };
  if (interactive)
    out(
      `bv sql: read-only ${session.database.schemas.join(', ')}. End statements with ;  \\d lists tables, \\q quits.`,
    );
  prompt();
  rl.on('SIGINT', () => {
    if (buffer) {
      buffer = '';
      out('');
      prompt();
    } else rl.close();
  });
  for await (const line of rl) {
    const trimmed = line.trim();
    if (!buffer && trimmed.startsWith('\\')) {
      appendFileSync(file, `${trimmed}\n`);
      const [command, ...args] = trimmed.split(/\s+/);
      if (command === '\\q') break;
      if (command === '\\timing') {
        timing = args[0] === undefined ? !timing : args[0] === 'on';
        out(`Timing is ${timing ? 'on' : 'off'}.`);
      } else if (command === '\\d') {
        await describe(session, args[0]).catch((error: unknown) => err(`ERROR: ${(error as Error).message}`));
      } else err(`unknown command ${command}; try \\d, \\d <table>, \\timing, \\q`);
      prompt();
      continue;
    }
    buffer = buffer ? `${buffer}\n${line}` : line;
    if (!buffer.trim()) {
      buffer = '';
      prompt();
      continue;
    }
    if (!buffer.trimEnd().endsWith(';')) {
      prompt();
      continue;
    }
    const statement = buffer;
    buffer = '';
    appendFileSync(file, `${statement.replaceAll('\n', ' ')}\n`);
    const started = performance.now();
    try {
      await printResult(await session.run(statement), options, warehouse);
    } catch (error) {
      const code = error instanceof BvError ? error.code : 'UNEXPECTED';
      err(`ERROR [${code}]: ${(error as Error).message}`);
    }
    if (timing) out(`Time: ${(performance.now() - started).toFixed(3)} ms`);
    prompt();
  }
  rl.close();
}

/** `bv sql`: read-only SQL over Gold and Silver for analysts. */
export function sqlCommand(): Command {
  return new Command('sql')
    .description('read-only SQL over the Gold and Silver schemas: a REPL, or -c / -f')
    .option('-c, --command <sql>', 'run these statements and exit')
    .option('-f, --file <file>', 'run the statements of a file and exit')
    .addOption(
      new Option('--format <format>', 'output format').choices(['table', 'csv', 'json', 'parquet']).default('table'),
    )
    .option('-o, --output <file>', 'the file --format parquet writes')
    .option(
      '--timeout <ms>',
      'statement timeout in milliseconds (default 30000)',
      positiveInt('SQL_BAD_OPTION', '--timeout'),
    )
    .option('--row-limit <rows>', 'rows a result keeps (default 100000)', positiveInt('SQL_BAD_OPTION', '--row-limit'))
    .action(async (options: SqlOptions) => {
      if (options.command !== undefined && options.file !== undefined) {
        throw new BvError('SQL_BAD_OPTION', 'give either -c or -f, not both');
      }
      if (options.format === 'parquet' && !options.output) {
        throw new BvError('SQL_BAD_OPTION', '--format parquet writes a file: give it with -o <file>');
      }
      const sql = options.file !== undefined ? readSqlFile(options.file) : options.command;
      const warehouse = await import('@bitvelocity/warehouse');
      const database = await warehouse.AnalystDatabase.create(loadPlatformConfig(), {
        ...(options.timeout ? { statementTimeoutMs: options.timeout } : {}),
        ...(options.rowLimit ? { rowLimit: options.rowLimit } : {}),
      });
      const session = await database.openSession();
      try {
        if (sql === undefined) await repl(session, options, warehouse);
        else await printResult(await session.run(sql), options, warehouse);
      } finally {
        session.close();
        database.close();
      }
    });
}

function readSqlFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (cause) {
    throw new BvError('SQL_BAD_OPTION', `cannot read ${file}: ${(cause as Error).message}`, { cause });
  }
}
