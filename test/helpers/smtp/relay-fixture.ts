// Everything a relay test needs: PKI, mounted-Secret dirs in the kubelet layout, a
// capture upstream, and a relay (in-process, or as a real process via dist/cli.js).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { RelayConfig, RelayUpstream } from '../../../src/common/relay-config.js';
import { createLogger } from '../../../src/common/logger.js';
import { RelayRuntime } from '../../../src/relay/relay.js';
import { cliPath, nodeBin } from '../cli.js';
import { startCaptureUpstream, type CaptureUpstream } from './capture-upstream.js';
import { createTestCa, writeAtomicDir, type Leaf, type TestCa } from './certs.js';

export const RELAY_HOST = 'relay.test.example';
export const USER = 'app1';
export const PASSWORD = 'correct horse battery staple';

/** The fixture's config always has today's single `upstream` (tests of `upstreams` replace it). */
export type FixtureConfig = RelayConfig & { upstream: RelayUpstream };

export interface RelayFixture {
  root: string;
  ca: TestCa;
  leaf: Leaf;
  upstream: CaptureUpstream;
  config: FixtureConfig;
  configPath: string;
  dirs: { tls: string; users: string; creds: string; upstreamCa: string };
  rotate(leaf?: Leaf): Leaf;
  cleanup(): Promise<void>;
}

export async function createRelayFixture(patch: (c: FixtureConfig) => void = () => undefined): Promise<RelayFixture> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'relay-e2e-'));
  const ca = createTestCa(path.join(root, 'pki'));
  const leaf = ca.issue('relay', [RELAY_HOST, 'localhost', '127.0.0.1']);
  const upstreamLeaf = ca.issue('upstream', ['localhost', '127.0.0.1']);
  const upstream = await startCaptureUpstream({ key: upstreamLeaf.key, cert: upstreamLeaf.cert, user: 'relay', pass: 'upstream-secret' });
  const dirs = { tls: path.join(root, 'tls'), users: path.join(root, 'users'), creds: path.join(root, 'creds'), upstreamCa: path.join(root, 'upstream-ca') };
  writeAtomicDir(dirs.tls, { 'tls.crt': leaf.cert, 'tls.key': leaf.key });
  writeAtomicDir(dirs.users, { [USER]: `${PASSWORD}\n` });
  writeAtomicDir(dirs.creds, { username: 'relay', password: 'upstream-secret' });
  writeAtomicDir(dirs.upstreamCa, { 'ca.crt': ca.caCert });
  const config: FixtureConfig = {
    hostname: RELAY_HOST,
    listeners: [
      { name: 'submission', port: 0, mode: 'starttls' },
      { name: 'submissions', port: 0, mode: 'implicit' },
      { name: 'relay', port: 0, mode: 'starttls', allowedNetworks: ['127.0.0.0/8'], allowedSenderDomains: ['apps.example'] },
    ],
    tls: { dir: dirs.tls, minVersion: 'TLSv1.2', profile: 'intermediate' },
    usersDir: dirs.users,
    upstream: { host: '127.0.0.1', port: upstream.port, tls: 'starttls', credentialsDir: dirs.creds, caDir: dirs.upstreamCa, servername: 'localhost', poolSize: 4, connectTimeoutMs: 3000, timeoutMs: 5000 },
    policy: { allowedSenderDomains: ['example.com', 'apps.example'], maxMessageBytes: 64 * 1024, maxRecipients: 5 },
    // Every test client is 127.0.0.1, so per-client limits at their product defaults would
    // throttle whole suites as one client; tests of those limits set their own.
    limits: { maxConnections: 100, socketTimeoutMs: 30_000, closeTimeoutMs: 5000, authFailuresPerMinute: 5, maxConnectionsPerClient: 1000, connectionRatePerMinute: 100_000 },
    metricsPort: 0,
  };
  patch(config);
  const configPath = path.join(root, 'relay.json');
  fs.writeFileSync(configPath, JSON.stringify(config, null, 2));
  return {
    root,
    ca,
    leaf,
    upstream,
    config,
    configPath,
    dirs,
    rotate(next = ca.issue('relay', [RELAY_HOST, 'localhost', '127.0.0.1'])) {
      writeAtomicDir(dirs.tls, { 'tls.crt': next.cert, 'tls.key': next.key });
      return next;
    },
    async cleanup() {
      await upstream.close();
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}

export async function startInProcessRelay(fx: RelayFixture, pollMs = 1000): Promise<RelayRuntime> {
  const rt = new RelayRuntime({ config: fx.config, logger: createLogger('relay-test', process.env.RELAY_TEST_LOG ?? 'error'), listenHost: '127.0.0.1', metricsHost: '127.0.0.1', pollMs });
  await rt.start();
  return rt;
}

export interface RelayProcess {
  child: ChildProcess;
  ports: Record<'submission' | 'submissions' | 'relay', number>;
  metricsPort: number;
  logs: () => string;
  exited: Promise<number | null>;
}

/** Runs `node dist/cli.js relay --config ...` and waits for its ready log line. `listenHost` '::' is a dual-stack listener; `nodeArgs` go to node (e.g. --max-old-space-size). */
export async function startRelayProcess(fx: Pick<RelayFixture, 'configPath'>, opts: { listenHost?: string; nodeArgs?: string[] } = {}): Promise<RelayProcess> {
  const child = spawn(nodeBin, [...(opts.nodeArgs ?? []), cliPath, 'relay', '--config', fx.configPath, '--listen-host', opts.listenHost ?? '127.0.0.1', '--metrics-host', '127.0.0.1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const until = Date.now() + 15_000;
  for (;;) {
    const line = out.split('\n').find((l) => l.includes('"relay ready"'));
    if (line) {
      const parsed = JSON.parse(line) as { listeners: RelayProcess['ports']; metricsPort: number };
      return { child, ports: parsed.listeners, metricsPort: parsed.metricsPort, logs: () => out, exited };
    }
    if (child.exitCode !== null || Date.now() > until) throw new Error(`relay process did not become ready:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
