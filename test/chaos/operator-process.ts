// The operator as a real process (node dist/cli.js operator), for fault tests that kill
// it: output goes to a log file that every incarnation appends to (so secret scans and
// post-mortems see all of it), and the harness's ManagedProcess makes sure no operator
// outlives the test run.
import fs from 'node:fs';
import path from 'node:path';
import { ManagedProcess } from '../harness/process.js';
import { cliPath, nodeBin } from '../helpers/cli.js';

export interface OperatorProcessOptions {
  kubeconfig: string;
  namespace: string;
  logPath: string;
  leaderElect?: boolean;
  leaseNamespace?: string;
  /** Lease holder identity prefix (POD_NAME). */
  podName?: string;
  extraArgs?: string[];
}

export interface OperatorProcess {
  proc: ManagedProcess;
  /** SIGKILL: no shutdown code runs, like an OOM kill or a node failure. */
  kill9(): Promise<void>;
  stop(): Promise<void>;
}

export function startOperatorProcess(o: OperatorProcessOptions): OperatorProcess {
  fs.mkdirSync(path.dirname(o.logPath), { recursive: true });
  const args = [
    cliPath,
    'operator',
    '--kubeconfig',
    o.kubeconfig,
    '--namespace',
    o.namespace,
    `--leader-elect=${o.leaderElect === true}`,
    '--tls-probe=off',
    '--mail-auth-check=off', // no DNS lookups beyond loopback in tests
    '--metrics-port=0',
    '--health-port=0',
    '--bind-address=127.0.0.1',
    ...(o.leaseNamespace ? ['--leader-election-namespace', o.leaseNamespace] : []),
    ...(o.extraArgs ?? []),
  ];
  const proc = ManagedProcess.start({
    name: o.podName ?? 'operator',
    command: nodeBin,
    args,
    logPath: o.logPath,
    env: { ...process.env, POD_NAME: o.podName ?? 'operator', LOG_LEVEL: process.env.OPERATOR_LOG_LEVEL ?? 'info' },
  });
  return {
    proc,
    async kill9() {
      proc.killNow();
      await proc.waitForExit();
    },
    stop: () => proc.stop(5000),
  };
}

/** Resolves once the log has a line matching `re` after `fromOffset` bytes. */
export async function waitForLog(logPath: string, re: RegExp, timeoutMs = 30_000, fromOffset = 0): Promise<string> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const text = fs.existsSync(logPath) ? fs.readFileSync(logPath, 'utf8').slice(fromOffset) : '';
    const line = text.split('\n').find((l) => re.test(l));
    if (line) return line;
    if (Date.now() > until) throw new Error(`no log line matching ${re} within ${timeoutMs} ms in ${logPath}:\n${text.slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
