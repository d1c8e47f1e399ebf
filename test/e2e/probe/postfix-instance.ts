// A private Postfix (Debian's postfix package) for the prober's tests: its own
// config dir, queue and log under a temp dir, several smtpd services on loopback
// ports, each a different real-world configuration.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export type PostfixService = 'submission' | 'submissions' | 'defaults' | 'authBeforeTls';

export interface PostfixInstance {
  ports: Record<PostfixService, number>;
  log(): string;
  stop(): Promise<void>;
}

/** Hardened like a careful admin would: TLS >= 1.2, no static RSA, no SHA-1 MACs, no CCM_8. */
const HARDENED_EXCLUDES = 'aNULL, kRSA, SHA1, AESCCM8';

// Only what smtpd needs; chroot off (column 5 = n) so no chroot jail has to be populated.
const BASE_SERVICES = [
  'pickup unix n - n 60 1 pickup', 'cleanup unix n - n - 0 cleanup', 'qmgr unix n - n 300 1 qmgr', 'tlsmgr unix - - n 1000? 1 tlsmgr',
  'rewrite unix - - n - - trivial-rewrite', 'bounce unix - - n - 0 bounce', 'defer unix - - n - 0 bounce', 'trace unix - - n - 0 bounce',
  'verify unix - - n - 1 verify', 'flush unix n - n 1000? 0 flush', 'proxymap unix - - n - - proxymap', 'proxywrite unix - - n - 1 proxymap',
  'smtp unix - - n - - smtp', 'relay unix - - n - - smtp', 'showq unix n - n - - showq', 'error unix - - n - - error', 'retry unix - - n - - error',
  'discard unix - - n - - discard', 'local unix - n n - - local', 'anvil unix - - n - 1 anvil', 'scache unix - - n - 1 scache',
  'postlog unix-dgram n - n - 1 postlogd',
];

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

export async function startPostfixInstance(tls: { chainPem: string; keyPem: string; hostname: string }): Promise<PostfixInstance> {
  const which = await run('sh', ['-c', 'command -v postfix']).catch(() => undefined);
  if (!which) throw new Error("postfix is not installed: 'apt-get install -y postfix' (Debian) is needed for this test");
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'probe-postfix-'));
  const dirs = { conf: path.join(root, 'conf'), queue: path.join(root, 'queue'), data: path.join(root, 'data'), sasl: path.join(root, 'conf', 'sasl') };
  for (const d of Object.values(dirs)) fs.mkdirSync(d, { recursive: true });
  fs.chmodSync(root, 0o755); // Postfix daemons run as `postfix` and must reach their dirs
  await run('chown', ['postfix', dirs.data]);
  fs.writeFileSync(path.join(root, 'chain.pem'), tls.chainPem);
  fs.writeFileSync(path.join(root, 'key.pem'), tls.keyPem, { mode: 0o600 });
  // Cyrus SASL so smtpd offers AUTH; no user database: every login fails, which is all a probe needs.
  fs.writeFileSync(path.join(dirs.sasl, 'smtpd.conf'), `pwcheck_method: auxprop\nauxprop_plugin: sasldb\nmech_list: PLAIN LOGIN\nsasldb_path: ${root}/sasldb2\n`);
  const logFile = path.join(root, 'maillog');
  const ports: Record<PostfixService, number> = { submission: await freePort(), submissions: await freePort(), defaults: await freePort(), authBeforeTls: await freePort() };
  fs.writeFileSync(
    path.join(dirs.conf, 'main.cf'),
    [
      'compatibility_level = 3.6',
      `queue_directory = ${dirs.queue}`,
      `data_directory = ${dirs.data}`,
      'meta_directory = /etc/postfix',
      'mail_owner = postfix',
      'setgid_group = postdrop',
      'inet_interfaces = 127.0.0.1',
      'inet_protocols = ipv4',
      `myhostname = ${tls.hostname}`,
      'mydestination =',
      'alias_maps =',
      'alias_database =',
      'smtpd_relay_restrictions = permit_sasl_authenticated, reject',
      `smtpd_tls_chain_files = ${path.join(root, 'key.pem')}, ${path.join(root, 'chain.pem')}`,
      'smtpd_tls_security_level = may',
      'smtpd_tls_auth_only = yes',
      'smtpd_tls_protocols = >=TLSv1.2',
      'smtpd_tls_mandatory_protocols = >=TLSv1.2',
      `smtpd_tls_exclude_ciphers = ${HARDENED_EXCLUDES}`,
      'smtpd_sasl_auth_enable = yes',
      'smtpd_sasl_type = cyrus',
      'smtpd_sasl_path = smtpd',
      `cyrus_sasl_config_path = ${dirs.sasl}`,
      'maillog_file_prefixes = /var, /dev/stdout, /tmp',
      `maillog_file = ${logFile}`,
      '',
    ].join('\n'),
  );
  fs.writeFileSync(
    path.join(dirs.conf, 'master.cf'),
    [
      ...BASE_SERVICES,
      `127.0.0.1:${ports.submission} inet n - n - - smtpd`,
      `127.0.0.1:${ports.submissions} inet n - n - - smtpd -o smtpd_tls_wrappermode=yes`,
      // Postfix's own defaults for the cipher list, as most installations run it.
      `127.0.0.1:${ports.defaults} inet n - n - - smtpd -o smtpd_tls_exclude_ciphers=`,
      `127.0.0.1:${ports.authBeforeTls} inet n - n - - smtpd -o smtpd_tls_auth_only=no`,
      '',
    ].join('\n'),
  );
  const log = () => (fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '');
  await run('postfix', ['-c', dirs.conf, 'start']).catch((err: Error) => {
    throw new Error(`postfix did not start: ${err.message}\n${log()}`);
  });
  const until = Date.now() + 15_000;
  for (const port of Object.values(ports)) {
    while (!(await listening(port))) {
      if (Date.now() > until) throw new Error(`postfix smtpd did not listen on ${port}\n${log()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    ports,
    log,
    stop: async () => {
      await run('postfix', ['-c', dirs.conf, 'stop']).catch(() => undefined);
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}
