// A private Postfix instance (Debian postfix) as a real upstream: smtpd on a
// loopback port offering STARTTLS, relaying for 127.0.0.0/8, delivering
// dest.example to one Maildir. Built on the shared core in private-postfix.ts.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { getFreePort } from '../../harness/controlplane.js';
import { startPrivatePostfix } from './private-postfix.js';

const run = promisify(execFile);

export interface PostfixUpstream {
  port: number;
  maildir: string;
  /** Delivered messages (raw), in the order Postfix wrote them. */
  delivered(): string[];
  /** Postfix's maillog so far. */
  log(): string;
  stop(): Promise<void>;
}

export interface PostfixOptions {
  /** Listen here (e.g. to start it again on the port a relay already uses); default a free port. */
  port?: number;
  /** Domains delivered to the Maildir; default dest.example. */
  domains?: string[];
  /**
   * check_recipient_access entries: address -> action, e.g. '550 5.1.1 No such user' or
   * '450 4.2.0 Try again later': per-recipient refusals at RCPT.
   */
  recipientAccess?: Record<string, string>;
}

export async function startPostfix(root: string, tls: { cert: string; key: string }, opts: PostfixOptions = {}): Promise<PostfixUpstream> {
  const mail = path.join(root, 'mail');
  const port = opts.port ?? (await getFreePort());
  const access = path.join(root, 'recipient-access');
  const master = fs.readFileSync('/etc/postfix/master.cf', 'utf8').replace(/^smtp(\s+)inet/m, `127.0.0.1:${port}$1inet`);
  const postfix = await startPrivatePostfix({
    root,
    ports: [port],
    master: [master],
    prepare: async () => {
      fs.writeFileSync(path.join(root, 'cert.pem'), tls.cert);
      fs.writeFileSync(path.join(root, 'key.pem'), tls.key, { mode: 0o600 });
      fs.mkdirSync(mail, { recursive: true });
      fs.writeFileSync(access, Object.entries(opts.recipientAccess ?? {}).map(([a, action]) => `${a} ${action}\n`).join(''));
      await run('chown', ['65534:65534', mail]); // virtual(8) delivers as nobody
    },
    main: [
      'myhostname = upstream.test.example',
      'mydestination =',
      'mynetworks = 127.0.0.0/8',
      `smtpd_tls_cert_file = ${path.join(root, 'cert.pem')}`,
      `smtpd_tls_key_file = ${path.join(root, 'key.pem')}`,
      'smtpd_tls_security_level = may',
      'smtpd_tls_mandatory_protocols = >=TLSv1.2',
      // texthash: read as is, no postmap needed.
      `smtpd_relay_restrictions = check_recipient_access texthash:${access}, permit_mynetworks, reject`,
      `virtual_mailbox_domains = ${(opts.domains ?? ['dest.example']).join(', ')}`,
      `virtual_mailbox_base = ${mail}`,
      'virtual_mailbox_maps = static:Maildir/',
      'virtual_uid_maps = static:65534',
      'virtual_gid_maps = static:65534',
    ],
  });
  const newDir = path.join(mail, 'Maildir', 'new');
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
    log: postfix.log,
    stop: postfix.stop,
  };
}
