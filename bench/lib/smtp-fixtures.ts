// Processes for the relay benches: the sink upstream, our relay (dist/cli.js relay), and a
// private Postfix 3.7 configured like the relay (submission with STARTTLS + SASL from a
// Cyrus sasldb, relaying to the same upstream with STARTTLS + AUTH and reused connections).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { RelayConfig } from '../../src/common/relay-config.js';
import { repoRoot } from '../../test/helpers/cli.js';
import { createTestCa, writeAtomicDir, type Leaf, type TestCa } from '../../test/helpers/smtp/certs.js';
import { getFreePort } from '../../test/harness/controlplane.js';
import { startPrivatePostfix } from '../../test/helpers/smtp/private-postfix.js';
import { startRelayProcess, type RelayFixture, type RelayProcess } from '../../test/helpers/smtp/relay-fixture.js';
import { cpuSeconds } from './proc.js';

export const RELAY_HOST = 'relay.bench.test';
export const SUBMIT_USER = 'app1';
export const SUBMIT_PASS = 'correct horse battery staple';
const UPSTREAM_USER = 'relay';
const UPSTREAM_PASS = 'upstream-secret';

export interface Pki {
  root: string;
  ca: TestCa;
  relayLeaf: Leaf;
  upstreamLeaf: Leaf;
}

export function createPki(): Pki {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-smtp-'));
  fs.chmodSync(root, 0o755); // Postfix daemons run as postfix and must reach their files
  const ca = createTestCa(path.join(root, 'pki'));
  return { root, ca, relayLeaf: ca.issue('relay', [RELAY_HOST, 'localhost', '127.0.0.1']), upstreamLeaf: ca.issue('upstream', ['localhost', '127.0.0.1']) };
}

export interface Sink {
  port: number;
  pid: number;
  count(): Promise<number>;
  stop(): void;
}

export async function startSink(pki: Pki): Promise<Sink> {
  const dir = path.join(pki.root, 'sink');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'cert.pem'), pki.upstreamLeaf.cert);
  fs.writeFileSync(path.join(dir, 'key.pem'), pki.upstreamLeaf.key);
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'bench', 'lib', 'sink-main.ts'), path.join(dir, 'cert.pem'), path.join(dir, 'key.pem'), UPSTREAM_USER, UPSTREAM_PASS], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /SINK_READY (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`sink exited (${code})`)));
  });
  return {
    port,
    pid: child.pid!,
    count: () =>
      new Promise<number>((resolve) => {
        child.once('message', (m: { count: number }) => resolve(m.count));
        child.send({ get: 'count' });
      }),
    stop: () => {
      child.kill('SIGTERM');
    },
  };
}

export interface Relay {
  proc: RelayProcess;
  pid: number;
  metricsPort: number;
  submissionPort: number;
  submissionsPort: number;
  tlsDir: string;
  cpu(): number;
  stop(): Promise<void>;
}

/** Our relay as a real process; plaintext password files (as Postfix's sasldb) so AUTH costs the same. */
export interface OurRelayOptions {
  /** Durable mode: the queue directory (relay.json `queue`); absent = pass-through. */
  queueDir?: string;
  /** Overrides of relay.json `limits` (e.g. a longer socketTimeoutMs for idle sessions). */
  limits?: Partial<RelayConfig['limits']>;
  /** --listen-host; default 127.0.0.1. */
  listenHost?: string;
}

