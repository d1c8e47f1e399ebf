// Operator idle memory (section idle): what the long-lived operator process costs before any
// relay exists, and what loading @kubernetes/client-node alone costs, for comparison.
//
// - `node -e` with nothing imported, and with `await import('@kubernetes/client-node')`: VmRSS
//   read by the process itself after the import.
// - dist/cli.js operator on a private control plane with 0 relays, once with the operator's
//   ServiceAccount token kubeconfig and once with the admin client-certificate kubeconfig:
//   VmRSS of the operator process SETTLE_MS after it logged "starting workers".
//
// Run: npm run build && node --import tsx bench/operator-idle.ts
import { execFileSync } from 'node:child_process';
import { rssMiB } from './lib/proc.js';
import { emit, log, sleep, type Row } from './lib/result.js';
import { median, round } from './lib/stats.js';
import { startBenchCluster, startOperatorProcess } from './lib/kube-bench.js';
import { nodeBin, repoRoot } from '../test/helpers/cli.js';

const SETTLE_MS = 10_000;
const SAMPLES = 3;

/** VmRSS (MiB) of a fresh `node --input-type=module -e` that runs `code` and then reads its own /proc status. */
function nodeEvalRss(code: string): number {
  const script = `${code}; const s = (await import('node:fs')).readFileSync('/proc/self/status', 'utf8'); console.log(/^VmRSS:\\s+(\\d+)/m.exec(s)[1]);`;
  const out = execFileSync(nodeBin, ['--input-type=module', '-e', script], { cwd: repoRoot, encoding: 'utf8' });
  return Number(out.trim()) / 1024;
}

const rows: Row[] = [];
const bare = median(Array.from({ length: SAMPLES }, () => nodeEvalRss('0')));
const clientNode = median(Array.from({ length: SAMPLES }, () => nodeEvalRss("await import('@kubernetes/client-node')")));
rows.push({ metric: 'node -e (nothing imported)', value: round(bare), unit: 'MiB' });
rows.push({ metric: "node -e \"await import('@kubernetes/client-node')\"", value: round(clientNode), unit: 'MiB', note: `+${round(clientNode - bare)} MiB over bare node` });

const cluster = await startBenchCluster();
try {
  for (const [label, kubeconfig] of [
    ['ServiceAccount token kubeconfig', cluster.operatorKubeconfig],
    ['admin client-certificate kubeconfig', cluster.cp.kubeconfigPath],
  ] as const) {
    const samples: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const op = await startOperatorProcess(kubeconfig);
      try {
        await sleep(SETTLE_MS);
        samples.push(rssMiB(op.pid));
      } finally {
        await op.stop();
      }
    }
    log(`operator idle (${label}): ${samples.map((s) => s.toFixed(1)).join(', ')} MiB`);
    rows.push({ metric: `operator idle RSS, 0 relays, ${label} (median of ${SAMPLES})`, value: round(median(samples)), unit: 'MiB', note: samples.map((s) => round(s)).join(', ') });
  }
} finally {
  await cluster.stop();
}

emit({
  section: 'idle',
  title: 'Operator: idle memory',
  rows,
  notes: [`dist/cli.js operator --tls-probe=off --leader-elect=false on a private control plane, no SmtpRelay; VmRSS ${SETTLE_MS / 1000} s after "starting workers".`],
});
process.exit(0);
