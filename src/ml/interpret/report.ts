/** Report tables as files: CSV (RFC 4180 quoting) and JSON, for nodes with a `saveAs` param. */

export type ReportRow = Record<string, string | number>;

/** Columns in first-seen order across all rows. */
export function reportColumns(rows: ReportRow[]): string[] {
  return [...new Set(rows.flatMap((r) => Object.keys(r)))];
}

function csvCell(v: string | number | undefined): string {
  if (v === undefined) return '';
  const s = typeof v === 'number' ? (Number.isFinite(v) ? String(v) : '') : v;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function reportCsv(rows: ReportRow[]): string {
  const cols = reportColumns(rows);
  return [cols.map(csvCell).join(','), ...rows.map((r) => cols.map((c) => csvCell(r[c])).join(','))].join('\n') + '\n';
}

/** Numbers rounded for display (tables, summaries); files keep full precision. */
export function round(v: number, digits = 4): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