export async function startOurRelay(pki: Pki, sinkPort: number, poolSize: number, name = 'relay', opts: OurRelayOptions = {}): Promise<Relay> {
  const root = path.join(pki.root, `${name}-${Date.now()}`);
  const dirs = { tls: path.join(root, 'tls'), users: path.join(root, 'users'), creds: path.join(root, 'creds'), upstreamCa: path.join(root, 'upstream-ca') };
  writeAtomicDir(dirs.tls, { 'tls.crt': pki.relayLeaf.cert, 'tls.key': pki.relayLeaf.key });
  writeAtomicDir(dirs.users, { [SUBMIT_USER]: `${SUBMIT_PASS}\n` });
  writeAtomicDir(dirs.creds, { username: UPSTREAM_USER, password: UPSTREAM_PASS });
  writeAtomicDir(dirs.upstreamCa, { 'ca.crt': pki.ca.caCert });
  const config: RelayConfig = {
    hostname: RELAY_HOST,
    listeners: [
      { name: 'submission', port: 0, mode: 'starttls' },
      { name: 'submissions', port: 0, mode: 'implicit' },
    ],
    tls: { dir: dirs.tls, minVersion: 'TLSv1.2', profile: 'intermediate' },
    usersDir: dirs.users,
    upstream: { host: '127.0.0.1', port: sinkPort, tls: 'starttls', credentialsDir: dirs.creds, caDir: dirs.upstreamCa, servername: 'localhost', poolSize, connectTimeoutMs: 5000, timeoutMs: 30_000 },
    policy: { allowedSenderDomains: ['example.com'], maxMessageBytes: 1024 * 1024, maxRecipients: 5 },
    // All bench load is one user from 127.0.0.1: per-client and per-user limits off, or the bench measures the limiter.
    limits: { maxConnections: 500, socketTimeoutMs: 60_000, closeTimeoutMs: 5000, authFailuresPerMinute: 5, maxConnectionsPerClient: 1000, connectionRatePerMinute: 1_000_000, upstreamPerUserConcurrency: poolSize, ...opts.limits },
    metricsPort: 0,
  };
  // Postfix's defaults for the retry schedule; a short max age is not what we measure.
  if (opts.queueDir) config.queue = { dir: opts.queueDir, maxAgeMs: 5 * 24 * 3600_000, minBackoffMs: 300_000, maxBackoffMs: 4_000_000 };
  const configPath = path.join(root, 'relay.json');
  fs.writeFileSync(configPath, JSON.stringify(config, null, 2));
  const proc = await startRelayProcess({ configPath } as RelayFixture, opts.listenHost ? { listenHost: opts.listenHost } : {});
  proc.child.stdout?.removeAllListeners('data');
  proc.child.stdout?.resume();
  const pid = proc.child.pid!;
  return {
    proc,
    pid,
    metricsPort: proc.metricsPort,
    submissionPort: proc.ports.submission,
    submissionsPort: proc.ports.submissions,
    tlsDir: dirs.tls,
    cpu: () => cpuSeconds(pid),
    async stop() {
      proc.child.kill('SIGTERM');
      const t = setTimeout(() => proc.child.kill('SIGKILL'), 5000);
      await proc.exited;
      clearTimeout(t);
    },
  };
}

export interface Postfix {
  port: number;
  masterPid: number;
  /** CPU seconds of the master, its live daemons and the daemons it already reaped. */
  cpu(): number;
  stop(): Promise<void>;
}

function childrenOf(ppid: number): number[] {
  const out: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppidField = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppidField === ppid) out.push(Number(e));
    } catch {
      // gone
    }
  }
  return out;
}

/**
 * A private Postfix: own config, queue and data dirs; smtpd on a loopback port with
 * STARTTLS required before AUTH (Cyrus SASL, sasldb), relaying everything to the sink
 * with STARTTLS + AUTH; TLS connection reuse to the sink (tlsproxy) like our relay's pool.
 */
