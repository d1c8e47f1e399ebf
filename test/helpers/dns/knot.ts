// Knot DNS (Debian package `knot`, daemon /usr/sbin/knotd) as the real authoritative DNS
// server of the mail-authentication tests: a config file and zone files in a temp dir,
// listening on 127.0.0.1 at a free port, no privileges needed. Knot answers
//   - NXDOMAIN / NODATA / records for a loaded zone,
//   - SERVFAIL for a configured zone whose file is missing (zone: null below),
//   - REFUSED for a name outside every configured zone;
// stop() makes queries fail with ECONNREFUSED, pause() (SIGSTOP) makes them time out.
import { execFile } from 'node:child_process';
import { Resolver } from 'node:dns/promises';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { getFreePort } from '../../harness/controlplane.js';
import { ManagedProcess } from '../../harness/process.js';

const execFileAsync = promisify(execFile);

/** A Knot program from PATH, else Debian's /usr/sbin (not on a non-root PATH). */
export function knotProgram(name: 'knotd' | 'knotc'): string | undefined {
  for (const dir of [...(process.env.PATH ?? '').split(path.delimiter), '/usr/sbin']) {
    const candidate = path.join(dir, name);
    if (dir && fs.existsSync(candidate)) return candidate;
  }
  return undefined;
}

/** A zone file for `origin` with SOA and NS, plus `records` (owner names relative to origin). */
export function zoneFile(origin: string, records: readonly string[], serial = 1): string {
  const o = origin.replace(/\.$/, '');
  return [`$ORIGIN ${o}.`, '$TTL 60', `@ SOA ns.${o}. hostmaster.${o}. ${serial} 60 60 600 60`, `@ NS ns.${o}.`, 'ns A 127.0.0.1', ...records, ''].join('\n');
}

/** A TXT value as zone-file character-strings of at most 255 bytes each (long DKIM keys). */
export function txtStrings(value: string): string {
  const chunks = value.match(/.{1,255}/g) ?? [''];
  return chunks.map((c) => `"${c.replace(/(["\\])/g, '\\$1')}"`).join(' ');
}

export interface KnotOptions {
  /** origin → zone file text; null: configured but its file is missing, so Knot answers SERVFAIL. */
  zones: Record<string, string | null>;
}

export interface KnotServer {
  /** "127.0.0.1:port", for Resolver.setServers / --dns-servers. */
  server: string;
  port: number;
  stop(): Promise<void>;
  /** SIGSTOP: the socket stays bound but nothing answers (queries time out). Resolves once every thread is stopped. */
  pause(): Promise<void>;
  resume(): void;
  /** Replaces a loaded zone's file (give it a higher serial) and has Knot load it. */
  setZone(origin: string, text: string): Promise<void>;
  log(): string;
}

function config(root: string, port: number, zones: Record<string, string | null>): string {
  const zoneEntries = Object.keys(zones).map((origin) => `  - domain: ${origin}\n    file: ${origin}.zone`);
  return [
    'server:',
    `    rundir: "${path.join(root, 'run')}"`,
    `    listen: 127.0.0.1@${port}`,
    '    background-workers: 1',
    '    udp-workers: 1',
    '    tcp-workers: 1',
    'database:',
    `    storage: "${path.join(root, 'db')}"`,
    'log:',
    '  - target: stderr',
    '    any: info',
    'template:',
    '  - id: default',
    `    storage: "${path.join(root, 'zones')}"`,
    '    zonefile-sync: -1',
    '    journal-content: none',
    'zone:',
    ...zoneEntries,
    '',
  ].join('\n');
}

/** Resolves once every loaded zone answers its SOA; throws with Knot's log otherwise. */
async function waitUntilAnswering(proc: ManagedProcess, server: string, origins: string[], timeoutMs: number): Promise<void> {
  const resolver = new Resolver({ timeout: 300, tries: 1 });
  resolver.setServers([server]);
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (proc.hasExited) throw new Error(`knotd exited:\n${proc.logTail()}`);
    try {
      for (const origin of origins) await resolver.resolveSoa(origin);
      return;
    } catch (err) {
      last = (err as Error).message;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`knotd did not answer within ${timeoutMs} ms (${last}):\n${proc.logTail()}`);
}

/** Linux: every thread of `pid` in state T (stopped), from /proc/<pid>/task/<tid>/stat. */
async function waitUntilStopped(pid: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const state = (tid: string) => /\) (\S)/.exec(fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8'))?.[1];
  while (Date.now() < deadline) {
    if (fs.readdirSync(`/proc/${pid}/task`).every((tid) => state(tid) === 'T')) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`knotd (pid ${pid}) did not stop within ${timeoutMs} ms`);
}

export async function startKnot(root: string, opts: KnotOptions): Promise<KnotServer> {
  const knotd = knotProgram('knotd');
  if (!knotd) throw new Error('knotd is missing: apt-get install -y --no-install-recommends knot');
  for (const dir of ['run', 'db', 'zones']) fs.mkdirSync(path.join(root, dir), { recursive: true });
  for (const [origin, text] of Object.entries(opts.zones)) {
    if (text !== null) fs.writeFileSync(path.join(root, 'zones', `${origin}.zone`), text);
  }
  const port = await getFreePort();
  const confPath = path.join(root, 'knot.conf');
  fs.writeFileSync(confPath, config(root, port, opts.zones));
  const logPath = path.join(root, 'knotd.log');
  const proc = ManagedProcess.start({ name: 'knotd', command: knotd, args: ['-c', confPath], logPath });
  const server = `127.0.0.1:${port}`;
  const loaded = Object.entries(opts.zones).filter(([, text]) => text !== null).map(([origin]) => origin);
  try {
    await waitUntilAnswering(proc, server, loaded, 10_000);
  } catch (err) {
    await proc.stop(2_000);
    throw err;
  }
  let paused = false;
  return {
    server,
    port,
    pause: async () => {
      if (proc.pid === undefined || paused) return;
      process.kill(proc.pid, 'SIGSTOP');
      paused = true;
      // kill() returns before the signal lands: a worker thread could still answer one more query.
      await waitUntilStopped(proc.pid, 5_000);
    },
    resume: () => {
      if (proc.pid !== undefined && paused) process.kill(proc.pid, 'SIGCONT');
      paused = false;
    },
    setZone: async (origin, text) => {
      const knotc = knotProgram('knotc');
      if (!knotc) throw new Error('knotc is missing (package knot)');
      fs.writeFileSync(path.join(root, 'zones', `${origin}.zone`), text);
      await execFileAsync(knotc, ['-c', confPath, '-b', 'zone-reload', origin]);
    },
    stop: async () => {
      if (paused && proc.pid !== undefined && !proc.hasExited) process.kill(proc.pid, 'SIGCONT');
      paused = false;
      await proc.stop(5_000);
    },
    log: () => (fs.existsSync(logPath) ? fs.readFileSync(logPath, 'utf8') : ''),
  };
}
