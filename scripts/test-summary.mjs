// Prints vitest's JSON reports as one closing line that any CI reads: "tests: N passed, N failed, N skipped".
import { existsSync, readFileSync } from 'node:fs';

const files = process.argv.length > 2 ? process.argv.slice(2) : ['.vitest-report.json'];
const totals = { passed: 0, failed: 0, skipped: 0, missing: [] };
for (const file of files) {
  if (!existsSync(file)) {
    totals.missing.push(file);
    continue;
  }
  const report = JSON.parse(readFileSync(file, 'utf8'));
  totals.passed += report.numPassedTests ?? 0;
  totals.failed += report.numFailedTests ?? 0;
  totals.skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
}
const missing = totals.missing.length ? ` (no report: ${totals.missing.join(', ')})` : '';
console.log(`tests: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped${missing}`);