export async function startPostfix(pki: Pki, sinkPort: number, concurrency: number): Promise<Postfix> {
  const root = path.join(pki.root, `postfix-${Date.now()}`);
  fs.mkdirSync(root, { recursive: true });
  const port = await getFreePort();
  // Debian's master.cf without chroot (our dirs are outside any chroot), smtpd on our port.
  const master = fs
    .readFileSync('/etc/postfix/master.cf', 'utf8')
    .split('\n')
    .map((line) => {
      if (/^\s|^#|^$/.test(line)) return line;
      const f = line.split(/\s+/);
      if (f.length < 8) return line;
      f[4] = 'n';
      if (f[0] === 'smtp' && f[1] === 'inet') f[0] = `127.0.0.1:${port}`;
      return f.join(' ');
    })
    .join('\n');
  // smtp_tls_connection_reuse needs tlsproxy, which Debian's master.cf leaves commented out.
  const withTlsproxy = /^tlsproxy\s/m.test(master) ? master : `${master}\ntlsproxy unix - - n - 0 tlsproxy`;
  const sasl = path.join(root, 'sasl');
  const postfix = await startPrivatePostfix({
    root,
    ports: [port],
    master: [withTlsproxy],
    prepare: (d) => {
      fs.writeFileSync(path.join(root, 'cert.pem'), pki.relayLeaf.cert);
      fs.writeFileSync(path.join(root, 'key.pem'), pki.relayLeaf.key, { mode: 0o600 });
      fs.writeFileSync(path.join(root, 'ca.pem'), pki.ca.caCert);
      // Cyrus SASL: the user in a private sasldb, readable by the postfix user.
      fs.mkdirSync(sasl, { recursive: true });
      const sasldb = path.join(sasl, 'sasldb2');
      execFileSync('saslpasswd2', ['-p', '-c', '-f', sasldb, '-u', RELAY_HOST, SUBMIT_USER], { input: SUBMIT_PASS });
      execFileSync('chown', ['-R', 'postfix', sasl]);
      // Debian's Postfix reads the Cyrus application config from $config_directory/sasl/smtpd.conf.
      fs.mkdirSync(path.join(d.conf, 'sasl'), { recursive: true });
      fs.writeFileSync(path.join(d.conf, 'sasl', 'smtpd.conf'), `pwcheck_method: auxprop\nauxprop_plugin: sasldb\nsasldb_path: ${sasldb}\nmech_list: PLAIN LOGIN\n`);
    },
    main: (d) => [
      `myhostname = ${RELAY_HOST}`,
      'mydestination =',
      'mynetworks = 127.0.0.1/32',
      'local_recipient_maps =',
      `relayhost = [127.0.0.1]:${sinkPort}`,
      // Submission: TLS before AUTH, AUTH before relaying.
      `smtpd_tls_cert_file = ${path.join(root, 'cert.pem')}`,
      `smtpd_tls_key_file = ${path.join(root, 'key.pem')}`,
      'smtpd_tls_security_level = encrypt',
      'smtpd_tls_auth_only = yes',
      'smtpd_tls_mandatory_protocols = >=TLSv1.2',
      'smtpd_tls_protocols = >=TLSv1.2',
      `smtpd_tls_session_cache_database = btree:${d.data}/smtpd_scache`,
      'smtpd_sasl_auth_enable = yes',
      'smtpd_sasl_type = cyrus',
      'smtpd_sasl_path = smtpd',
      `smtpd_sasl_local_domain = ${RELAY_HOST}`,
      'smtpd_relay_restrictions = permit_sasl_authenticated, reject',
      'smtpd_recipient_restrictions = permit_sasl_authenticated, reject',
      'smtpd_client_connection_count_limit = 0',
      'smtpd_client_connection_rate_limit = 0',
      'smtpd_client_message_rate_limit = 0',
      'smtpd_client_new_tls_session_rate_limit = 0',
      'smtpd_client_auth_rate_limit = 0',
      'smtpd_peername_lookup = no',
      'default_process_limit = 200',
      // To the sink: STARTTLS + AUTH, verified against our CA, connections reused.
      'smtp_tls_security_level = encrypt',
      `smtp_tls_CAfile = ${path.join(root, 'ca.pem')}`,
      'smtp_tls_connection_reuse = yes',
      `smtp_tls_session_cache_database = btree:${d.data}/smtp_scache`,
      'smtp_sasl_auth_enable = yes',
      `smtp_sasl_password_maps = static:${UPSTREAM_USER}:${UPSTREAM_PASS}`,
      'smtp_sasl_security_options = noanonymous',
      'smtp_sasl_tls_security_options = noanonymous',
      `default_destination_concurrency_limit = ${concurrency}`,
      `initial_destination_concurrency = ${concurrency}`,
      'smtp_connection_cache_on_demand = yes',
    ],
  });
  const masterPid = postfix.masterPid;
  return {
    port,
    masterPid,
    cpu() {
      let total = cpuSeconds(masterPid, true);
      for (const pid of childrenOf(masterPid)) {
        try {
          total += cpuSeconds(pid);
        } catch {
          // exited meanwhile; its time lands in the master's cutime
        }
      }
      return total;
    },
    stop: postfix.stop,
  };
}
