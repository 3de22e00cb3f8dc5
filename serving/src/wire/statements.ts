/**
 * Splits a simple-protocol query string into statements (a client may send several at once) and recognises the
 * session commands Postgres clients send that are not SQL for DuckDB: SET/SHOW/RESET of Postgres parameters and
 * transaction control. Everything else goes to the analyst session as it is.
 */
export function splitStatements(sql: string): string[] {
  const statements: string[] = [];
  let start = 0;
  let i = 0;
  while (i < sql.length) {
    const ch = sql[i];
    const next = sql[i + 1];
    if (ch === "'" || ch === '"') {
      const end = sql.indexOf(ch, i + 1);
      i = end < 0 ? sql.length : end + 1;
      continue;
    }
    if (ch === '-' && next === '-') {
      const end = sql.indexOf('\n', i);
      i = end < 0 ? sql.length : end + 1;
      continue;
    }
    if (ch === '/' && next === '*') {
      const end = sql.indexOf('*/', i + 2);
      i = end < 0 ? sql.length : end + 2;
      continue;
    }
    if (ch === '$') {
      const tag = /^\$[A-Za-z_]*\$/.exec(sql.slice(i))?.[0];
      if (tag) {
        const end = sql.indexOf(tag, i + tag.length);
        i = end < 0 ? sql.length : end + tag.length;
        continue;
      }
    }
    if (ch === ';') {
      statements.push(sql.slice(start, i));
      start = i + 1;
    }
    i += 1;
  }
  statements.push(sql.slice(start));
  return statements.map((s) => s.trim()).filter((s) => s.length > 0 && !/^(--[^\n]*\n?|\/\*[\s\S]*?\*\/|\s)*$/.test(s));
}

export type SessionCommand =
  | { kind: 'set'; name: string; value: string }
  | { kind: 'reset'; name: string }
  | { kind: 'show'; name: string }
  | { kind: 'begin' }
  | { kind: 'commit' }
  | { kind: 'rollback' }
  | { kind: 'ignore'; tag: string };

const unquote = (value: string) =>
  value
    .trim()
    .replace(/^'(.*)'$/s, '$1')
    .replace(/^"(.*)"$/s, '$1');

export function sessionCommand(statement: string): SessionCommand | undefined {
  const sql = statement.trim().replace(/;$/, '').trim();
  let m = /^SET\s+(?:SESSION\s+|LOCAL\s+)?(?:TIME\s+ZONE)\s+(.+)$/is.exec(sql);
  if (m?.[1]) return { kind: 'set', name: 'timezone', value: unquote(m[1]) };
  m = /^SET\s+(?:SESSION\s+|LOCAL\s+)?([A-Za-z_.]+)\s*(?:=|\s+TO\s+)\s*(.+)$/is.exec(sql);
  if (m?.[1] && m[2] !== undefined) return { kind: 'set', name: m[1].toLowerCase(), value: unquote(m[2]) };
  if (/^SET\s+(SESSION\s+CHARACTERISTICS|TRANSACTION)\b/i.test(sql)) return { kind: 'ignore', tag: 'SET' };
  m = /^RESET\s+([A-Za-z_.]+)$/i.exec(sql);
  if (m?.[1]) return { kind: 'reset', name: m[1].toLowerCase() };
  m = /^SHOW\s+([A-Za-z_.]+|TIME\s+ZONE|TRANSACTION\s+ISOLATION\s+LEVEL)$/i.exec(sql);
  if (m?.[1])
    return {
      kind: 'show',
      name: m[1]
        .toLowerCase()
        .replace(/^time\s+zone$/, 'timezone')
        .replace(/^transaction\s+isolation\s+level$/, 'transaction_isolation'),
    };
  if (/^(BEGIN|START\s+TRANSACTION)\b/i.test(sql)) return { kind: 'begin' };
  if (/^(COMMIT|END)\b/i.test(sql)) return { kind: 'commit' };
  if (/^(ROLLBACK|ABORT)\b/i.test(sql)) return { kind: 'rollback' };
  if (/^DISCARD\s+ALL$/i.test(sql)) return { kind: 'ignore', tag: 'DISCARD ALL' };
  if (/^DEALLOCATE\b/i.test(sql)) return { kind: 'ignore', tag: 'DEALLOCATE' };
  if (/^UNLISTEN\b/i.test(sql)) return { kind: 'ignore', tag: 'UNLISTEN' };
  return undefined;
}
