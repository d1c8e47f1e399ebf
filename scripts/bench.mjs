#!/usr/bin/env node
// `npm run bench [-- --quick|--full] [--only=section,...] [--runs=N] [--sizes=100,1000,10000] [--no-build]`
// Builds dist/, runs each bench section as its own process (node --import tsx bench/<x>.ts),
// collects their `BENCH_RESULT {json}` lines and writes bench/results/<date>.md.
// Benchmarks never gate CI and are not part of npm test.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const SECTIONS = {
  reconcile: 'operator',
  quiet: 'operator',
  memory: 'operator',
  idle: 'operator-idle',
  relay: 'relay-vs-postfix',
  queue: 'relay-vs-postfix',
  footprint: 'relay-footprint',
  rotation: 'rotation',
  probe: 'probe-cost',
  'probe-scale': 'probe-scale',
};
const USAGE = `npm run bench -- [--quick|--full] [--only=${Object.keys(SECTIONS).join(',')}] [--runs=N] [--sizes=N,...] [--no-build]
  --quick   small sizes, 1-2 runs (a few minutes; the default)
  --full    the issue's sizes (N=100, 1000, 10000 relays, 5 min quiet window, 100 latency samples, ...)
  --sizes   the operator's relay counts (reconcile, quiet, memory)
`;

for (const a of argv) {
  if (a === '--help' || a === '-h') {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  if (!['--quick', '--full', '--no-build'].includes(a) && !a.startsWith('--only=') && !a.startsWith('--runs=') && !a.startsWith('--sizes=')) {
    process.stderr.write(`bench: unknown option ${a}\n\n${USAGE}`);
    process.exit(64);
  }
}
const full = argv.includes('--full');
if (full && argv.includes('--quick')) {
  process.stderr.write('bench: --quick and --full exclude each other\n');
  process.exit(64);
}
const only = (argv.find((a) => a.startsWith('--only='))?.slice(7).split(',').filter(Boolean)) ?? [];
for (const s of only) {
  if (!(s in SECTIONS)) {
    process.stderr.write(`bench: unknown section "${s}"; sections: ${Object.keys(SECTIONS).join(', ')}\n`);
    process.exit(64);
  }
}
const runs = argv.find((a) => a.startsWith('--runs='));
if (runs && !(Number(runs.slice(7)) >= 1)) {
  process.stderr.write('bench: --runs must be a number >= 1\n');
  process.exit(64);
}
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(`bench: Node ${process.versions.node} is running; use Node 24 (npm run bench puts node_modules/.bin first on PATH)\n`);
  process.exit(1);
}

if (!argv.includes('--no-build')) {
  const r = spawnSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.stderr.write('bench: tsc reported errors (dist/ is emitted anyway); benching what was built\n');
}

const wanted = only.length > 0 ? only : Object.keys(SECTIONS);
const scripts = [...new Set(wanted.map((s) => SECTIONS[s]))];
const results = [];
const started = new Date();
for (const script of scripts) {
  const sectionsOfScript = wanted.filter((s) => SECTIONS[s] === script);
  // probe-scale is the operator's prober: the operator's V8 flags for 10,000 relays (deploy/base/deployment.yaml), and the live heap after a full GC.
  const args = [...(script === 'probe-scale' ? ['--expose-gc', '--max-old-space-size=448', '--max-semi-space-size=4'] : []), '--import', 'tsx', path.join('bench', `${script}.ts`), full ? '--full' : '--quick', `--only=${sectionsOfScript.join(',')}`];
  if (runs) args.push(runs);
  const sizes = argv.find((a) => a.startsWith('--sizes='));
  if (sizes && script === 'operator') args.push(sizes);
  process.stderr.write(`\n== bench/${script}.ts (${sectionsOfScript.join(', ')}) ==\n`);
  const t0 = Date.now();
  const r = spawnSync(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const seconds = Math.round((Date.now() - t0) / 1000);
  const found = (r.stdout ?? '').split('\n').filter((l) => l.startsWith('BENCH_RESULT ')).map((l) => JSON.parse(l.slice('BENCH_RESULT '.length)));
  if (found.length === 0) {
    results.push({ section: script, title: `bench/${script}.ts`, rows: [], notes: [`FAILED (exit ${r.status ?? r.signal}); see the console output of the run.`], seconds });
  }
  for (const f of found) results.push({ ...f, seconds });
}

function machine() {
  const cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8');
  const cpu = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown';
  const mem = Number(/^MemTotal:\s+(\d+)/m.exec(fs.readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0);
  const git = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).stdout?.trim() || 'unknown';
  const dirty = spawnSync('git', ['status', '--porcelain'], { cwd: root, encoding: 'utf8' }).stdout?.trim() ? ' (with uncommitted changes)' : '';
  return { cpu, nproc: os.cpus().length, memGiB: (mem / 1024 / 1024).toFixed(1), node: process.version, kernel: os.release(), git: git + dirty, load: os.loadavg().map((l) => l.toFixed(2)).join(' ') };
}

const esc = (v) => String(v ?? '').replace(/\|/g, '\\|').replace(/\n/g, ' ');
const m = machine();
const lines = [
  `# Benchmark results ${started.toISOString().slice(0, 10)} (${full ? 'full' : 'quick'})`,
  '',
  `Command: \`npm run bench -- ${argv.join(' ')}\`  `,
  `Started ${started.toISOString()}, took ${Math.round((Date.now() - started.getTime()) / 60000)} min.  `,
  `Machine: ${m.nproc} × ${m.cpu}, ${m.memGiB} GiB RAM, Linux ${m.kernel}, Node ${m.node}, load average at the end ${m.load} (shared machine: other work ran meanwhile).  `,
  `Commit: ${m.git}.`,
  '',
];
for (const r of results) {
  lines.push(`## ${r.title}`, '', `(${r.seconds} s)`, '');
  if (r.rows.length > 0) {
    lines.push('| metric | value | target | met |', '| --- | --- | --- | --- |');
    for (const row of r.rows) {
      const value = `${esc(row.value)}${row.unit ? ` ${row.unit}` : ''}${row.note ? ` (${esc(row.note)})` : ''}`;
      lines.push(`| ${esc(row.metric)} | ${value} | ${esc(row.target ?? '')} | ${row.ok === undefined ? '' : row.ok ? 'yes' : '**no**'} |`);
    }
    lines.push('');
  }
  for (const n of r.notes ?? []) lines.push(`- ${n}`);
  lines.push('');
}
const outDir = path.join(root, 'bench', 'results');
fs.mkdirSync(outDir, { recursive: true });
// A partial run (--only) gets its own file, so it never replaces a complete run's table.
const outFile = path.join(outDir, `${started.toISOString().slice(0, 10)}${only.length > 0 ? `-${only.join('-')}` : ''}.md`);
fs.writeFileSync(outFile, lines.join('\n'));
process.stdout.write(`${lines.join('\n')}\nbench: wrote ${path.relative(root, outFile)}\n`);
