/** The table a run ends with: every model on the same test images, fixed precision. */
import type { TableRow } from '../api.js';

export function formatTable(rows: TableRow[], n: number): string {
  const head = ['model', 'role', 'params', 'top-1', 'top-5'];
  const body = rows.map((r) => [
    r.model,
    r.role,
    r.params !== undefined ? r.params.toLocaleString('en-US') : '',
    `${r.top1.toFixed(2)}%`,
    `${r.top5.toFixed(2)}%`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i >= 2 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
  return [
    `top-1 / top-5 on ${n} test images`,
    line(head),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...body.map(line),
  ].join('\n');
}
