// How a bench section reports: rows of (metric, value, target, ok), printed as one
// `BENCH_RESULT {json}` line that scripts/bench.mjs collects into the results table.

export interface Row {
  metric: string;
  value: number | string;
  unit?: string;
  /** The target as written in the issue, e.g. "≤ 1.3". */
  target?: string;
  /** Whether the value meets the target (undefined: no target). */
  ok?: boolean;
  note?: string;
}

export interface SectionResult {
  section: string;
  title: string;
  rows: Row[];
  /** What was done and how, for the reader of the table. */
  notes: string[];
}

export function emit(result: SectionResult): void {
  process.stdout.write(`BENCH_RESULT ${JSON.stringify(result)}\n`);
}

export function check(value: number, op: '<=' | '>=', bound: number): boolean {
  return op === '<=' ? value <= bound : value >= bound;
}

/** Reads --quick / --full and --runs=N from argv; quick is the default. */
export function benchArgs(argv = process.argv.slice(2)): { quick: boolean; runs?: number; only: string[] } {
  const full = argv.includes('--full');
  const runs = argv.find((a) => a.startsWith('--runs='));
  const only = argv.find((a) => a.startsWith('--only='));
  return { quick: !full, runs: runs ? Number(runs.slice(7)) : undefined, only: only ? only.slice(7).split(',').filter(Boolean) : [] };
}

export function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
