// A private Postfix instance (Debian postfix) as a real upstream: its own config dir,
// queue and maildir under a temp dir, smtpd on a loopback port offering STARTTLS,
// relaying for 127.0.0.0/8, delivering dest.example to one Maildir.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface PostfixUpstream {
  port: number;
  maildir: string;
  /** Delivered messages (raw), in the order Postfix wrote them. */
  delivered(): string[];
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export async function startPostfix(root: string, tls: { cert: string; key: string }): Promise<PostfixUpstream> {
  const dirs = { conf: path.join(root, 'conf'), queue: path.join(root, 'queue'), data: path.join(root, 'data'), mail: path.join(root, 'mail') };
  for (const d of Object.values(dirs)) fs.mkdirSync(d, { recursive: true });
  fs.writeFileSync(path.join(root, 'cert.pem'), tls.cert);
  fs.writeFileSync(path.join(root, 'key.pem'), tls.key, { mode: 0o600 });
  // Postfix runs its daemons as `postfix`; virtual(8) delivers as nobody.
  // The postfix user must be able to reach its dirs (mkdtemp makes the parent 0700).
  fs.chmodSync(path.dirname(root), 0o755);
  fs.chmodSync(root, 0o755);
  await run('chown', ['postfix', dirs.data]);
  await run('chown', ['65534:65534', dirs.mail]);
  const port = await freePort();
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
      'myhostname = upstream.test.example',
      'mydestination =',
      'mynetworks = 127.0.0.0/8',
      `smtpd_tls_cert_file = ${path.join(root, 'cert.pem')}`,
      `smtpd_tls_key_file = ${path.join(root, 'key.pem')}`,
      'smtpd_tls_security_level = may',
      'smtpd_tls_mandatory_protocols = >=TLSv1.2',
      'smtpd_relay_restrictions = permit_mynetworks, reject',
      'virtual_mailbox_domains = dest.example',
      `virtual_mailbox_base = ${dirs.mail}`,
      'virtual_mailbox_maps = static:Maildir/',
      'virtual_uid_maps = static:65534',
      'virtual_gid_maps = static:65534',
      'maillog_file_prefixes = /var, /dev/stdout, /tmp',
      `maillog_file = ${path.join(root, 'maillog')}`,
      '',
    ].join('\n'),
  );
  const master = fs.readFileSync('/etc/postfix/master.cf', 'utf8').replace(/^smtp(\s+)inet/m, `127.0.0.1:${port}$1inet`);
  fs.writeFileSync(path.join(dirs.conf, 'master.cf'), master);
  await run('postfix', ['-c', dirs.conf, 'start']).catch((err: Error & { stderr?: string }) => {
    const log = fs.existsSync(path.join(root, 'maillog')) ? fs.readFileSync(path.join(root, 'maillog'), 'utf8') : '';
    throw new Error(`postfix did not start: ${err.message}\n${log}`);
  });
  // Wait for smtpd to accept connections.
  const until = Date.now() + 10_000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) break;
    if (Date.now() > until) throw new Error('postfix smtpd did not come up');
    await new Promise((r) => setTimeout(r, 100));
  }
  const newDir = path.join(dirs.mail, 'Maildir', 'new');
  return {
    port,
    maildir: newDir,
    delivered: () =>
      fs.existsSync(newDir)
        ? fs
            .readdirSync(newDir)
            .sort()
            .map((f) => fs.readFileSync(path.join(newDir, f), 'utf8'))
        : [],
    stop: async () => {
      await run('postfix', ['-c', dirs.conf, 'stop']).catch(() => undefined);
    },
  };
}
